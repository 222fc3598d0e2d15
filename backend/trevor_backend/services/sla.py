"""Service-level alerts, two reconciler jobs: a researcher's download link about to expire
(``ExpiryWarningJob``), and a request waiting past the SLA (``StuckRequestJob``, for admins).

Each alert goes out once: the job claims it with a conditional UPDATE of the row's alert
column, so a second replica matches no row (docs/release.md, docs/notifications.md).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..contract import RequestStatus
from ..jobs import Job, JobContext
from ..orm import AirlockRequest, ReleaseRecord, utcnow
from ..principal import system
from . import audit
from .notifications.recipients import admin_ids, notify_users

S = RequestStatus
# Requests waiting on people or the agent; the SLA clock runs in these states.
WAITING_STATES = (S.SUBMITTED, S.AGENT_REVIEW, S.HUMAN_REVIEW)


class AlertOnceJob(Job):
    """An alert per due row, each sent once: a job says which rows are due, which column
    records the alert, and what to send. The claim is a conditional UPDATE of that column
    under the same conditions, in the transaction that notifies and audits, so replicas
    racing on a row send it once and a failed send leaves the row due."""

    model: ClassVar[Any]
    #: name of the model's column that holds when the alert went out
    stamp: ClassVar[str]
    #: rows looked at per run (the rest wait for the next)
    batch: ClassVar[int | None] = None

    def due(self, ctx: JobContext, now: datetime) -> list[ColumnElement[bool]]:
        raise NotImplementedError

    async def send(self, ctx: JobContext, session: AsyncSession, row: Any, now: datetime) -> None:
        raise NotImplementedError

    async def run_once(self, ctx: JobContext) -> int:
        now = utcnow()
        condition = self.due(ctx, now)
        async with ctx.sessions() as session:
            due = list(
                await session.scalars(select(self.model.id).where(*condition).limit(self.batch))
            )
        sent = 0
        for row_id in due:
            async with ctx.sessions.begin() as session:
                claimed = await session.execute(
                    update(self.model)
                    .where(self.model.id == row_id, *condition)
                    .values({self.stamp: now})
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                row = await session.get(self.model, row_id)
                assert row is not None
                await self.send(ctx, session, row, now)
                sent += 1
        return sent


class ExpiryWarningJob(AlertOnceJob):
    """Tell the researcher once when their download URL is about to expire."""

    name = "release-expiry-warning"
    model = ReleaseRecord
    stamp = "expiry_warned_at"

    def due(self, ctx: JobContext, now: datetime) -> list[ColumnElement[bool]]:
        horizon = now + timedelta(seconds=ctx.settings.release_expiry_warning)
        return [
            ReleaseRecord.expiry_warned_at.is_(None),
            ReleaseRecord.url_expires_at > now,
            ReleaseRecord.url_expires_at <= horizon,
        ]

    async def send(
        self, ctx: JobContext, session: AsyncSession, record: ReleaseRecord, now: datetime
    ) -> None:
        r = await session.get(AirlockRequest, record.request_id)
        assert r is not None
        expires = record.url_expires_at
        await notify_users(
            session,
            [r.created_by],
            "url_expiring",
            r,
            {
                "expires_at": expires.isoformat() if expires else None,
                "action": "release/refresh",
            },
        )
        await audit.record(
            session,
            "release.expiry_warned",
            system("release"),
            project_id=r.project_id,
            request_id=r.id,
            payload={"expires_at": expires},
        )


class StuckRequestJob(AlertOnceJob):
    """Alert admins once when a request has waited past the SLA in a waiting state."""

    name = "stuck-requests"
    model = AirlockRequest
    stamp = "stuck_alerted_at"
    batch = 100

    def due(self, ctx: JobContext, now: datetime) -> list[ColumnElement[bool]]:
        r = AirlockRequest
        return [
            r.status.in_([s.value for s in WAITING_STATES]),
            r.updated_at < now - timedelta(seconds=ctx.settings.stuck_request_sla),
            # Once per stay in a state: a transition moves updated_at past the last alert.
            or_(r.stuck_alerted_at.is_(None), r.stuck_alerted_at < r.updated_at),
        ]

    async def send(
        self, ctx: JobContext, session: AsyncSession, req: AirlockRequest, now: datetime
    ) -> None:
        await notify_users(
            session,
            await admin_ids(session),
            "request_stuck",
            req,
            {
                "since": req.updated_at.isoformat(),
                "waited_hours": round((now - req.updated_at).total_seconds() / 3600, 1),
                "sla_hours": round(ctx.settings.stuck_request_sla / 3600, 1),
            },
        )
        await audit.record(
            session,
            "request.stuck",
            system("sla"),
            project_id=req.project_id,
            request_id=req.id,
            payload={"status": req.status, "since": req.updated_at},
        )
