"""Airlock requests: create, list, read, transitions, per-request audit."""

from __future__ import annotations

from ..contract import Direction, RequestStatus
from ..errors import FieldError, ValidationFailed
from ..schemas import AuditList, Problem, RequestCreate, RequestList, RequestOut
from .base import BaseHandler
from .spec import Responses, operation

_ERRORS = {401: Problem, 404: Problem}


class RequestsHandler(BaseHandler):
    one_read_session = True
    lean_read = True

    @operation(
        "Open a new airlock request",
        tags="requests",
        body=RequestCreate,
        responses={201: RequestOut, 403: Problem, 422: Problem, **_ERRORS},
    )
    async def post(self) -> None:
        body = self.parse(RequestCreate)
        out = await self.backend.requests.create(self.principal, body)
        self.set_header("Location", f"/api/v1/requests/{out.id}")
        self.write_json(out, 201)

    @operation(
        "Requests the caller may see, newest first",
        tags="requests",
        query={
            "project": "project id",
            "status": "request status",
            "direction": "egress | ingress",
            "limit": "page size (1-200, default 50)",
            "cursor": "next_cursor of the previous page",
            "stuck": "true: only requests waiting longer than the stuck-request SLA",
            "older_than": (
                "only requests in their current state longer than this: 90m, 12h, 3d "
                "(at most 36500d)"
            ),
        },
        responses={200: RequestList, 422: Problem, 401: Problem},
    )
    async def get(self) -> None:
        out = await self.backend.requests.list_json(
            self.principal,
            project=self.query("project"),
            status=self.enum_query("status", RequestStatus),
            direction=self.enum_query("direction", Direction),
            limit=self.int_query("limit", 50),
            cursor=self.query("cursor"),
            stuck=self.query("stuck") in ("true", "1"),
            older_than=duration_query(self, "older_than"),
        )
        self.write_json_bytes(out)


#: The longest duration a query may give, in seconds: a hundred years.
MAX_DURATION = 36500 * 86400


def duration_query(handler: BaseHandler, name: str) -> float | None:
    """A duration such as ``90m``, ``12h``, ``3d`` or plain seconds, in seconds."""
    raw = handler.query(name)
    if raw is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units else (raw, "s")
    if not number.isascii() or not number.isdigit() or len(number) > 9:
        raise ValidationFailed(
            f"{name} must be a duration",
            errors=[FieldError(f"/{name}", "a whole number with s, m, h, d or w: 12h, 3d")],
        )
    seconds = int(number) * units[unit]
    if seconds > MAX_DURATION:
        # Further back than any request can be, and past what a date can subtract.
        raise ValidationFailed(
            f"{name} is too long",
            errors=[FieldError(f"/{name}", "at most 36500d (a hundred years)")],
        )
    return float(seconds)


class RequestHandler(BaseHandler):
    one_read_session = True
    lean_read = True

    @operation(
        "One request with its current objects",
        tags="requests",
        responses={200: RequestOut, **_ERRORS},
    )
    async def get(self, rid: str) -> None:
        self.write_json_bytes(await self.backend.requests.get_json(self.principal, rid))


class TransitionHandler(BaseHandler):
    """POST /requests/{rid}/{submit|resubmit|withdraw}: the researcher's transitions."""

    action = ""

    async def post(self, rid: str) -> None:
        self.write_json(await self.backend.requests.act(self.principal, rid, self.action))


_TRANSITION_RESPONSES: Responses = {
    200: RequestOut,
    403: Problem,
    409: Problem,
    422: Problem,
    **_ERRORS,
}


class SubmitHandler(TransitionHandler):
    action = "submit"

    @operation("Submit a draft for review", tags="requests", responses=_TRANSITION_RESPONSES)
    async def post(self, rid: str) -> None:
        await super().post(rid)


class ResubmitHandler(TransitionHandler):
    action = "resubmit"

    @operation(
        "Resubmit after changes were requested (revision + 1)",
        tags="requests",
        responses=_TRANSITION_RESPONSES,
    )
    async def post(self, rid: str) -> None:
        await super().post(rid)


class WithdrawHandler(TransitionHandler):
    action = "withdraw"

    @operation(
        "Withdraw a request that is not yet finished",
        tags="requests",
        responses=_TRANSITION_RESPONSES,
    )
    async def post(self, rid: str) -> None:
        await super().post(rid)


class RequestAuditHandler(BaseHandler):
    @operation(
        "The request's audit events, oldest first",
        tags="audit",
        query={"after": "sequence number to continue after", "limit": "page size (max 1000)"},
        responses={200: AuditList, **_ERRORS},
    )
    async def get(self, rid: str) -> None:
        out = await self.backend.requests.audit_log(
            self.principal,
            rid,
            limit=self.int_query("limit", 100),
            after=self.int_query("after", 0),
        )
        self.write_json(out)
