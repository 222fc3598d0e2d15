"""The lean read path's PostgreSQL pool (``reads/pgpool.py``): at most ``size`` connections,
waiters served in order, a connection whose use failed closed rather than reused, one whose
statement was cancelled kept once it answers again, and no place lost when opening a
connection fails, a waiter is cancelled or a cancelled connection does not settle. The
connections here are fakes (the pool's bookkeeping); the last test runs the pool on
PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from trevor_backend.reads import PostgresReads
from trevor_backend.reads.pgpool import SETTLE_TIMEOUT, Connections


class FakeConnection:
    def __init__(self, n: int) -> None:
        self.n = n
        self.terminated = False
        self.settles = 0
        self.settle: asyncio.Future[None] | None = None

    async def fetchval(self, sql: str, **options: float) -> int:
        assert sql == "SELECT 1" and options == {"timeout": SETTLE_TIMEOUT}
        self.settles += 1
        if self.settle is not None:
            await self.settle
        return 1

    def is_closed(self) -> bool:
        return self.terminated

    def terminate(self) -> None:
        self.terminated = True

    async def close(self) -> None:
        self.terminated = True


class Opener:
    def __init__(self) -> None:
        self.count = 0
        self.fail_next = False

    async def __call__(self) -> FakeConnection:
        await asyncio.sleep(0)
        if self.fail_next:
            self.fail_next = False
            raise OSError("connection refused")
        self.count += 1
        return FakeConnection(self.count)


async def test_connections_are_reused_and_bounded() -> None:
    opener = Opener()
    pool = Connections(opener, 2)
    a, b = await pool.acquire(), await pool.acquire()
    third = asyncio.ensure_future(pool.acquire())
    fourth = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.01)
    assert not third.done() and opener.count == 2
    pool.release(a)
    assert await third is a  # handed straight to the first waiter
    pool.release(b)
    assert await fourth is b
    assert opener.count == 2 and pool.opened == 2


async def test_a_failed_use_closes_the_connection_and_frees_its_place() -> None:
    opener = Opener()
    pool = Connections(opener, 1)
    a = await pool.acquire()
    waiter = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.01)
    pool.release(a, failed=True)
    b = await waiter
    assert a.terminated and b is not a and opener.count == 2 and pool.opened == 1


async def test_a_failed_open_and_a_cancelled_waiter_lose_no_place() -> None:
    opener = Opener()
    pool = Connections(opener, 1)
    opener.fail_next = True
    with pytest.raises(OSError):
        await pool.acquire()
    assert pool.opened == 0
    a = await pool.acquire()
    cancelled = asyncio.ensure_future(pool.acquire())
    waiting = asyncio.ensure_future(pool.acquire())
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.sleep(0)
    pool.release(a)
    assert await waiting is a and cancelled.cancelled()


async def test_close_ends_idle_connections_and_refuses_more() -> None:
    pool = Connections(Opener(), 2)
    a = await pool.acquire()
    b = await pool.acquire()
    pool.release(a)
    await pool.close()
    assert a.terminated
    pool.release(b)  # in use at close: closed when it comes back
    assert b.terminated and pool.opened == 0
    with pytest.raises(RuntimeError):
        await pool.acquire()


async def _cancelled_use(pool: Connections) -> tuple[FakeConnection, asyncio.Future[Any]]:
    """A connection given back by a cancelled use, still settling, and the next acquire."""
    a = await pool.acquire()
    a.settle = asyncio.get_running_loop().create_future()
    waiter = asyncio.ensure_future(pool.acquire())
    pool.release(a, failed=True, cancelled=True)
    await asyncio.sleep(0.01)
    return a, waiter


async def test_a_cancelled_use_keeps_its_connection_once_it_answers() -> None:
    opener = Opener()
    pool = Connections(opener, 1)
    a, waiter = await _cancelled_use(pool)
    assert a.settle is not None
    # Not handed over while its cancelled statement may still be running.
    assert a.settles == 1 and not waiter.done() and not a.terminated
    a.settle.set_result(None)
    assert await waiter is a
    assert opener.count == 1 and pool.opened == 1


async def test_a_cancelled_connection_that_does_not_settle_is_closed() -> None:
    opener = Opener()
    pool = Connections(opener, 1)
    a, waiter = await _cancelled_use(pool)
    assert a.settle is not None
    a.settle.set_exception(TimeoutError())
    b = await waiter
    assert a.terminated and b is not a and opener.count == 2 and pool.opened == 1


async def test_close_ends_connections_still_settling() -> None:
    pool = Connections(Opener(), 1)
    a, waiter = await _cancelled_use(pool)
    await pool.close()
    assert a.terminated and pool.opened == 0
    with pytest.raises(RuntimeError):
        await waiter


async def test_a_statement_cancelled_on_postgresql_is_stopped_and_its_connection_kept(
    postgres_url: str,
) -> None:
    """A read cancelled mid-statement (its client went away): PostgreSQL stops the statement
    and the next read gets the same server process, not a new connection. Had the statement
    not been cancelled at the server, settling (10 s at most) would outwait the 30 s sleep,
    fail, and the next read would run on a new process."""
    reads = PostgresReads(postgres_url, pool_size=1)
    admin = await asyncpg.connect(postgres_url)
    try:

        async def sleep() -> None:
            async with reads.reading() as reader:
                await reader.fetch("SELECT pg_sleep(30)", ())

        task = asyncio.ensure_future(sleep())
        sleeper = None
        deadline = time.monotonic() + 60  # a busy machine may take a while to start it
        while sleeper is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            sleeper = await admin.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND query = 'SELECT pg_sleep(30)' AND state = 'active'"
            )
        assert sleeper is not None, "the statement never started"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with reads.reading() as reader:
            ((pid,),) = await reader.fetch("SELECT pg_backend_pid()", ())
        assert pid == sleeper
        assert reads.connections.opened == 1
        state = await admin.fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", pid)
        assert state == "idle"
    finally:
        await admin.close()
        await reads.close()
