"""The Alembic migrations build exactly the schema the ORM declares, on every database, and
migration 0006 backfills the metrics milestones from the audit log."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection

from tests.backend.admin_world import (
    assert_summary_matches,
    build_world,
    expected_metrics,
    raw_events,
)
from tests.fixtures.backend import LiveBackend
from trevor_backend import db
from trevor_backend.orm import AirlockRequest, Base, RequestRound, Review


def _diff(conn: Connection) -> list[object]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(ctx, Base.metadata)


async def test_migrations_match_the_orm(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        assert await db.current_revision(engine) is None
        await db.upgrade(engine)
        assert await db.current_revision(engine) == db.head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
        # Running again is a no-op, as a deployment step that repeats must be.
        await db.upgrade(engine)
        assert await db.current_revision(engine) == db.head_revision()
    finally:
        await engine.dispose()


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = db.alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


async def _milestones(live: LiveBackend) -> tuple[list[Any], list[Any], list[Any]]:
    r, rr, rv = AirlockRequest, RequestRound, Review
    async with live.backend.ctx.sessions() as session:
        requests = (
            await session.execute(
                select(
                    r.id,
                    r.first_submitted_at,
                    r.first_reviewed_at,
                    r.first_decided_at,
                    r.released_at,
                ).order_by(r.id)
            )
        ).all()
        rounds = (
            await session.execute(
                select(
                    rr.request_id,
                    rr.revision,
                    rr.agent_recommendation,
                    rr.decision,
                    rr.decided_at,
                ).order_by(rr.request_id, rr.revision)
            )
        ).all()
        firsts = (
            await session.execute(
                select(rv.request_id, rv.revision, rv.reviewer_id, rv.first_by_reviewer)
                .where(rv.reviewer_id.is_not(None))
                .order_by(rv.request_id, rv.revision, rv.reviewer_id)
            )
        ).all()
    return (
        [tuple(row) for row in requests],
        [tuple(row) for row in rounds],
        [tuple(row) for row in firsts],
    )


async def test_milestone_backfill_equals_what_the_state_machine_keeps(live: LiveBackend) -> None:
    """Migration 0006 rebuilds, from the audit log alone, exactly the milestones the
    transitions kept while the history was made; and the summary then still equals the
    independent computation from the raw events."""
    world = await build_world(live)
    kept = await _milestones(live)
    requests, rounds, firsts = kept
    by_id = {row[0]: row for row in requests}
    assert all(by_id[world.released][1:])  # submitted, reviewed, decided and released
    assert by_id[world.draft][1:] == (None, None, None, None)
    assert {(row[0], row[1]) for row in rounds} >= {(world.revised, 1), (world.revised, 2)}
    assert {row[3] for row in rounds} == {"approved", "changes_requested", "rejected", None}
    assert all(row[2] in ("pass", "review", "fail") for row in rounds)
    # carol reviewed the revised request twice: only her first review of it is flagged.
    revised = [row[3] for row in firsts if row[0] == world.revised]
    assert revised.count(True) == 2 and revised.count(False) == 2  # carol and dave, twice

    engine = live.backend.ctx.engine
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, "0005_keyset_indexes")
    await engine.dispose()  # no statement prepared against the old schema survives
    await db.upgrade(engine)
    await engine.dispose()
    assert await _milestones(live) == kept

    summary = (await live.client("root").get("/api/v1/metrics/summary")).json
    assert_summary_matches(summary, expected_metrics(await raw_events(live)))
