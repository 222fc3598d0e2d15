"""indexes for the keyset orders of the request list and the review queue

Revision ID: 0005_keyset_indexes
Revises: 0004_audit_mac
Create Date: 2026-11-30 13:50:00

A project's newest-first page walks (project_id, created_at, id) in order and stops after
limit + 1 rows; the queue walks (status, submitted_at, id) the same way. Without them a page
sorted every request of the project, so its cost grew with the project.
"""

from __future__ import annotations

from alembic import op

revision = "0005_keyset_indexes"
down_revision = "0004_audit_mac"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_requests_project_created", "requests", ["project_id", "created_at", "id"])
    op.create_index("ix_requests_status_submitted", "requests", ["status", "submitted_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_requests_status_submitted", table_name="requests")
    op.drop_index("ix_requests_project_created", table_name="requests")
