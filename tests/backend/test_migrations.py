"""The Alembic migrations build exactly the schema the ORM declares, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from trevor_backend import db
from trevor_backend.orm import Base


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
