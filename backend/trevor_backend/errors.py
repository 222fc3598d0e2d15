"""Domain errors, rendered by the handlers as RFC 9457 ``application/problem+json``.

Services raise these; they know nothing of HTTP beyond the status code each one maps to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_BASE = "https://trevor.invalid/problems/"


@dataclass(frozen=True)
class FieldError:
    """One invalid input field; ``pointer`` is a JSON pointer (RFC 6901) into the body."""

    pointer: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"pointer": self.pointer, "detail": self.detail}


class TrevorError(Exception):
    status = 500
    slug = "internal"
    title = "Internal error"

    def __init__(
        self,
        detail: str = "",
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra

    def to_problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.to_dict() for e in self.errors]
        body.update(self.extra)
        return body


class BadRequest(TrevorError):
    status = 400
    slug = "bad-request"
    title = "Bad request"


class ValidationFailed(TrevorError):
    status = 422
    slug = "validation"
    title = "Invalid input"


class Unauthorized(TrevorError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Forbidden(TrevorError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class NotFound(TrevorError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(TrevorError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class IllegalTransition(Conflict):
    slug = "illegal-transition"
    title = "Action not allowed in the request's current state"

    def __init__(self, action: str, current: str) -> None:
        super().__init__(
            f"cannot {action} a request in state {current}", current_state=current, action=action
        )


class RoleConflict(Conflict):
    slug = "role-conflict"
    title = "A user cannot be researcher and checker on the same project"


class PayloadTooLarge(TrevorError):
    status = 413
    slug = "too-large"
    title = "Payload too large"


class ChecksumMismatch(ValidationFailed):
    slug = "checksum-mismatch"
    title = "Checksum mismatch"


class RateLimited(TrevorError):
    status = 429
    slug = "rate-limited"
    title = "Too many requests"


class Unavailable(TrevorError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


class IntegrityFailed(Conflict):
    """An object's stored bytes are missing or no longer match the sha256 recorded at upload:
    the record and the store disagree, so nothing is served (admins are alerted)."""

    slug = "integrity"
    title = "Stored bytes do not match the record"
