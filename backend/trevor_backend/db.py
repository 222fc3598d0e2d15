"""Database engine, sessions and migrations.

SQLite is the embedded default; PostgreSQL is the production database. Both run the same
Alembic migrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

ALEMBIC_DIR = Path(__file__).parent / "alembic"


def async_url(url: str) -> URL:
    """Pick the async driver for a plain database URL (``sqlite:///…``, ``postgresql://…``)."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = async_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        database = parsed.database or ":memory:"

        async def connect() -> LoopReadConnection:
            conn = LoopReadConnection(
                functools.partial(sqlite3.connect, database, timeout=30, check_same_thread=False),
                64,
            )
            conn._thread.daemon = True
            await conn  # starts the connection's thread and opens the database
            return conn

        engine = create_async_engine(parsed, async_creator=connect, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(parsed, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling defers BEGIN and so lets two writers read the same
    # audit-chain head; we issue BEGIN IMMEDIATE ourselves so write transactions serialise.
    # This is SQLAlchemy's documented recipe for aiosqlite.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed upload or transition survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Readers begin DEFERRED: in WAL mode they read a snapshot and never wait for (or
        # block) the single writer, so many concurrent GETs cannot end in "database is locked".
        options = conn.get_execution_options()
        driver = conn.connection.driver_connection
        if isinstance(driver, LoopReadConnection):
            driver.on_loop = bool(options.get(READ_ONLY) and options.get(ON_LOOP))
        if options.get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class LoopReadConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs a request's small reads on the event loop.

    aiosqlite hands every call (cursor, execute, fetch, close, BEGIN, rollback) to the
    connection's thread and back: about 25 GIL hand-offs for one API read, which profiling
    showed cost far more than the reads themselves (an indexed page read takes well under a
    millisecond of SQLite time). In a DEFERRED transaction on a WAL database a reader never
    waits for the writer, so a request's reads (``Sessions.shared_reads``) run inline; writes
    (``BEGIN IMMEDIATE`` may wait for the write lock) and other reads, which may scan large
    tables, keep the thread."""

    on_loop = False
    # Calls handed to the thread and calls it finished: each counter is written by one thread
    # only. Inline calls wait until the thread is idle (a cancelled await leaves its call
    # running there), so the sqlite3 connection is never used by two threads at once.
    _sent = 0
    _done = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if self.on_loop and self._sent == self._done and self._connection is not None:
            return fn(*args, **kwargs)
        self._sent += 1
        # aiosqlite's private _execute carries no annotations.
        return await super()._execute(self._counted, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _counted(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            self._done += 1


#: Execution option that marks a connection as a reader (SQLite: a DEFERRED transaction).
READ_ONLY = "trevor_read_only"
#: Execution option for a request's own reads: on SQLite they run on the event loop.
ON_LOOP = "trevor_on_loop"


#: The read session a request shares (see :meth:`Sessions.shared_reads`) and the task that
#: owns it: tasks started from the request inherit the variable but must not use the session
#: (an AsyncSession is not safe for concurrent use, and it closes with the request).
_shared_read: ContextVar[tuple[asyncio.Task[Any] | None, AsyncSession] | None] = ContextVar(
    "trevor_shared_read", default=None
)


class _Borrowed:
    """``async with`` on a session that someone else opened and will close."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def __aenter__(self) -> AsyncSession:
        return self.session

    async def __aexit__(self, *_exc: object) -> None:
        return None


class Sessions(async_sessionmaker[AsyncSession]):
    """``sessions()`` opens a read session; ``sessions.begin()`` a write transaction.

    The codebase's convention (docs/developers.md) is that every change goes through
    ``sessions.begin()``, so reads get SQLite's DEFERRED transaction and only writers take the
    write lock with ``BEGIN IMMEDIATE``. On PostgreSQL both are ordinary transactions.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine, expire_on_commit=False)
        self._read_bind = engine.execution_options(**{READ_ONLY: True})
        self._loop_bind = engine.execution_options(**{READ_ONLY: True, ON_LOOP: True})

    def __call__(self, **kw: Any) -> Any:
        shared = _shared_read.get()
        if shared is not None and not kw and shared[0] is asyncio.current_task():
            return _Borrowed(shared[1])
        kw.setdefault("bind", self._read_bind)
        return super().__call__(**kw)

    @contextlib.asynccontextmanager
    async def shared_reads(self) -> AsyncIterator[None]:
        """Inside this block every ``sessions()`` of the current task is one read session.

        Opening a session (pool checkout, BEGIN, the rollback on close) costs as much as two
        small queries, and a GET used to open one to authenticate and another to read. Reads
        in the block see one snapshot. A write (``begin()``) ends the sharing for the rest of
        the task, so what is read after a write always sees it."""
        async with super().__call__(bind=self._loop_bind) as session:
            token = _shared_read.set((asyncio.current_task(), session))
            try:
                yield
            finally:
                with contextlib.suppress(ValueError):  # reset in another context
                    _shared_read.reset(token)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        _shared_read.set(None)
        async with super().__call__() as session, session.begin():
            yield session


def session_factory(engine: AsyncEngine) -> Sessions:
    return Sessions(engine)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run migrations on ``engine`` up to ``revision``."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
