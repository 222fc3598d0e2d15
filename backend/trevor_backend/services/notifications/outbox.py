"""Getting notifications out: two reconciler jobs over two tables (SPEC §3 "state is the queue").

``DispatchJob``
    A ``Notification`` row with ``dispatched_at IS NULL`` (written inside a transition's
    transaction by ``recipients.py``) is fanned out to one ``OutboxMessage`` per configured
    channel that wants it, and ``dispatched_at`` is set — in one transaction, claimed with a
    conditional ``UPDATE … WHERE dispatched_at IS NULL`` whose row count says which process won.
    So each notification is queued exactly once however many backend processes run.

``OutboxJob``
    An ``OutboxMessage`` with ``sent_at IS NULL``, due (``next_attempt_at <= now``), under the
    attempt limit and not leased is claimed with a lease (and its attempt counted), then sent
    outside any transaction. Success sets ``sent_at``; failure records ``last_error`` and pushes
    ``next_attempt_at`` out exponentially. After ``outbox_max_attempts`` the message is given up:
    logged, and kept (``sent_at`` NULL, ``last_error`` set) for an admin to see.

A process that dies mid-send leaves a lease that expires; the message is then sent again. Delivery
is therefore at least once; each message carries its outbox id (email ``Message-ID``, webhook
``X-Trevor-Delivery``) so a receiver can recognise a repeat. Nothing here runs inside a request
transition, so a slow or broken channel never delays one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets import Int

from ...jobs import Job, JobContext, LeasedJob, give_back, skip_locked
from ...orm import AirlockRequest, Notification, OutboxMessage, User, utcnow
from .channels import NotificationView, Notifier

log = logging.getLogger("trevor_backend.outbox")

#: Longest wait between two attempts, however many failures came before.
MAX_BACKOFF = 6 * 3600.0


def backoff_seconds(base: float, attempts: int) -> float:
    """Delay after the ``attempts``-th failure: base, 2·base, 4·base, … capped at 6 h."""
    return min(base * (1 << max(0, attempts - 1)), MAX_BACKOFF)


class DispatchJob(Job):
    """Notifications → one outbox row per channel (see the module docstring)."""

    name = "notification-dispatch"
    batch = 100

    async def run_once(self, ctx: JobContext) -> int:
        notifiers: list[Notifier] = list(getattr(ctx, "notifiers", []) or [])
        done = 0
        async with ctx.sessions.begin() as session:
            ids = list(
                await session.scalars(
                    skip_locked(
                        session,
                        select(Notification.id)
                        .where(Notification.dispatched_at.is_(None))
                        .order_by(Notification.created_at, Notification.id)
                        .limit(self.batch),
                    )
                )
            )
            now = utcnow()
            for nid in ids:
                claimed = await session.execute(
                    update(Notification)
                    .where(Notification.id == nid, Notification.dispatched_at.is_(None))
                    .values(dispatched_at=now)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another process queued it
                if notifiers:
                    await self._fan_out(session, ctx, notifiers, nid)
                done += 1
        return done

    async def _fan_out(
        self, session: AsyncSession, ctx: JobContext, notifiers: list[Notifier], nid: str
    ) -> None:
        note = await session.get(Notification, nid)
        assert note is not None
        user = await session.get(User, note.user_id)
        if user is None:
            return
        request = await session.get(AirlockRequest, note.request_id) if note.request_id else None
        view = NotificationView(
            id=note.id,
            event_type=note.event_type,
            created_at=note.created_at.isoformat(),
            payload=dict(note.payload or {}),
            username=user.username,
            display_name=user.display_name or user.username,
            email=user.email or None,
            request_id=note.request_id,
            project_id=request.project_id if request else None,
            request_url=None,
        )
        for notifier in notifiers:
            try:
                messages = notifier.messages(view)
            except Exception as exc:
                # A broken template must not hold every other notification back: the failure
                # is kept as a given-up outbox row, visible to admins, and logged.
                log.exception("channel %s could not prepare notification %s", notifier.channel, nid)
                session.add(
                    OutboxMessage(
                        notification_id=nid,
                        channel=notifier.channel,
                        recipient="",
                        payload={},
                        attempts=ctx.settings.outbox_max_attempts,
                        last_error=f"could not prepare the message: {exc!r}"[:2000],
                    )
                )
                continue
            for recipient, payload in messages:
                session.add(
                    OutboxMessage(
                        notification_id=nid,
                        channel=notifier.channel,
                        recipient=recipient,
                        payload=payload,
                        # Due since the event happened: sending in next_attempt_at order then
                        # follows the order of events, even for rows queued in one batch.
                        next_attempt_at=note.created_at,
                    )
                )


class OutboxJob(LeasedJob):
    """Send due outbox messages, with a lease, retries and back-off (see the module docstring)."""

    name = "outbox"
    model = OutboxMessage
    batch_size = Int(20, config=True, help="Messages claimed at most per pass.")

    def due(self, ctx: JobContext) -> list[ColumnElement[bool]]:
        m = OutboxMessage
        return [
            m.sent_at.is_(None),
            m.attempts < ctx.settings.outbox_max_attempts,
            m.next_attempt_at <= utcnow(),
        ]

    def order_by(self) -> tuple[Any, ...]:
        return (OutboxMessage.next_attempt_at, OutboxMessage.created_at)

    async def work(self, ctx: JobContext, ids: list[str]) -> int:
        async with ctx.sessions() as session:
            messages = list(
                await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
            )
            session.expunge_all()
        # One recipient's messages go out one after another, oldest first, so a researcher
        # reads "changes requested" after "report ready"; different recipients in parallel.
        queues: dict[tuple[str, str], list[OutboxMessage]] = {}
        for m in sorted(messages, key=lambda m: (m.next_attempt_at, m.created_at, m.id)):
            queues.setdefault((m.channel, m.recipient), []).append(m)

        async def in_order(queue: list[OutboxMessage]) -> None:
            for m in queue:
                await self._deliver(ctx, m)

        await asyncio.gather(*(in_order(q) for q in queues.values()))
        return len(messages)

    async def _deliver(self, ctx: JobContext, msg: OutboxMessage) -> None:
        settings = ctx.settings
        notifier = next(
            (n for n in getattr(ctx, "notifiers", []) or [] if n.channel == msg.channel), None
        )
        error: str | None = None
        try:
            if notifier is None:
                raise LookupError(f"channel {msg.channel!r} is not configured")
            # Inside the lease: a hung server must not outlive our claim on the message.
            await asyncio.wait_for(
                notifier.send(msg.id, msg.recipient, dict(msg.payload or {})),
                timeout=max(1.0, ctx.lease_seconds * 0.8),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__
        now = utcnow()
        values: dict[str, Any] = {}
        if error is None:
            values |= {"sent_at": now, "last_error": None}
            log.info("sent %s message %s to %s", msg.channel, msg.id, msg.recipient)
        else:
            delay = backoff_seconds(settings.outbox_backoff, msg.attempts)
            values |= {"last_error": error, "next_attempt_at": now + timedelta(seconds=delay)}
            if msg.attempts >= settings.outbox_max_attempts:
                log.error(
                    "giving up %s message %s to %s after %d attempts: %s",
                    msg.channel,
                    msg.id,
                    msg.recipient,
                    msg.attempts,
                    error,
                )
            else:
                log.warning(
                    "%s message %s to %s failed (attempt %d, retry in %.0fs): %s",
                    msg.channel,
                    msg.id,
                    msg.recipient,
                    msg.attempts,
                    delay,
                    error,
                )
        # Only while we still hold the lease: if it ran out and another process took the
        # message, that process's outcome is the one recorded.
        await give_back(ctx, OutboxMessage, msg.id, **values)
