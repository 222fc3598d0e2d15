"""The one function that moves an airlock request between states (SPEC §4).

Every transition — by a researcher, a checker, an admin or the reconciler — goes through
:func:`transition`, which checks the move is legal and the actor allowed, writes the audit
event, keeps the request's metrics milestones and queues the notifications, all in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..contract import TERMINAL_STATUSES, Direction, RequestStatus
from ..errors import Forbidden, IllegalTransition
from ..orm import AirlockRequest, RequestRound, Review, utcnow
from ..principal import Principal
from . import audit
from .access import RequestFacts
from .notifications import recipients

S = RequestStatus
Who = Callable[[Principal, RequestFacts], bool]


def _author(p: Principal, r: RequestFacts) -> bool:
    return p.user_id is not None and p.user_id == r.created_by


def _author_or_admin(p: Principal, r: RequestFacts) -> bool:
    return _author(p, r) or p.admin


def _ingress_owner(p: Principal, r: RequestFacts) -> bool:
    # Ingress requests are opened by an admin or senior checker on the researcher's behalf.
    return r.direction == Direction.INGRESS and (
        _author(p, r) or p.admin or p.is_senior_checker(r.project_id)
    )


def _system(p: Principal, r: RequestFacts) -> bool:
    return p.is_system


def _checker_or_system(p: Principal, r: RequestFacts) -> bool:
    return p.is_system or p.is_checker(r.project_id)


def _any(*whos: Who) -> Who:
    return lambda p, r: any(w(p, r) for w in whos)


@dataclass(frozen=True)
class Rule:
    sources: frozenset[RequestStatus]
    targets: frozenset[RequestStatus]
    who: Who
    event: str


NON_TERMINAL = frozenset(set(S) - TERMINAL_STATUSES)

RULES: dict[str, Rule] = {
    "submit": Rule(
        frozenset({S.DRAFT}),
        frozenset({S.SUBMITTED}),
        _any(_author, _ingress_owner),
        "request.submitted",
    ),
    "resubmit": Rule(
        frozenset({S.CHANGES_REQUESTED}),
        frozenset({S.SUBMITTED}),
        _any(_author, _ingress_owner),
        "request.resubmitted",
    ),
    "withdraw": Rule(NON_TERMINAL, frozenset({S.WITHDRAWN}), _author_or_admin, "request.withdrawn"),
    "start_agent_review": Rule(
        frozenset({S.SUBMITTED}),
        frozenset({S.AGENT_REVIEW}),
        _system,
        "request.agent_review_started",
    ),
    "finish_agent_review": Rule(
        frozenset({S.AGENT_REVIEW}),
        frozenset({S.HUMAN_REVIEW}),
        _system,
        "request.agent_review_completed",
    ),
    # Triggered by the checker whose review completes the required count.
    "decide": Rule(
        frozenset({S.HUMAN_REVIEW}),
        frozenset({S.APPROVED, S.CHANGES_REQUESTED, S.REJECTED}),
        _checker_or_system,
        "request.decided",
    ),
    "start_release": Rule(
        frozenset({S.APPROVED}), frozenset({S.RELEASING}), _system, "release.started"
    ),
    "finish_release": Rule(
        frozenset({S.RELEASING}), frozenset({S.RELEASED}), _system, "release.created"
    ),
    # A failed release (e.g. a checksum mismatch) returns the request to APPROVED for an admin
    # to investigate; the reason is in the audit payload.
    "fail_release": Rule(
        frozenset({S.RELEASING}), frozenset({S.APPROVED}), _system, "release.failed"
    ),
    # Ingress has no package: an approved ingress request is RELEASED once its files have
    # reached the researchers' workspaces (services/deliveries.py, docs/ingress.md).
    "deliver": Rule(
        frozenset({S.APPROVED}),
        frozenset({S.RELEASED}),
        lambda p, r: p.is_system and r.direction == Direction.INGRESS,
        "ingress.delivered",
    ),
}


def allowed_actions(p: Principal, r: RequestFacts) -> list[str]:
    """The user-facing actions ``p`` may take on ``r`` now (for clients to offer buttons)."""
    return [
        name
        for name in ("submit", "resubmit", "withdraw")
        if S(r.status) in RULES[name].sources and RULES[name].who(p, r)
    ]


async def transition(
    session: AsyncSession,
    request: AirlockRequest,
    action: str,
    actor: Principal,
    *,
    to: RequestStatus | None = None,
    payload: dict[str, Any] | None = None,
) -> AirlockRequest:
    """Apply ``action`` to ``request`` inside the caller's transaction.

    The caller must hold the request row locked (``services.requests.lock``) so that two
    concurrent actions cannot both see the same source state.
    """
    rule = RULES[action]
    current = S(request.status)
    if current not in rule.sources:
        raise IllegalTransition(action, current)
    if not rule.who(actor, request):
        raise Forbidden(f"{actor.name} may not {action} this request")
    if to is None:
        if len(rule.targets) != 1:
            raise ValueError(f"action {action} needs an explicit target state")
        (to,) = rule.targets
    elif to not in rule.targets:
        raise ValueError(f"{action} cannot lead to {to}")

    now = utcnow()
    if action == "resubmit":
        request.revision += 1
    if to == S.SUBMITTED:
        request.submitted_at = now
    if to in TERMINAL_STATUSES:
        request.closed_at = now
    request.status = to
    request.updated_at = now
    # A transition ends whatever background work was leased on the old state.
    request.lease_owner = None
    request.lease_expires_at = None
    request.attempts = 0

    event = rule.event if action != "decide" else f"request.{to.value.lower()}"
    recorded = await audit.record(
        session,
        event,
        actor,
        project_id=request.project_id,
        request_id=request.id,
        payload={"from": current.value, "to": to.value, "revision": request.revision}
        | (payload or {}),
    )
    await _milestones(session, request, action, to, recorded.created_at, payload or {})
    await recipients.on_transition(session, request, current, to, actor)
    return request


async def _milestones(
    session: AsyncSession,
    request: AirlockRequest,
    action: str,
    to: RequestStatus,
    at: datetime,
    payload: dict[str, Any],
) -> None:
    """Keep the metrics' milestones (docs/dashboard.md "Metrics") with the audit event's own
    time, so the summary read from them equals one computed from the audit log."""
    if action == "submit" and request.first_submitted_at is None:
        request.first_submitted_at = at
    elif action == "finish_agent_review":
        (await _round(session, request)).agent_recommendation = payload.get("recommendation")
    elif action == "decide":
        round_ = await _round(session, request)
        round_.decision, round_.decided_at = to.value.lower(), at
        if request.first_decided_at is None:
            request.first_decided_at = at
    elif action in ("finish_release", "deliver") and request.released_at is None:
        request.released_at = at


async def _round(session: AsyncSession, request: AirlockRequest) -> RequestRound:
    key = (request.id, request.revision)
    found = await session.get(RequestRound, key)
    if found is None:
        found = RequestRound(request_id=request.id, revision=request.revision)
        session.add(found)
    return found


def note_human_review(
    request: AirlockRequest, review: Review, reviews: list[Review], at: datetime
) -> None:
    """A checker's review is not a transition, but its time is a milestone (the first human
    review); ``services.reviews`` calls this with the request's human reviews (this one
    included) and the time of its ``review.submitted`` event."""
    if request.first_reviewed_at is None:
        request.first_reviewed_at = at
    review.first_by_reviewer = not any(
        rv.reviewer_id == review.reviewer_id and rv.id != review.id for rv in reviews
    )
