"""The base of every API handler: authentication, problem+json errors, JSON in and out.

Handlers translate between HTTP and the services; they hold no domain rules.
"""

from __future__ import annotations

import json
import logging
import uuid
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tornado import web

from ..errors import PROBLEM_BASE, FieldError, TrevorError, Unauthorized, ValidationFailed
from ..principal import Principal, correlation_id

log = logging.getLogger("trevor_backend.web")
M = TypeVar("M", bound=BaseModel)


def pointer(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as an RFC 6901 JSON pointer."""
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in loc]
    return "/" + "/".join(parts)


def validation_problem(
    exc: ValidationError, detail: str = "invalid request body"
) -> ValidationFailed:
    return ValidationFailed(
        detail, errors=[FieldError(pointer(e["loc"]), e["msg"]) for e in exc.errors()]
    )


class BaseHandler(web.RequestHandler):
    #: set on handlers that answer without a token (health, readiness)
    public = False

    @property
    def backend(self) -> Any:
        return self.settings["trevor"]

    @property
    def ctx(self) -> Any:
        return self.backend.ctx

    @property
    def principal(self) -> Principal:
        assert isinstance(self.current_user, Principal)
        return self.current_user

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    async def prepare(self) -> None:
        cid = self.request.headers.get("X-Request-ID") or uuid.uuid4().hex
        correlation_id.set(cid[:64])
        self.set_header("X-Request-ID", cid[:64])
        async with self.ctx.sessions.begin() as session:
            self.current_user = await self.backend.authenticator.authenticate(self.request, session)
        if self.current_user is None and not self.public:
            raise Unauthorized(
                "send an API token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="trevor"'},
            )
        limiter = self.backend.rate_limiter
        if limiter is not None and self.current_user is not None:
            limiter.check(self.principal.name)

    # --- input ---------------------------------------------------------------------------

    def json_body(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            from ..errors import BadRequest

            raise BadRequest(f"malformed JSON: {exc}") from exc

    def parse(self, model: type[M]) -> M:
        data = self.json_body()
        if not isinstance(data, dict):
            raise ValidationFailed(
                "the request body must be a JSON object", errors=[FieldError("", "not an object")]
            )
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise validation_problem(exc) from exc

    def query(self, name: str, default: str | None = None) -> str | None:
        value = self.get_query_argument(name, default)
        return value if value != "" else default

    def int_query(self, name: str, default: int) -> int:
        raw = self.query(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise ValidationFailed(
                f"{name} must be an integer", errors=[FieldError(f"/{name}", "not an integer")]
            ) from exc

    def enum_query(self, name: str, enum: type[Any]) -> Any:
        raw = self.query(name)
        if raw is None:
            return None
        try:
            return enum(raw)
        except ValueError as exc:
            allowed = ", ".join(e.value for e in enum)
            raise ValidationFailed(
                f"invalid {name}", errors=[FieldError(f"/{name}", f"one of: {allowed}")]
            ) from exc

    # --- output --------------------------------------------------------------------------

    def write_json(self, data: Any, status: int = 200) -> None:
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps(data))

    def write_problem(self, problem: dict[str, Any]) -> None:
        self.set_status(problem["status"])
        self.set_header("Content-Type", "application/problem+json")
        self.finish(json.dumps(problem))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TrevorError):
            for name, value in exc.headers.items():
                self.set_header(name, value)
            self.write_problem(exc.to_problem())
            return
        if isinstance(exc, web.HTTPError):
            status_code = exc.status_code
            detail = exc.log_message or HTTPStatus(status_code).phrase
        else:
            detail = HTTPStatus(status_code).phrase
        if status_code >= 500:
            # Never leak internals; the correlation id ties the answer to the log line.
            detail = f"internal error (request id {correlation_id.get()})"
        self.write_problem(
            {
                "type": PROBLEM_BASE + HTTPStatus(status_code).phrase.lower().replace(" ", "-"),
                "title": HTTPStatus(status_code).phrase,
                "status": status_code,
                "detail": detail,
            }
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, TrevorError):
            log.info("%s %s -> %s %s", self.request.method, self.request.path, value.status, value)
        else:
            super().log_exception(typ, value, tb)


class NotFoundHandler(BaseHandler):
    public = True

    async def prepare(self) -> None:
        await super().prepare()
        raise web.HTTPError(404, "no such endpoint")
