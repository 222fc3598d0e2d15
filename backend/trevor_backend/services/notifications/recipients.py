"""Who hears about what: in-app notifications for request transitions.

Notifications are rows written in the transition's own transaction. The reconciler later
fans each undispatched row out to the outbox of every configured channel (email, webhook), so a
slow or failing channel never blocks a transition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...contract import CHECKER_ROLES, RequestStatus
from ...orm import AirlockRequest, Membership, Notification, User
from ...principal import Principal

S = RequestStatus

# Event type sent to the request's author when the request reaches a state.
AUTHOR_EVENTS: dict[RequestStatus, str] = {
    S.SUBMITTED: "submitted",
    S.HUMAN_REVIEW: "agent_report_ready",
    S.CHANGES_REQUESTED: "changes_requested",
    S.APPROVED: "approved",
    S.REJECTED: "rejected",
    S.RELEASED: "released",
}
# Event type sent to the project's checkers.
CHECKER_EVENTS: dict[RequestStatus, str] = {S.HUMAN_REVIEW: "review_needed"}


async def checkers_of(session: AsyncSession, project_id: str) -> list[str]:
    rows = await session.scalars(
        select(Membership.user_id).where(
            Membership.project_id == project_id,
            Membership.role.in_([r.value for r in CHECKER_ROLES]),
        )
    )
    return list(rows)


async def admin_ids(session: AsyncSession) -> list[str]:
    return list(await session.scalars(select(User.id).where(User.admin.is_(True))))


async def notify_users(
    session: AsyncSession,
    user_ids: list[str],
    event_type: str,
    request: AirlockRequest | None,
    payload: dict[str, Any] | None = None,
) -> list[Notification]:
    notes = [
        Notification(
            user_id=uid,
            event_type=event_type,
            request_id=request.id if request else None,
            payload={"title": request.title, "status": request.status} | (payload or {})
            if request
            else payload or {},
        )
        for uid in dict.fromkeys(user_ids)
    ]
    session.add_all(notes)
    await session.flush()
    return notes


async def on_transition(
    session: AsyncSession,
    request: AirlockRequest,
    old: RequestStatus,
    new: RequestStatus,
    actor: Principal,
) -> None:
    if (event := AUTHOR_EVENTS.get(new)) and request.created_by != actor.user_id:
        await notify_users(session, [request.created_by], event, request, {"from": old.value})
    if event := CHECKER_EVENTS.get(new):
        checkers = [c for c in await checkers_of(session, request.project_id) if c != actor.user_id]
        await notify_users(session, checkers, event, request, {"from": old.value})
