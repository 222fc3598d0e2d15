"""metrics milestones: per-request times and per-revision agent recommendation and decision

Revision ID: 0006_request_milestones
Revises: 0005_keyset_indexes
Create Date: 2026-11-30 16:30:00

The metrics summary read every request's events from the audit log (7.5 s over 100,000
requests). From here the state machine keeps the milestones as it writes the events
(services/transitions.py); this migration fills them in from the audit log for the requests
that already exist, with the same definitions: the first ``request.submitted``, the first
``review.submitted``, the first decision, the first ``release.created`` / ``ingress.delivered``;
per revision the agent's recommendation and the decision; on each human review whether it
is the checker's first of that request (with an index for the per-checker load).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_request_milestones"
down_revision = "0005_keyset_indexes"
branch_labels = None
depends_on = None

MILESTONES = ("first_submitted_at", "first_reviewed_at", "first_decided_at", "released_at")
FIRST = {
    "request.submitted": "first_submitted_at",
    "review.submitted": "first_reviewed_at",
    "request.approved": "first_decided_at",
    "request.changes_requested": "first_decided_at",
    "request.rejected": "first_decided_at",
    "release.created": "released_at",
    "ingress.delivered": "released_at",
}
DECISIONS = {
    "request.approved": "approved",
    "request.changes_requested": "changes_requested",
    "request.rejected": "rejected",
}
AGENT = "request.agent_review_completed"
BATCH = 5000

events = sa.table(
    "audit_events",
    sa.column("seq", sa.BigInteger),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("type", sa.String),
    sa.column("request_id", sa.String),
    sa.column("payload", sa.JSON),
)
requests = sa.table(
    "requests",
    sa.column("id", sa.String),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in MILESTONES),
)
rounds = sa.table(
    "request_rounds",
    sa.column("request_id", sa.String),
    sa.column("revision", sa.Integer),
    sa.column("agent_recommendation", sa.String),
    sa.column("decision", sa.String),
    sa.column("decided_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        for name in MILESTONES:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "request_rounds",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("revision", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("agent_recommendation", sa.String(length=16), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_request_rounds_request_id_requests"),
        ),
        sa.PrimaryKeyConstraint("request_id", "revision", name=op.f("pk_request_rounds")),
    )
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("first_by_reviewer", sa.Boolean(), nullable=True))
    op.create_index("ix_reviews_reviewer_first", "reviews", ["reviewer_id", "first_by_reviewer"])
    backfill(op.get_bind())


def backfill(conn: sa.Connection) -> None:
    """One pass over the request events that matter, oldest first (so "first" is the first
    seen and a later event of a revision overrides an earlier one, as in the summary)."""
    firsts: dict[str, dict[str, datetime]] = {}
    per_round: dict[tuple[str, int], dict[str, Any]] = {}
    stmt = (
        sa.select(events.c.request_id, events.c.type, events.c.created_at, events.c.payload)
        .where(
            events.c.type.in_([*FIRST, AGENT]),
            events.c.request_id.in_(sa.select(requests.c.id)),
        )
        .order_by(events.c.seq)
    )
    # A server-side cursor for this statement only (on the connection it would outlive it).
    for rid, type_, at, payload in conn.execute(stmt.execution_options(yield_per=BATCH)):
        column = FIRST.get(type_)
        if column is not None:
            firsts.setdefault(rid, {}).setdefault(column, at)
        if type_ == AGENT:
            key = (rid, int(payload["revision"]))
            per_round.setdefault(key, {})["agent_recommendation"] = payload.get("recommendation")
        elif type_ in DECISIONS:
            key = (rid, int(payload["revision"]))
            per_round.setdefault(key, {}).update(decision=DECISIONS[type_], decided_at=at)
    updates = [
        {"rid": rid, **{name: times.get(name) for name in MILESTONES}}
        for rid, times in firsts.items()
    ]
    set_ = {name: sa.bindparam(name) for name in MILESTONES}
    update = requests.update().where(requests.c.id == sa.bindparam("rid")).values(set_)
    for i in range(0, len(updates), BATCH):
        conn.execute(update, updates[i : i + BATCH])
    rows = [
        {
            "request_id": rid,
            "revision": rev,
            "agent_recommendation": r.get("agent_recommendation"),
            "decision": r.get("decision"),
            "decided_at": r.get("decided_at"),
        }
        for (rid, rev), r in per_round.items()
    ]
    for i in range(0, len(rows), BATCH):
        conn.execute(rounds.insert(), rows[i : i + BATCH])
    # Each checker's first review of a request (its lowest revision: one review per reviewer
    # per revision). A join with the grouped reviews (UPDATE ... FROM: PostgreSQL, SQLite
    # 3.33+), not a correlated subquery, which a planner may run once per row.
    conn.execute(
        sa.text(
            "UPDATE reviews SET first_by_reviewer = (reviews.revision = firsts.revision) "
            "FROM (SELECT request_id, reviewer_id, min(revision) AS revision FROM reviews "
            "WHERE reviewer_id IS NOT NULL GROUP BY request_id, reviewer_id) AS firsts "
            "WHERE reviews.request_id = firsts.request_id "
            "AND reviews.reviewer_id = firsts.reviewer_id"
        )
    )


def downgrade() -> None:
    op.drop_index("ix_reviews_reviewer_first", table_name="reviews")
    op.drop_column("reviews", "first_by_reviewer")
    op.drop_table("request_rounds")
    # Not batch mode: on SQLite that copies the table and drops the original, which the
    # foreign keys into requests refuse; SQLite (3.35 and later) drops a column in place.
    for name in reversed(MILESTONES):
        op.drop_column("requests", name)
