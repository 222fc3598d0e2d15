"""The base of every API handler: authentication, problem+json errors, JSON in and out.

Handlers translate between HTTP and the services; they hold no domain rules.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tornado import web
from tornado.http1connection import HTTP1Connection

from ..errors import (
    PROBLEM_BASE,
    BadRequest,
    FieldError,
    PayloadTooLarge,
    TrevorError,
    Unauthorized,
    ValidationFailed,
)
from ..principal import correlation_id
from .request import TrevorRequestHandler

log = logging.getLogger("trevor_backend.web")
M = TypeVar("M", bound=BaseModel)

#: Deepest JSON nesting accepted: no API model comes close, and Python's parser (and every
#: consumer of stored JSON) recurses, so depth is refused before it can exhaust the stack.
MAX_JSON_DEPTH = 64
#: Largest integer a query parameter may hold: the range of a database BIGINT.
MAX_QUERY_INT = 2**63 - 1
#: Bytes read and discarded past the body limit so the client receives our 413 instead of a
#: reset connection; a body that is larger still ends the connection (Tornado's 400).
DISCARD_MARGIN = 4 << 20
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON, computed without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def strict_int(raw: str, *, minimum: int = 0, maximum: int = MAX_QUERY_INT) -> int | None:
    """``raw`` as an integer in ``[minimum, maximum]``, or None: ASCII digits only, because
    ``int()`` also accepts other scripts' digits, underscores and surrounding spaces, and
    ``str.isdigit()`` accepts superscripts that ``int()`` then refuses."""
    if not _ASCII_INT.fullmatch(raw):
        return None
    value = int(raw)
    return value if minimum <= value <= maximum else None


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


@web.stream_request_body
class BaseHandler(TrevorRequestHandler):
    """Bodies are streamed into a bounded buffer (``data_received``) rather than read whole
    by Tornado, so an oversized body gets a 413 problem (and nothing runs) instead of
    Tornado's bare 400 and a closed connection. Upload handlers override ``data_received``
    and set their own limit."""

    #: set on handlers that answer without a token (health, readiness)
    public = False
    #: set on read-only handlers whose GET authenticates and reads in one database session
    #: (``Sessions.shared_reads``); not for streaming handlers, whose session would stay open
    one_read_session = False
    #: set on handlers whose GET is served by the lean read path when the backend has one
    #: (``ctx.reads``): the caller is authenticated through it too, and no session is opened
    lean_read = False
    _body_chunks: list[bytes] | None = None
    _body_size = 0
    _body_too_large = False
    #: the task running this request (Tornado runs each request's ``_execute`` as a task)
    _task: asyncio.Task[Any] | None = None
    _client_gone = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every verb first refuses a body that went past the limit while streaming; the
        # check runs before the verb so an oversized request changes nothing.
        for verb in VERBS:
            fn = cls.__dict__.get(verb.lower())
            if fn is not None and not getattr(fn, "_checks_body", False):
                setattr(cls, verb.lower(), _checking_body(fn))

    def compute_etag(self) -> str | None:
        # An answer marked "no-store" is kept by no client, so none revalidates it: Tornado's
        # default SHA-1 of its body (25 µs for a page of 50 requests) would buy nothing.
        if self._headers.get("Cache-Control") == "no-store":
            return None
        return super().compute_etag()

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")

    async def _execute(self, *args: Any, **kwargs: Any) -> None:
        # Wraps Tornado's request coroutine so a client that disconnects stops the work done
        # for it (on_connection_close cancels this task): no queries or renders for nobody.
        self._task = asyncio.current_task()
        try:
            if self.one_read_session and self.request.method in ("GET", "HEAD") and not self._lean:
                async with self.ctx.sessions.shared_reads():
                    await super()._execute(*args, **kwargs)
            else:
                await super()._execute(*args, **kwargs)
        except asyncio.CancelledError:
            if not self._client_gone:
                raise
            log.info(
                "%s %s: client disconnected, work cancelled", self.request.method, self.request.path
            )

    def on_connection_close(self) -> None:
        # Event streams override this and end their own work; uploads also discard their bytes.
        super().on_connection_close()
        self._client_gone = True
        task = self._task
        if task is not None and not self._finished and task is not asyncio.current_task():
            task.cancel()

    @property
    def _lean(self) -> bool:
        return (
            self.lean_read and self.ctx.reads is not None and self.request.method in ("GET", "HEAD")
        )

    async def prepare(self) -> None:
        self.set_header("X-Request-ID", self.correlate())
        authenticator = self.backend.authenticator
        if self._lean:
            assert self.ctx.reads is not None
            self.current_user = await authenticator.authenticate_read(self.request, self.ctx.reads)
        else:
            # A read session: authenticating never takes the write lock (see auth/tokens.py).
            async with self.ctx.sessions() as session:
                self.current_user = await authenticator.authenticate(self.request, session)
        if self.current_user is None and not self.public:
            raise Unauthorized(
                "send an API token as 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": 'Bearer realm="trevor"'},
            )
        limiter = self.backend.rate_limiter
        if limiter is not None and self.current_user is not None:
            path, method = self.request.path, self.request.method or "GET"
            for name, value in (await limiter.check(self.principal.name, method, path)).items():
                self.set_header(name, value)
        if type(self).data_received is BaseHandler.data_received:
            self._limit_body()

    def _limit_body(self) -> None:
        limit = self.ctx.settings.max_body_size
        declared = self.request.headers.get("Content-Length")
        if declared is not None and (strict_int(declared) or 0) > limit + DISCARD_MARGIN:
            raise PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes")
        self._body_chunks = []
        self.set_body_limit(limit + DISCARD_MARGIN)

    def set_body_limit(self, limit: int) -> None:
        """Tornado's own limit on this request's body (HTTP/1 connections hold one)."""
        if isinstance(self.request.connection, HTTP1Connection):
            self.request.connection.set_max_body_size(limit)

    async def data_received(self, chunk: bytes) -> None:
        if self._body_chunks is None:
            return
        self._body_size += len(chunk)
        if self._body_size > self.ctx.settings.max_body_size:
            # Keep reading (and discarding) so the client gets the 413, not a reset.
            self._body_too_large = True
            self._body_chunks.clear()
        elif not self._body_too_large:
            self._body_chunks.append(chunk)

    async def check_body(self) -> None:
        """Called before every verb: the streamed body is complete here."""
        if self._body_too_large:
            limit = self.ctx.settings.max_body_size
            raise PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes")
        if self._body_chunks is not None:
            self.request.body = b"".join(self._body_chunks)
            self._body_chunks = None

    # --- input ---------------------------------------------------------------------------

    def json_body(self) -> Any:
        try:
            data = json.loads(self.request.body or b"null")
        except RecursionError as exc:
            raise _too_deep() from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest(f"malformed JSON: {exc}") from exc
        if json_depth(data) > MAX_JSON_DEPTH:
            raise _too_deep()
        return data

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

    def raw_query(self, name: str) -> str | None:
        """The last value of query parameter ``name`` exactly as sent (percent-decoded only).

        ``get_query_argument`` turns NUL into a space and strips whitespace, which would let
        a file name be rewritten silently before it is validated."""
        values = self.request.query_arguments.get(name)
        if not values:
            return None
        try:
            return values[-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                f"{name} is not UTF-8", errors=[FieldError(f"/{name}", "not valid UTF-8")]
            ) from exc

    def content_length(self) -> int | None:
        """The declared body length, when it is a plain ASCII number."""
        raw = self.request.headers.get("Content-Length")
        return strict_int(raw) if raw is not None else None

    def int_query(
        self, name: str, default: int, *, minimum: int = 0, maximum: int = MAX_QUERY_INT
    ) -> int:
        raw = self.query(name)
        if raw is None:
            return default
        value = strict_int(raw, minimum=minimum, maximum=maximum)
        if value is None:
            why = f"an integer from {minimum} to {maximum} (ASCII digits)"
            raise ValidationFailed(f"{name} must be {why}", errors=[FieldError(f"/{name}", why)])
        return value

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
        # pydantic serialises a model straight to JSON bytes in Rust: a page of 50 requests
        # costs a fraction of model_dump() followed by json.dumps().
        body = data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(body)

    def write_json_bytes(self, body: bytes, status: int = 200) -> None:
        """JSON the services already serialised (the lean read path)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(body)

    def write_problem(self, problem: dict[str, Any]) -> None:
        self.set_status(problem["status"])
        self.set_header("Content-Type", "application/problem+json")
        self.finish(json.dumps(problem))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code == 405 or getattr(exc, "status_code", None) == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
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

    def allowed_methods(self) -> list[str]:
        base = web.RequestHandler
        return [v for v in VERBS if getattr(type(self), v.lower()) is not getattr(base, v.lower())]

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, TrevorError):
            log.info("%s %s -> %s %s", self.request.method, self.request.path, value.status, value)
        else:
            super().log_exception(typ, value, tb)


def _too_deep() -> ValidationFailed:
    return ValidationFailed(
        f"JSON nested deeper than {MAX_JSON_DEPTH} levels",
        errors=[FieldError("", f"nesting deeper than {MAX_JSON_DEPTH}")],
    )


def _checking_body(fn: Any) -> Any:
    @functools.wraps(fn)
    async def verb(self: BaseHandler, *args: Any, **kwargs: Any) -> Any:
        await self.check_body()
        return await fn(self, *args, **kwargs)

    verb._checks_body = True  # type: ignore[attr-defined]
    return verb


class NotFoundHandler(BaseHandler):
    public = True

    async def prepare(self) -> None:
        await super().prepare()
        raise web.HTTPError(404, "no such endpoint")
