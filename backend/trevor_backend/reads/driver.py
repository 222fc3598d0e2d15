"""Drivers of the lean read path: the database's own client, without SQLAlchemy.

* SQLite: one sqlite3 connection per process (``PRAGMA query_only``), used synchronously on
  the event loop. A read is ``BEGIN`` … ``COMMIT``: deferred, so in WAL mode it reads a
  snapshot and never waits for the writer. Its statements run without an await between them
  (``fetch`` is a coroutine that never suspends), so no other read interleaves on the one
  connection; a nested read is refused rather than silently sharing a transaction.
* PostgreSQL: asyncpg connections in a pool of its own (``pgpool``: no pre-ping per
  checkout, no reset query per release: it only ever runs SELECTs in autocommit; asyncpg
  prepares and caches each text).
  Statements of one read see the database as of their own start, as the ORM path's READ
  COMMITTED transactions do.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url

from .pgpool import Connections

Row = Sequence[Any]
Listener = Callable[[str], None]


class Reader:
    """One read: statements in one snapshot (SQLite) or on one connection (PostgreSQL)."""

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        raise NotImplementedError

    async def __aenter__(self) -> Reader:
        return self

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class ReadDriver:
    """Opens reads on the backend's database; closed with the backend."""

    dialect = ""

    def __init__(self) -> None:
        #: called with each statement's text before it runs (tests count statements)
        self.listeners: list[Listener] = []

    def reading(self) -> Reader:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class _SqliteReader(Reader):
    def __init__(self, driver: SqliteReads) -> None:
        self.driver = driver
        self.conn = driver.connection()

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        for listener in self.driver.listeners:
            listener(sql)
        return self.conn.execute(sql, args).fetchall()

    async def __aenter__(self) -> Reader:
        if self.conn.in_transaction:
            raise RuntimeError("a lean read is already open on this connection (reads do not nest)")
        self.conn.execute("BEGIN")
        return self

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Nothing was written: COMMIT only ends the snapshot (and lets the WAL checkpoint).
        self.conn.execute("COMMIT")


class SqliteReads(ReadDriver):
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def connection(self) -> sqlite3.Connection:
        if self._closed:
            # A read still running at shutdown must not open a connection nobody will close
            # (the PostgreSQL pool refuses the same way).
            raise RuntimeError("the lean read connection is closed")
        if self._conn is None:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
                timeout=30,
            )
            conn.execute("PRAGMA query_only=ON")
            self._conn = conn
        return self._conn

    def reading(self) -> Reader:
        return _SqliteReader(self)

    async def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _PostgresReader(Reader):
    def __init__(self, driver: PostgresReads) -> None:
        self.driver = driver
        self.conn: Any = None

    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        for listener in self.driver.listeners:
            listener(sql)
        rows: list[Row] = await self.conn.fetch(sql, *args)
        return rows

    async def __aenter__(self) -> Reader:
        self.conn = await self.driver.connections.acquire()
        return self

    async def __aexit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.driver.connections.release(
            self.conn,
            failed=exc is not None,
            cancelled=isinstance(exc, asyncio.CancelledError),
        )


#: Session settings of the lean pool's connections, over any the URL gives: ``sql.stamp``
#: reads timestamps as PostgreSQL's text output, which follows the session's time zone and
#: date style.
SESSION = {"timezone": "UTC", "datestyle": "ISO"}


class PostgresReads(ReadDriver):
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int) -> None:
        super().__init__()
        self._connect = connect_options(url)
        self._connect["server_settings"] = {**self._connect.get("server_settings", {}), **SESSION}
        self.connections = Connections(self._open, pool_size)

    async def _open(self) -> asyncpg.Connection:
        return await asyncpg.connect(**self._connect)

    def reading(self) -> Reader:
        return _PostgresReader(self)

    async def close(self) -> None:
        await self.connections.close()


#: Options SQLAlchemy's asyncpg adapter takes for itself; asyncpg.connect knows none of them.
_ADAPTER_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


def connect_options(url: str) -> dict[str, Any]:
    """asyncpg.connect's arguments for ``url``, read by SQLAlchemy's own asyncpg dialect, so
    the lean pool connects exactly as the engine does: the URL's query (``ssl=require``,
    ``host=/socket/dir``, ``server_settings``, …) included, not only host, port and user."""
    parsed = make_url(url).set(drivername="postgresql+asyncpg")
    dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
    _args, options = dialect.create_connect_args(parsed)  # type: ignore[no-untyped-call]
    for key in _ADAPTER_ONLY:
        options.pop(key, None)
    return dict(options)


def make_reads(url: str, *, pool_size: int = 10) -> ReadDriver | None:
    """The driver for the database at ``url`` (a plain or async SQLAlchemy URL), or None
    where there is no lean path: an in-memory SQLite database (or a shared-cache one) lives
    only in the engine's own connections, so those keep the ORM path."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        if parsed.query.get("mode") == "memory" or "cache" in parsed.query:
            return None
        return SqliteReads(database)
    if backend == "postgresql":
        return PostgresReads(url, pool_size)
    return None
