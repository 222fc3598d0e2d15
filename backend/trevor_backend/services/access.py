"""Who may see and change which request. One place, so every endpoint agrees.

A request the caller may not see answers 404 (its existence is not leaked); a request the
caller may see but not change answers 403.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import ColumnElement, and_, false, or_, true

from ..contract import CHECKER_ROLES, Direction, RequestStatus, Role
from ..errors import Forbidden, NotFound
from ..orm import AirlockRequest
from ..principal import Principal
from ..reads.sql import Sql

# The states in which a project's researchers see an ingress request.
INGRESS_VISIBLE = frozenset({RequestStatus.APPROVED, RequestStatus.RELEASED})


class RequestFacts(Protocol):
    """What the access and transition rules read of a request: an ``orm.AirlockRequest`` or
    a row of the lean read path (``reads.render.LeanRequest``)."""

    @property
    def project_id(self) -> str: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def status(self) -> RequestStatus: ...
    @property
    def created_by(self) -> str: ...


def can_view(p: Principal, r: RequestFacts) -> bool:
    if p.admin or p.is_system:
        return True
    role = p.role_in(r.project_id)
    if role == Role.RESEARCHER:
        # Files coming in are unreviewed until approved: researchers see an ingress request
        # (and can read its files) only once the checkers have approved it (docs/ingress.md).
        return r.direction != Direction.INGRESS or r.status in INGRESS_VISIBLE
    if role in CHECKER_ROLES:
        # Checkers see a request once it is submitted; a senior checker also sees the
        # ingress requests they are preparing.
        return r.status != RequestStatus.DRAFT or (
            r.direction == Direction.INGRESS and role == Role.SENIOR_CHECKER
        )
    return False


def visible_filter(p: Principal) -> ColumnElement[bool]:
    """The SQL form of :func:`can_view`, for listings."""
    if p.admin or p.is_system:
        return true()
    researcher, checker, senior = _roles(p)
    clauses: list[ColumnElement[bool]] = []
    if researcher:
        clauses.append(
            and_(
                AirlockRequest.project_id.in_(researcher),
                or_(
                    AirlockRequest.direction != Direction.INGRESS,
                    AirlockRequest.status.in_(list(INGRESS_VISIBLE)),
                ),
            )
        )
    if checker:
        clauses.append(
            and_(
                AirlockRequest.project_id.in_(checker),
                AirlockRequest.status != RequestStatus.DRAFT,
            )
        )
    if senior:
        clauses.append(
            and_(
                AirlockRequest.project_id.in_(senior),
                AirlockRequest.direction == Direction.INGRESS,
            )
        )
    return or_(*clauses) if clauses else false()


def _roles(p: Principal) -> tuple[list[str], list[str], list[str]]:
    researcher = [pid for pid, role in p.roles.items() if role == Role.RESEARCHER]
    checker = [pid for pid, role in p.roles.items() if role in CHECKER_ROLES]
    senior = [pid for pid, role in p.roles.items() if role == Role.SENIOR_CHECKER]
    return researcher, checker, senior


def visible_sql(p: Principal, q: Sql) -> str:
    """:func:`visible_filter` as SQL text over requests aliased ``r``, for the lean read path.
    The same clauses, clause for clause; ``tests/backend/test_lean_reads.py`` checks all three
    forms agree on every combination of role, direction and status."""
    if p.admin or p.is_system:
        return "1 = 1"
    researcher, checker, senior = _roles(p)
    visible = ", ".join(f"'{s.value}'" for s in sorted(INGRESS_VISIBLE))
    ingress, draft = Direction.INGRESS.value, RequestStatus.DRAFT.value
    clauses = []
    if researcher:
        clauses.append(
            f"({q.any_of('r.project_id', researcher)}"
            f" AND (r.direction <> '{ingress}' OR r.status IN ({visible})))"
        )
    if checker:
        clauses.append(f"({q.any_of('r.project_id', checker)} AND r.status <> '{draft}')")
    if senior:
        clauses.append(f"({q.any_of('r.project_id', senior)} AND r.direction = '{ingress}')")
    return f"({' OR '.join(clauses)})" if clauses else "1 = 0"


def require_view(p: Principal, r: AirlockRequest | None) -> AirlockRequest:
    if r is None or not can_view(p, r):
        raise NotFound("request not found")
    return r


def is_owner(p: Principal, r: AirlockRequest) -> bool:
    """The researcher who made an egress request; for ingress, whoever may prepare it."""
    if r.direction == Direction.INGRESS:
        return p.admin or p.is_senior_checker(r.project_id) or p.user_id == r.created_by
    return p.user_id is not None and p.user_id == r.created_by


def require_owner(p: Principal, r: AirlockRequest | None) -> AirlockRequest:
    r = require_view(p, r)
    if not is_owner(p, r):
        raise Forbidden("only the request's author may change it")
    return r


def require_can_create(p: Principal, project_id: str, direction: Direction) -> None:
    if direction == Direction.EGRESS:
        if not p.is_researcher(project_id):
            raise Forbidden(f"you are not a researcher on project {project_id}")
    elif not (p.admin or p.is_senior_checker(project_id)):
        raise Forbidden("ingress requests are opened by an admin or a senior checker")
