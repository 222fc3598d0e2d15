"""The lean read path's PostgreSQL pool (``reads/pgpool.py``): at most ``size`` connections,
waiters served in order, a connection whose use failed (or was cancelled) closed rather than
reused, and no place lost when opening a connection fails or a waiter is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from trevor_backend.reads.pgpool import Connections


class FakeConnection:
    def __init__(self, n: int) -> None:
        self.n = n
        self.terminated = False

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
