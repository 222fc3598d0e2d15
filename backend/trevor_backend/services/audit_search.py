"""Searching the whole audit log (``GET /api/v1/audit``) for admins and senior checkers.

Admins see every event. A senior checker sees the events of the projects where they are a
senior checker, and nothing else (events not tied to a project are admin-only). Everyone else
is refused. Pages are newest first, keyed by ``seq``; the CSV export (``services.audit_export``)
writes the same selection oldest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from ..contract import Role
from ..errors import FieldError, Forbidden, ValidationFailed
from ..orm import AuditEvent
from ..principal import Principal
from ..schemas import AuditPage, AuditRecordOut, TimelineEntry
from .context import Context

MAX_PAGE = 1000


@dataclass(frozen=True)
class AuditQuery:
    project: str | None = None
    request: str | None = None
    actor: str | None = None
    #: an exact event type, or a namespace ending in ``*`` (``request.*``)
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def senior_projects(p: Principal) -> list[str]:
    return sorted(pid for pid, role in p.roles.items() if role == Role.SENIOR_CHECKER)


def reader_scope(p: Principal, project: str | None) -> list[str] | None:
    """The projects ``p`` may read admin reports of (``None``: all), or Forbidden.

    Shared by the audit search and the metrics summary: admins read everything, senior
    checkers their own projects, nobody else anything.
    """
    if p.admin:
        return None
    own = senior_projects(p)
    if not own:
        raise Forbidden("only admins and senior checkers may read the audit log and metrics")
    if project is not None and project not in own:
        raise Forbidden(f"you are not a senior checker of project {project}")
    return own


def conditions(p: Principal, q: AuditQuery) -> list[ColumnElement[bool]]:
    if q.since and q.until and q.since >= q.until:
        raise ValidationFailed(
            "since must be before until", errors=[FieldError("/since", "not before until")]
        )
    e = AuditEvent
    where: list[ColumnElement[bool]] = []
    scope = reader_scope(p, q.project)
    if scope is not None:
        where.append(e.project_id.in_(scope))
    if q.project:
        where.append(e.project_id == q.project)
    if q.request:
        where.append(e.request_id == q.request)
    if q.actor:
        where.append(e.actor == q.actor)
    if q.type:
        if q.type.endswith("*"):
            prefix = q.type[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(e.type.like(prefix + "%", escape="\\"))
        else:
            where.append(e.type == q.type)
    if q.since:
        where.append(e.created_at >= q.since)
    if q.until:
        where.append(e.created_at < q.until)
    return where


def record_out(ev: AuditEvent) -> AuditRecordOut:
    return AuditRecordOut(
        seq=ev.seq,
        created_at=ev.created_at,
        type=ev.type,
        actor=ev.actor,
        actor_id=ev.actor_id,
        project=ev.project_id,
        request=ev.request_id,
        object=ev.object_id,
        payload=ev.payload,
        correlation_id=ev.correlation_id,
        prev_hash=ev.prev_hash,
        hash=ev.hash,
    )


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        value = int(cursor)
    except ValueError:
        value = -1
    if value < 0:
        raise ValidationFailed(
            "invalid cursor", errors=[FieldError("/cursor", "not a cursor from this API")]
        )
    return value


class AuditSearch:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def page(
        self, p: Principal, q: AuditQuery, *, cursor: str | None = None, limit: int = 100
    ) -> AuditPage:
        limit = max(1, min(limit, MAX_PAGE))
        where = conditions(p, q)
        before = parse_cursor(cursor)
        if before is not None:
            where.append(AuditEvent.seq < before)
        stmt = select(AuditEvent).where(*where).order_by(AuditEvent.seq.desc()).limit(limit + 1)
        async with self.ctx.sessions() as session:
            rows: Sequence[AuditEvent] = (await session.scalars(stmt)).all()
        page = rows[:limit]
        more = len(rows) > limit
        return AuditPage(
            items=[record_out(ev) for ev in page],
            next_cursor=str(page[-1].seq) if more and page else None,
        )


#: What an export carries: every field the chain hash covers, so a file can be checked offline,
#: and the keyed MAC columns where the log has them (services/audit.py).
EXPORT_COLUMNS: tuple[Any, ...] = (
    AuditEvent.seq,
    AuditEvent.created_at,
    AuditEvent.type,
    AuditEvent.actor_id,
    AuditEvent.actor,
    AuditEvent.project_id,
    AuditEvent.request_id,
    AuditEvent.object_id,
    AuditEvent.payload,
    AuditEvent.correlation_id,
    AuditEvent.prev_hash,
    AuditEvent.hash,
    *(
        column
        for column in (getattr(AuditEvent, "key_id", None), getattr(AuditEvent, "mac", None))
        if column is not None
    ),
)


async def request_timeline(ctx: Context, p: Principal, rid: str) -> list[TimelineEntry]:
    """A request's audit events with each one's chain status: its own hash recomputed, and its
    ``prev_hash`` equal to the stored hash of the event before it in the whole chain."""
    from ..orm import AirlockRequest
    from . import access
    from .audit import GENESIS_HASH, _hash_of

    async with ctx.sessions() as session:
        access.require_view(p, await session.get(AirlockRequest, rid))
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.request_id == rid).order_by(AuditEvent.seq)
            )
        )
        prev_seqs = [ev.seq - 1 for ev in events if ev.seq > 1]
        before = dict(
            (
                await session.execute(
                    select(AuditEvent.seq, AuditEvent.hash).where(AuditEvent.seq.in_(prev_seqs))
                )
            ).all()
        )
    out = []
    for ev in events:
        linked = before.get(ev.seq - 1) if ev.seq > 1 else GENESIS_HASH
        recomputed = _hash_of(ev)
        out.append(
            TimelineEntry(
                event=record_out(ev), intact=recomputed == ev.hash and linked == ev.prev_hash
            )
        )
    return out
