"""Service-level alerts, two reconciler jobs: a researcher's download link about to expire
(``ExpiryWarningJob``), and a request waiting past the SLA (``StuckRequestJob``, for admins).

Each alert goes out once: the job claims it with a conditional UPDATE of the row's alert
column, so a second replica matches no row (docs/release.md, docs/notifications.md).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select, update

from ..contract import RequestStatus
from ..jobs import Job, JobContext
from ..orm import AirlockRequest, ReleaseRecord, utcnow
from ..principal import system
from . import audit
from .notifications.recipients import admin_ids, notify_users

S = RequestStatus
# Requests waiting on people or the agent; the SLA clock runs in these states.
WAITING_STATES = (S.SUBMITTED, S.AGENT_REVIEW, S.HUMAN_REVIEW)


class ExpiryWarningJob(Job):
    """Tell the researcher once when their download URL is about to expire."""

    name = "release-expiry-warning"

    async def run_once(self, ctx: JobContext) -> int:
        now = utcnow()
        horizon = now + timedelta(seconds=ctx.settings.release_expiry_warning)
        async with ctx.sessions() as session:
            due = list(
                await session.scalars(
                    select(ReleaseRecord.id).where(
                        ReleaseRecord.expiry_warned_at.is_(None),
                        ReleaseRecord.url_expires_at > now,
                        ReleaseRecord.url_expires_at <= horizon,
                    )
                )
            )
        sent = 0
        for release_id in due:
            async with ctx.sessions.begin() as session:
                # The conditional UPDATE is the claim: a second replica matches no row.
                claimed = await session.execute(
                    update(ReleaseRecord)
                    .where(ReleaseRecord.id == release_id, ReleaseRecord.expiry_warned_at.is_(None))
                    .values(expiry_warned_at=now)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                record = await session.get(ReleaseRecord, release_id)
                assert record is not None
                r = await session.get(AirlockRequest, record.request_id)
                assert r is not None
                await notify_users(
                    session,
                    [r.created_by],
                    "url_expiring",
                    r,
                    {
                        "expires_at": record.url_expires_at.isoformat()
                        if record.url_expires_at
                        else None,
                        "action": "release/refresh",
                    },
                )
                await audit.record(
                    session,
                    "release.expiry_warned",
                    system("release"),
                    project_id=r.project_id,
                    request_id=r.id,
                    payload={"expires_at": record.url_expires_at},
                )
                sent += 1
        return sent


class StuckRequestJob(Job):
    """Alert admins once when a request has waited past the SLA in a waiting state."""

    name = "stuck-requests"

    async def run_once(self, ctx: JobContext) -> int:
        now = utcnow()
        cutoff = now - timedelta(seconds=ctx.settings.stuck_request_sla)
        r = AirlockRequest
        condition = [
            r.status.in_([s.value for s in WAITING_STATES]),
            r.updated_at < cutoff,
            # Once per stay in a state: a transition moves updated_at past the last alert.
            or_(r.stuck_alerted_at.is_(None), r.stuck_alerted_at < r.updated_at),
        ]
        async with ctx.sessions() as session:
            due = list(await session.scalars(select(r.id).where(*condition).limit(100)))
        alerted = 0
        for rid in due:
            async with ctx.sessions.begin() as session:
                claimed = await session.execute(
                    update(AirlockRequest)
                    .where(AirlockRequest.id == rid, *condition)
                    .values(stuck_alerted_at=now)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                req = await session.get(AirlockRequest, rid)
                assert req is not None
                waited = now - req.updated_at
                await notify_users(
                    session,
                    await admin_ids(session),
                    "request_stuck",
                    req,
                    {
                        "since": req.updated_at.isoformat(),
                        "waited_hours": round(waited.total_seconds() / 3600, 1),
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
                alerted += 1
        return alerted
