"""``GET /api/v1/audit``: the whole audit log for admins (senior checkers: their projects), as
JSON pages or a streamed CSV export."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from tornado import web
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from ..errors import FieldError, ValidationFailed
from ..runtime import Backend
from ..schemas import AuditPage, Problem
from ..services.audit_search import AuditQuery
from .base import BaseHandler
from .spec import operation

log = logging.getLogger(__name__)

FILTERS = {
    "project": "project id",
    "request": "request id",
    "actor": "username of who acted (or a system actor's name)",
    "type": "event type, or a namespace such as request.*",
    "since": "ISO 8601 time (inclusive); without an offset, UTC",
    "until": "ISO 8601 time (exclusive); without an offset, UTC",
}


def time_query(handler: BaseHandler, name: str) -> datetime | None:
    raw = handler.query(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} must be an ISO 8601 time",
            errors=[FieldError(f"/{name}", "not an ISO 8601 time, e.g. 2026-01-31T12:00:00Z")],
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def audit_query(handler: BaseHandler) -> AuditQuery:
    return AuditQuery(
        project=handler.query("project"),
        request=handler.query("request"),
        actor=handler.query("actor"),
        type=handler.query("type"),
        since=time_query(handler, "since"),
        until=time_query(handler, "until"),
    )


def wants_csv(handler: BaseHandler) -> bool:
    fmt = handler.query("format")
    if fmt is not None:
        if fmt not in ("json", "csv"):
            raise ValidationFailed(
                "format must be json or csv", errors=[FieldError("/format", "json | csv")]
            )
        return fmt == "csv"
    accept = handler.request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


class AuditSearchHandler(BaseHandler):
    @operation(
        "Admins (senior checkers: their projects): search the audit log, newest first; "
        "?format=csv or Accept: text/csv streams the whole selection oldest first as CSV with "
        "the chain hashes (docs/dashboard.md explains checking it offline)",
        tags="audit",
        query={
            **FILTERS,
            "cursor": "next_cursor of the previous page",
            "limit": "page size (1-1000, default 100)",
            "format": "json (default) | csv",
        },
        responses={200: AuditPage, 401: Problem, 403: Problem, 422: Problem},
    )
    async def get(self) -> None:
        q = audit_query(self)
        if not wants_csv(self):
            page = await self.backend.audit_search.page(
                self.principal,
                q,
                cursor=self.query("cursor"),
                limit=self.int_query("limit", 100),
            )
            self.write_json(page)
            return
        await stream_csv(self, q)


async def stream_csv(handler: web.RequestHandler, q: AuditQuery) -> None:
    """Stream the selection as CSV, flushing each piece before the next is read (backpressure:
    memory stays flat whatever the size of the selection and the speed of the client)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    # Set before the export starts; a refusal raised before the first byte clears them.
    handler.set_header("Content-Type", "text/csv; charset=utf-8")
    handler.set_header("Content-Disposition", f'attachment; filename="audit-{stamp}.csv"')

    async def sink(chunk: bytes) -> None:
        handler.write(chunk)
        await handler.flush()

    backend: Backend = handler.settings["trevor"]
    try:
        await backend.audit_export.write_csv(handler.current_user, q, sink)
    except StreamClosedError:
        return  # the client went away; the export stopped at the first write after that
    except Exception:
        if not handler._headers_written:
            raise
        # Half a file has gone out: close the connection so the client sees a broken
        # download, not a complete-looking file that ends early.
        log.exception("audit export failed after %s", handler.request.path)
        if isinstance(handler.request.connection, HTTP1Connection):
            handler.request.connection.close()
        return
    handler.finish()
