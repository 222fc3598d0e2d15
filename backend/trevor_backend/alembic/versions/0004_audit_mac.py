"""keyed audit chain: each event's key id and HMAC over its chain hash

Revision ID: 0004_audit_mac
Revises: 0003_rate_buckets
Create Date: 2026-11-30 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_audit_mac"
down_revision = "0003_rate_buckets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: events written before the chain was keyed have neither (verify reports them
    # as unkeyed, and refuses an unkeyed event after a keyed one).
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("mac", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("mac")
        batch.drop_column("key_id")
