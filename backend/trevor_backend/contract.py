"""Names shared by the backend, the Jupyter side and the TypeScript client.

Standard library only: the kernel and the server extension import this module, and the
OpenAPI file exports these enumerations for the TypeScript side.
"""

from __future__ import annotations

from enum import StrEnum

API_VERSION = "1"


class RequestStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    AGENT_REVIEW = "AGENT_REVIEW"
    HUMAN_REVIEW = "HUMAN_REVIEW"
    CHANGES_REQUESTED = "CHANGES_REQUESTED"
    APPROVED = "APPROVED"
    RELEASING = "RELEASING"
    RELEASED = "RELEASED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"


TERMINAL_STATUSES = frozenset(
    {RequestStatus.RELEASED, RequestStatus.REJECTED, RequestStatus.WITHDRAWN}
)
# States in which the researcher may change the request's contents.
EDITABLE_STATUSES = frozenset({RequestStatus.DRAFT, RequestStatus.CHANGES_REQUESTED})


class Direction(StrEnum):
    EGRESS = "egress"
    INGRESS = "ingress"


class ObjectState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


# Objects in these states are the request's "current" objects.
CURRENT_OBJECT_STATES = frozenset(
    {ObjectState.PENDING, ObjectState.APPROVED, ObjectState.CHANGES_REQUESTED, ObjectState.REJECTED}
)


class Role(StrEnum):
    RESEARCHER = "researcher"
    OUTPUT_CHECKER = "output_checker"
    SENIOR_CHECKER = "senior_checker"


CHECKER_ROLES = frozenset({Role.OUTPUT_CHECKER, Role.SENIOR_CHECKER})


class ReviewKind(StrEnum):
    AGENT = "agent"
    HUMAN = "human"


class Decision(StrEnum):
    APPROVE = "approve"
    CHANGES_REQUESTED = "changes_requested"
    REJECT = "reject"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
