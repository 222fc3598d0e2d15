"""A small pool of asyncpg connections for the lean read path.

asyncpg's own pool costs about 30 µs of CPU per acquire and release (a timeout context, an
``asyncio.shield`` task and an idle timer per release, profiled under ``wrk``), as much as a
third of a round trip, twice per request. These connections only ever run SELECTs in
autocommit, so a pool needs no reset, no timers and no shield: idle connections on a stack,
waiters served first come, first served. A connection whose use ended in an error is closed
rather than reused, since it may be mid-protocol.

A use that was cancelled (the client went away mid-statement) keeps its connection: asyncpg
has sent PostgreSQL a cancel request for the statement, and the connection is settled in the
background (a ``SELECT 1``, which asyncpg runs only once the cancellation is acknowledged)
before it serves anyone again. Closing it instead cost far more than the statement: a load
generator that stops mid-run, or a burst of clients that give up, emptied the pool, and the
next callers each waited 15-25 ms for a new PostgreSQL process with cold caches and no
prepared statements (the first requests after such a burst took twice as long as the rest).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[Any]]

#: Seconds a connection whose statement was cancelled has to answer again before it is closed.
SETTLE_TIMEOUT = 10.0


class Connections:
    def __init__(self, connect: Connect, size: int) -> None:
        self._connect = connect
        self.size = max(1, size)
        self.opened = 0
        self._idle: list[Any] = []
        # A waiter's future receives a connection, or None: a place is free, open one.
        self._waiters: deque[asyncio.Future[Any]] = deque()
        # Connections whose statement was cancelled, until they answer again.
        self._settling: set[asyncio.Task[None]] = set()
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
            if self.closed:
                # A place freed as the pool closed: nothing may be opened any more.
                raise RuntimeError("the lean read pool is closed")
        self.opened += 1
        try:
            return await self._connect()
        except BaseException:
            self.opened -= 1
            self._hand_over(None)
            raise

    def release(self, conn: Any, *, failed: bool = False, cancelled: bool = False) -> None:
        """Give ``conn`` back: ``failed`` when its use raised, ``cancelled`` when that was
        the caller's task being cancelled rather than an error of the connection."""
        if self.closed or conn.is_closed() or (failed and not cancelled):
            self._drop(conn)
        elif cancelled:
            task = asyncio.get_running_loop().create_task(self._settle(conn))
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
        else:
            self._hand_over(conn)

    def _drop(self, conn: Any) -> None:
        self.opened -= 1
        conn.terminate()
        self._hand_over(None)

    async def _settle(self, conn: Any) -> None:
        try:
            await conn.fetchval("SELECT 1", timeout=SETTLE_TIMEOUT)
        except asyncio.CancelledError:
            self._drop(conn)  # the pool is closing
            raise
        except Exception as exc:
            # The cancellation was not acknowledged in time, or the connection broke.
            log.info("a lean read connection did not settle after a cancellation: %s", exc)
            self._drop(conn)
            return
        self.release(conn)

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
        settling = list(self._settling)
        for task in settling:
            task.cancel()
        await asyncio.gather(*settling, return_exceptions=True)
        idle, self._idle = self._idle, []
        for conn in idle:
            self.opened -= 1
            await conn.close()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RuntimeError("the lean read pool is closed"))
