"""A small pool of asyncpg connections for the lean read path.

asyncpg's own pool costs about 30 µs of CPU per acquire and release (a timeout context, an
``asyncio.shield`` task and an idle timer per release, profiled under ``wrk``), as much as a
third of a round trip, twice per request. These connections only ever run SELECTs in
autocommit, so a pool needs no reset, no timers and no shield: idle connections on a stack,
waiters served first come, first served. A connection whose use ended in an error
(including a cancelled query: the client went away) is closed rather than reused, since it
may be mid-protocol.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

Connect = Callable[[], Awaitable[Any]]


class Connections:
    def __init__(self, connect: Connect, size: int) -> None:
        self._connect = connect
        self.size = max(1, size)
        self.opened = 0
        self._idle: list[Any] = []
        # A waiter's future receives a connection, or None: a place is free, open one.
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self.closed = False

    async def acquire(self) -> Any:
        if self.closed:
            raise RuntimeError("the lean read pool is closed")
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self.opened -= 1
        if self.opened >= self.size:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                conn = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # Handed over just as we were cancelled: pass it on.
                    self._hand_over(waiter.result())
                raise
            if conn is not None:
                return conn
        self.opened += 1
        try:
            return await self._connect()
        except BaseException:
            self.opened -= 1
            self._hand_over(None)
            raise

    def release(self, conn: Any, *, failed: bool = False) -> None:
        if failed or self.closed or conn.is_closed():
            self.opened -= 1
            conn.terminate()
            self._hand_over(None)
            return
        self._hand_over(conn)

    def _hand_over(self, conn: Any) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                # None is a free place rather than a connection: the waiter opens its own.
                waiter.set_result(conn)
                return
        if conn is not None:
            self._idle.append(conn)

    async def close(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self.opened -= 1
            await conn.close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("the lean read pool is closed"))
