"""Live events: the audit log as a stream, filtered per caller (``GET /api/v1/events``).

The database is the only source: every backend process reads new ``AuditEvent`` rows by
sequence number, so an event written by any process (or any other writer of the audit chain)
reaches clients connected to every process. ``seq`` is the SSE event id, so ``Last-Event-ID``
replays exactly what a client missed.

Who sees what (``services.access`` rules):

* admins (and the system) see every event;
* everyone else sees the events of requests they may view *now* (researchers of the project
  see its requests; checkers once submitted) — events not tied to a request are admin-only;
* for callers who are not checkers of the project, checkers appear by pseudonym and
  checker-private detail is removed, by the same rules as the request's audit log
  (``services.blinding``). A client refreshes through the REST API, which applies the full
  rules (including checkers' blinding) to what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select

from ..orm import AirlockRequest, AuditEvent, Membership
from ..principal import Principal
from . import access, blinding
from .context import Context

BATCH = 500


def event_data(p: Principal, ev: AuditEvent, actor_role: str | None = None) -> dict[str, Any]:
    """The JSON ``data`` of one server-sent event (``actor_role``: the actor's role on the
    event's project, if any)."""
    payload = blinding.payload_for(p, ev)
    data: dict[str, Any] = {
        "seq": ev.seq,
        "type": ev.type,
        "created_at": ev.created_at.isoformat(),
        "actor": blinding.actor_for(p, ev, actor_role),
        "project": ev.project_id,
        "request_id": ev.request_id,
        "object_id": ev.object_id,
        "payload": payload,
    }
    if isinstance(payload.get("to"), str):
        # A transition: clients can update the request's status without a round trip.
        data["status"] = payload["to"]
    return data


def visible(p: Principal, request: AirlockRequest | None) -> bool:
    """Whether ``p`` sees an event about ``request`` (Python twin of the SQL filter in
    :meth:`EventFeed.after`): admins everything, others the requests they may view now;
    events tied to no request are admin-only."""
    if p.admin or p.is_system:
        return True
    return request is not None and access.can_view(p, request)


@dataclass
class Batch:
    events: list[dict[str, Any]]
    #: the sequence number the next poll continues after (past invisible events too)
    cursor: int
    #: whether the batch reached the head of the log
    caught_up: bool


class EventFeed:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def head(self) -> int:
        async with self.ctx.sessions() as session:
            return int(await session.scalar(select(func.max(AuditEvent.seq))) or 0)

    async def after(self, p: Principal, cursor: int, limit: int = BATCH) -> Batch:
        """Events after ``cursor`` that ``p`` may see, up to the current head of the log.

        The head is read first and the cursor moves to it when the batch is not full, so events
        the caller may not see are scanned once, not on every poll. Audit sequence numbers are
        assigned in commit order (one writer at a time holds the chain head), so nothing can
        appear later below a head already read.
        """
        async with self.ctx.sessions() as session:
            head = int(await session.scalar(select(func.max(AuditEvent.seq))) or 0)
            if head <= cursor:
                return Batch([], cursor, True)
            q = (
                select(AuditEvent, Membership.role)
                .outerjoin(
                    Membership,
                    and_(
                        Membership.project_id == AuditEvent.project_id,
                        Membership.user_id == AuditEvent.actor_id,
                    ),
                )
                .where(AuditEvent.seq > cursor, AuditEvent.seq <= head)
            )
            if not (p.admin or p.is_system):
                q = q.join(AirlockRequest, AirlockRequest.id == AuditEvent.request_id).where(
                    access.visible_filter(p)
                )
            rows = list((await session.execute(q.order_by(AuditEvent.seq).limit(limit))).all())
        events = [event_data(p, ev, role) for ev, role in rows]
        if len(rows) == limit:
            last = rows[-1][0].seq
            return Batch(events, last, last >= head)
        return Batch(events, head, True)
