"""release and ingress: stuck-request alerts, ingress upload slots

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table: SQLite cannot ALTER most things in place; Alembic copies the table.
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stuck_alerted_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "ingress_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=1024), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finalized_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_ingress_uploads_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["requests.id"], name=op.f("fk_ingress_uploads_request_id_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingress_uploads")),
    )
    with op.batch_alter_table("ingress_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingress_uploads_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ingress_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingress_uploads_request_id"))
    op.drop_table("ingress_uploads")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("stuck_alerted_at")
