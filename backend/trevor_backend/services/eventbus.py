"""One listener per process fanning new audit events out to its open event streams.

Streams do not poll the database. A process learns that the audit log grew from:

* its own commits: a session hook (``after_commit``) wakes every bus in the process the
  moment a transaction that wrote audit events commits — the in-process broadcast, and all
  SQLite needs when one process serves the API;
* other processes, on PostgreSQL: the same transactions ``NOTIFY trevor_events`` (delivered
  at commit), and one ``LISTEN`` connection per process wakes the bus;
* other processes on SQLite (a second replica, the command line): SQLite has no
  notifications, so the bus — once for the whole process, and only while streams are open —
  looks for a new head every ``events_poll_interval`` seconds.

On a wake the bus reads the new rows once (with the actor's role and the request, for the
visibility rules) into a bounded buffer and hands them to its streams in one pass: a stream
that is waiting for events and whose client keeps up filters, renders and writes its events
right there (its ``deliver`` hook), without a task switch per stream; any other stream is
woken and does the same from its own task, with backpressure (``handlers/events.py``). A
stream that fell behind the buffer reads from the database instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, event, func, select, text
from sqlalchemy.orm import Session

from ..orm import AirlockRequest, AuditEvent, Membership
from .context import Context

log = logging.getLogger("trevor_backend.events")

CHANNEL = "trevor_events"
#: Events kept in memory for streams to catch up from without a query.
BUFFER = 4096
#: On PostgreSQL the LISTEN connection is the signal; this slow check only covers a lost
#: connection between reconnects.
PG_SAFETY_POLL = 30.0

_buses: weakref.WeakSet[EventBus] = weakref.WeakSet()
#: The payload of this process's NOTIFYs: its own commits have already woken its buses
#: (``after_commit``), so its listeners skip them rather than read the log a second time.
PROCESS_TAG = uuid.uuid4().hex


@dataclass(frozen=True)
class Row:
    event: AuditEvent
    actor_role: str | None
    request: AirlockRequest | None


class Subscription:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.wake = asyncio.Event()
        #: Set by a stream while it waits: called by the bus with new rows buffered, it sends
        #: them at once and answers True, or False to be woken instead.
        self.deliver: Callable[[], bool] | None = None

    def close(self) -> None:
        self.bus._subscribers.discard(self)
        if not self.bus._subscribers:
            self.bus._active.clear()


class EventBus:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.head = 0
        self.rows: deque[Row] = deque(maxlen=BUFFER)
        self._subscribers: set[Subscription] = set()
        self._dirty = asyncio.Event()
        self._active = asyncio.Event()  # set while streams are open
        self._task: asyncio.Task[None] | None = None
        self._listener: Any = None
        # An event rather than a flag: close() sets it while the loop below awaits.
        self._closed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._starting: asyncio.Future[None] | None = None
        _buses.add(self)

    # --- streams --------------------------------------------------------------------------

    async def subscribe(self) -> Subscription:
        await self._ensure_started()
        if not self._subscribers:
            # The bus sleeps while no stream is open: start again from the current head.
            self.rows.clear()
            self.head = await self._read_head()
        sub = Subscription(self)
        self._subscribers.add(sub)
        self._active.set()
        return sub

    def since(self, cursor: int) -> list[Row] | None:
        """Buffered rows after ``cursor``, or None when the buffer no longer reaches back."""
        if cursor >= self.head:
            return []
        if not self.rows or self.rows[0].event.seq > cursor + 1:
            return None
        # From the newest back: a caught-up stream costs its new rows, not the whole buffer.
        newer: list[Row] = []
        for row in reversed(self.rows):
            if row.event.seq <= cursor:
                break
            newer.append(row)
        newer.reverse()
        return newer

    # --- signals --------------------------------------------------------------------------

    def poke(self) -> None:
        """Something may have been appended to the audit log (thread-safe)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._dirty.set()
        else:
            loop.call_soon_threadsafe(self._dirty.set)

    async def _ensure_started(self) -> None:
        # One start shared by every stream, created before any await: streams subscribing
        # together start one bus task (and one LISTEN connection), not one each.
        if self._starting is None:
            self._loop = asyncio.get_running_loop()
            self._starting = asyncio.ensure_future(self._start())
        starting = self._starting
        try:
            # Shielded: a stream whose client leaves mid-start does not cancel it for the rest.
            await asyncio.shield(starting)
        except Exception:
            if self._starting is starting:
                self._starting = None  # the database did not answer: the next stream retries
            raise

    async def _start(self) -> None:
        self.head = await self._read_head()
        if self.ctx.dialect == "postgresql":
            await self._listen()
        self._task = asyncio.create_task(self._run(), name="trevor-event-bus")

    async def _listen(self) -> None:
        import asyncpg

        url = self.ctx.engine.url.set(drivername="postgresql")
        try:
            conn = await asyncpg.connect(url.render_as_string(hide_password=False))
            await conn.add_listener(CHANNEL, self._notified)
            conn.add_termination_listener(lambda *_: self._lost())
        except Exception:
            log.warning("LISTEN %s failed; falling back to polling", CHANNEL, exc_info=True)
            self._listener = None
            return
        self._listener = conn
        self._dirty.set()  # anything committed while we were not listening

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload != PROCESS_TAG:
            self._dirty.set()

    def _lost(self) -> None:
        self._listener = None
        self._dirty.set()

    async def _run(self) -> None:
        while not self._closed.is_set():
            if not self._subscribers:
                # Idle: no polling and no memory; a local commit only sets the dirty flag.
                self.rows.clear()
                await self._active.wait()
                continue
            if self.ctx.dialect == "postgresql" and self._listener is not None:
                interval = PG_SAFETY_POLL
            else:
                interval = max(0.05, float(self.ctx.settings.events_poll_interval))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), timeout=interval)
            self._dirty.clear()
            if self._closed.is_set():
                return
            try:
                if self.ctx.dialect == "postgresql" and self._listener is None:
                    await self._listen()
                await self._fetch()
            except Exception:
                log.warning("event bus: reading the audit log failed", exc_info=True)
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def _read_head(self) -> int:
        async with self.ctx.sessions() as session:
            return int(await session.scalar(select(func.max(AuditEvent.seq))) or 0)

    async def _fetch(self) -> None:
        q = (
            select(AuditEvent, Membership.role, AirlockRequest)
            .outerjoin(
                Membership,
                and_(
                    Membership.project_id == AuditEvent.project_id,
                    Membership.user_id == AuditEvent.actor_id,
                ),
            )
            .outerjoin(AirlockRequest, AirlockRequest.id == AuditEvent.request_id)
            .where(AuditEvent.seq > self.head)
            .order_by(AuditEvent.seq)
            .limit(BUFFER)
        )
        async with self.ctx.sessions() as session:
            found = [Row(ev, role, r) for ev, role, r in (await session.execute(q)).all()]
        if not found:
            return
        self.rows.extend(found)
        self.head = found[-1].event.seq
        if len(found) == BUFFER:
            self._dirty.set()  # more to read
        for sub in list(self._subscribers):
            deliver = sub.deliver
            try:
                if deliver is not None and deliver():
                    continue
            except Exception:
                log.warning("event bus: delivering to a stream failed", exc_info=True)
            sub.wake.set()

    async def close(self) -> None:
        self._closed.set()
        self._dirty.set()
        self._active.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
        for sub in list(self._subscribers):
            sub.wake.set()


# --- the signals from writers: every session of this process ---------------------------------


def _writes_audit(session: Session) -> bool:
    return bool(session.info.get("trevor_audit")) or any(
        isinstance(obj, AuditEvent) for obj in session.new
    )


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    if any(isinstance(obj, AuditEvent) for obj in session.new):
        session.info["trevor_audit"] = True


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if not _writes_audit(session):
        return
    session.info["trevor_audit"] = True
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Delivered to every LISTENing process when (and only if) this transaction commits.
        session.execute(text(f"NOTIFY {CHANNEL}, '{PROCESS_TAG}'"))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("trevor_audit", False):
        for bus in list(_buses):
            bus.poke()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("trevor_audit", None)
