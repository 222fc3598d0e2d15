"""``GET /api/v1/events``: server-sent events of the audit log the caller may see.

Each event is ``id: <audit seq>`` plus one JSON ``data:`` line (see ``services/events.py``). A
client that reconnects with ``Last-Event-ID`` (header, or ``?last_event_id=`` for clients that
cannot set headers) gets exactly the events after that id; without one, the stream starts at
the present. ``?follow=0`` answers the backlog and closes (catch up without holding a
connection). A ``: keepalive`` comment goes out when nothing else has for ``events_heartbeat``
seconds, so proxies keep the connection open and a vanished client is noticed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from tornado.iostream import StreamClosedError

from ..errors import FieldError, ValidationFailed
from ..principal import Principal
from ..schemas import Problem
from ..services.eventbus import Row, Subscription
from ..services.events import EventFeed, event_data, visible
from .base import BaseHandler, strict_int
from .notifications import flag
from .spec import operation

log = logging.getLogger("trevor_backend.events")

#: How often the caller's identity and roles are checked again on an open stream, so that a
#: revoked token or a removed membership ends (or narrows) the stream within this time.
REAUTH_SECONDS = 60.0

#: Audit event types after which an open stream checks its caller's token and roles again.
REAUTH_EVENTS = ("token.", "membership.", "project.member")

#: Open streams in this process (for monitoring, and for tests that a closed client frees its
#: stream).
active_streams: set[EventsHandler] = set()


class EventsHandler(BaseHandler):
    _closed: asyncio.Event | None = None

    _sub: Subscription | None = None
    #: the stream's position and caller, shared by ``_follow`` and ``_deliver``
    _cursor: int = 0
    _principal: Principal
    _last_write: float = 0.0

    def on_connection_close(self) -> None:
        if self._closed is not None:
            self._closed.set()
        if self._sub is not None:
            self._sub.wake.set()

    def _last_event_id(self) -> int | None:
        raw = self.request.headers.get("Last-Event-ID") or self.query("last_event_id")
        if raw is None or raw.strip() == "":
            return None
        # ASCII digits in the database's range only (int() would take "١٢" or 10**30).
        value = strict_int(raw.strip())
        if value is None:
            raise ValidationFailed(
                "Last-Event-ID must be an event id from this stream",
                errors=[FieldError("/last_event_id", "not a non-negative integer")],
            )
        return value

    async def _reauthenticate(self) -> Principal | None:
        async with self.ctx.sessions() as session:
            who = await self.backend.authenticator.authenticate(self.request, session)
        return who if isinstance(who, Principal) else None

    async def _send(self, chunk: str) -> None:
        self.write(chunk)
        await self.flush()

    @operation(
        "Live audit events the caller may see (text/event-stream; id = audit seq)",
        tags="events",
        query={
            "last_event_id": "resume after this event id (same as the Last-Event-ID header)",
            "follow": "0 to send the backlog and close",
        },
        headers={"Last-Event-ID": "resume after this event id"},
        responses={200: "text/event-stream", 401: Problem, 422: Problem},
    )
    async def get(self) -> None:
        feed = EventFeed(self.ctx)
        last = self._last_event_id()
        follow = flag(self, "follow", True)
        head = await feed.head()
        # An id beyond the log's head (a client of a restored or different database) would
        # silence the stream until the log caught up: resume from the head instead.
        cursor = head if last is None or last > head else last
        principal = self.principal
        settings = self.ctx.settings
        poll = max(0.05, float(getattr(settings, "events_poll_interval", 1.0)))
        heartbeat = max(0.05, float(getattr(settings, "events_heartbeat", 15.0)))

        self._closed = asyncio.Event()
        active_streams.add(self)
        try:
            await self._stream(feed, cursor, follow, principal, poll, heartbeat)
        finally:
            active_streams.discard(self)

    async def _stream(
        self,
        feed: EventFeed,
        cursor: int,
        follow: bool,
        principal: Principal,
        poll: float,
        heartbeat: float,
    ) -> None:
        assert self._closed is not None
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: do not buffer the stream
        sub: Subscription | None = None
        try:
            # How long a client waits before reconnecting, and the current position, so a
            # client that connected without Last-Event-ID can resume from here.
            await self._send(f"retry: 3000\n: connected at {cursor}\n\n")
            if not follow:
                while True:
                    batch = await feed.after(principal, cursor)
                    cursor = batch.cursor
                    if batch.events:
                        await self._send("".join(_frame(e) for e in batch.events))
                    if batch.caught_up:
                        break
            else:
                sub = self._sub = await self.backend.events.subscribe()
                await self._follow(feed, sub, cursor, principal, heartbeat)
        except StreamClosedError:
            return  # the client went away
        except Exception:
            # The headers are gone, so no problem document can follow: end the stream and let
            # the client reconnect (with Last-Event-ID) once the database answers again.
            log.warning("event stream ended by an error", exc_info=True)
        finally:
            if sub is not None:
                sub.close()
        if not self._closed.is_set():
            self.finish()

    async def _follow(
        self,
        feed: EventFeed,
        sub: Subscription,
        cursor: int,
        principal: Principal,
        heartbeat: float,
    ) -> None:
        """Send events as the process's event bus announces them; no polling of our own.

        While this task waits, the bus may send new events for it (``_deliver``); the task
        itself sends what needs awaiting: a backlog from the database, a client that is
        behind, a re-check of the caller."""
        assert self._closed is not None
        self._cursor, self._principal = cursor, principal
        self._last_write = last_auth = time.monotonic()
        while not self._closed.is_set():
            sub.wake.clear()  # before reading, so a wake during the read is not lost
            rows = sub.bus.since(self._cursor)
            reauth = False
            if rows is None:
                # Further behind than the bus remembers: read the backlog from the database.
                batch = await feed.after(self._principal, self._cursor)
                self._cursor, events, caught_up = batch.cursor, batch.events, batch.caught_up
            else:
                events = self._render(rows)
                # A revoked token or a changed membership narrows the stream at once.
                reauth = _needs_reauth(rows)
                self._cursor = rows[-1].event.seq if rows else self._cursor
                caught_up = True
            if events:
                await self._send("".join(_frame(e) for e in events))
                self._last_write = time.monotonic()
            if not caught_up:
                continue  # more backlog: no pause
            now = time.monotonic()
            if now - self._last_write >= heartbeat:
                await self._send(": keepalive\n\n")
                self._last_write = now
            if reauth or now - last_auth >= REAUTH_SECONDS:
                again = await self._reauthenticate()
                if again is None:
                    break  # token revoked or expired: end the stream
                self._principal, last_auth = again, now
            wait = min(
                heartbeat - (time.monotonic() - self._last_write),
                REAUTH_SECONDS - (time.monotonic() - last_auth),
            )
            sub.deliver = self._deliver
            try:
                # asyncio.timeout, not wait_for: no extra task per wait on every stream.
                async with asyncio.timeout(max(0.01, wait)):
                    await sub.wake.wait()
            except TimeoutError:
                pass
            finally:
                sub.deliver = None

    def _render(self, rows: list[Row]) -> list[dict[str, Any]]:
        p = self._principal
        return [event_data(p, r.event, r.actor_role) for r in rows if visible(p, r.request)]

    def _deliver(self) -> bool:
        """Called by the bus, while ``_follow`` waits, when it has buffered new rows: send this
        caller's events now, with no task switch. False leaves them to ``_follow``: a closed
        or slow client (its previous write still pending), rows the buffer no longer holds,
        or an event after which the caller must be checked again."""
        assert self._closed is not None and self._sub is not None
        # Tornado's HTTP/1 connection: its IOStream tells whether a write is still pending.
        stream = getattr(self.request.connection, "stream", None)
        if self._closed.is_set() or stream is None or stream.closed() or stream.writing():
            return False
        rows = self._sub.bus.since(self._cursor)
        if rows is None or _needs_reauth(rows):
            return False
        if not rows:
            return True
        events = self._render(rows)
        self._cursor = rows[-1].event.seq
        if events:
            self.write("".join(_frame(e) for e in events))
            # Not awaited: the bytes go to the socket now; a client that cannot take them
            # leaves the stream "writing", and the next events go through _follow.
            self.flush()
            self._last_write = time.monotonic()
        return True


def _needs_reauth(rows: list[Row]) -> bool:
    return any(r.event.type.startswith(REAUTH_EVENTS) for r in rows)


def _frame(data: dict[str, Any]) -> str:
    # json.dumps never emits a raw newline, so one data: line carries the whole event.
    return f"id: {data['seq']}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
