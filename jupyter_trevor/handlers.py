"""HTTP handlers of the server extension, all under ``<base_url>/trevor/``.

Thin on purpose: parse, call the backend client / workspace / inbox code, serialise. Every verb
is ``@tornado.web.authenticated`` (Jupyter's own login); every error is ``application/problem+
json``, and a problem the backend sent is relayed unchanged so the panel can show its detail and
field errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado.httputil import HTTPHeaders

from ._version import __version__
from .client import (
    PROBLEM_CONTENT_TYPE,
    BackendClient,
    BackendUnreachable,
    LocalOutput,
    TrevorClientError,
    problem,
    upload_output,
)
from .inbox import DeliveryResult, list_inbox

try:  # the shared contract; the backend may be absent in a researcher-only install
    from trevor_backend.contract import API_VERSION
except ImportError:  # pragma: no cover
    API_VERSION = "1"

# The REST API generation the frontend is written against; bump with incompatible changes to
# the /trevor/* endpoints below. The frontend compares it in the version handshake.
EXTENSION_API = "1"

_SAFE_PROXY_PATH = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


class TrevorServer(Protocol):
    """What the handlers use of the extension app (``extension.TrevorExtensionApp``, which
    routes to them, so they do not import it back)."""

    @property
    def client(self) -> BackendClient: ...
    @property
    def request_timeout(self) -> float: ...
    @property
    def workspace(self) -> Path: ...
    @property
    def backend_url(self) -> str: ...
    @property
    def project(self) -> str: ...
    @property
    def inbox_dir(self) -> str: ...
    async def deliver_inbox(self) -> list[DeliveryResult]: ...


class TrevorHandler(ExtensionHandlerMixin, APIHandler):
    @property
    def trevor(self) -> TrevorServer:
        app: TrevorServer = self.settings["trevor"]
        return app

    def write_problem(self, status: int, body: dict[str, Any]) -> None:
        self.set_status(status)
        self.finish(json.dumps(body), set_content_type=PROBLEM_CONTENT_TYPE)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Uncaught errors (including tornado's HTTPError) become problem+json too.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TrevorClientError):
            self.write_problem(exc.status, exc.problem)
            return
        reason = getattr(exc, "log_message", None) or self._reason
        self.write_problem(
            status_code,
            problem(status_code, "http-error", self._reason, str(reason) if reason else ""),
        )

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise TrevorClientError(
                400, problem(400, "bad-request", "Bad request", f"Body is not JSON: {exc}")
            ) from exc
        if not isinstance(body, dict):
            raise TrevorClientError(
                400, problem(400, "bad-request", "Bad request", "Body must be a JSON object")
            )
        return body


class VersionHandler(TrevorHandler):
    @tornado.web.authenticated
    def get(self) -> None:
        app = self.trevor
        self.finish(
            json.dumps(
                {
                    "version": __version__,
                    "api": EXTENSION_API,
                    "backend_api": API_VERSION,
                    "backend_configured": bool(app.backend_url),
                    "project": app.project or None,
                    "inbox_dir": app.inbox_dir,
                }
            )
        )


class ProxyHandler(TrevorHandler):
    """``/trevor/api/<path>`` → ``<backend>/api/v1/<path>`` with the server's token."""

    # Content-Type is set by finish(); hop-by-hop and auth headers are never relayed.
    RELAYED = ("Content-Disposition", "Cache-Control", "ETag", "Retry-After", "X-Trevor-Sha256")
    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True

    async def _proxy(self, _decoded: str) -> None:
        # Tornado hands us the path already percent-decoded; forward the raw one instead so an
        # id containing "%2F" stays one path segment at the backend.
        prefix = url_path_join(self.base_url, "trevor/api/")
        path = self.request.path[len(prefix) :] if self.request.path.startswith(prefix) else ""
        if not _SAFE_PROXY_PATH.match(path) or any(
            unquote(seg) in (".", "..") for seg in path.split("/")
        ):
            self.write_problem(400, problem(400, "bad-request", "Bad request", "Bad API path"))
            return
        url = self.trevor.client.api_url(path)
        if self.request.query:
            url += "?" + self.request.query
        headers = {
            k: v
            for k, v in self.request.headers.get_all()
            if k.lower() in ("content-type", "accept", "if-none-match", "x-trevor-sha256")
        }
        if self.request.method == "GET":
            await self._stream(url, headers)
            return
        body = self.request.body if self.request.method in ("POST", "PUT", "PATCH") else None
        response = await self.trevor.client.fetch_url(
            self.request.method or "GET", url, body=body, headers=headers, raise_for_status=False
        )
        self.set_status(response.status)
        for name in self.RELAYED:
            if name in response.headers:
                self.set_header(name, response.headers[name])
        self.finish(response.body, set_content_type=response.content_type)

    async def _stream(self, url: str, headers: dict[str, str]) -> None:
        """GETs (object content can be large) are relayed chunk by chunk, not buffered."""
        status = 0
        upstream = HTTPHeaders()
        started = False

        def on_header(line: str) -> None:
            nonlocal status, upstream
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
                upstream = HTTPHeaders()  # a new response (e.g. after 100 Continue)
            elif line.strip():
                upstream.parse_line(line)

        def start() -> None:
            nonlocal started
            started = True
            self.set_status(status or 502)
            for name in self.RELAYED:
                if name in upstream:
                    self.set_header(name, upstream[name])
            self.set_header("Content-Type", upstream.get("Content-Type", "application/json"))

        def on_chunk(chunk: bytes) -> None:
            if self._client_gone:
                raise ConnectionAbortedError("browser went away")  # aborts the upstream fetch
            if not started:
                start()
            self.write(chunk)
            self.flush()

        await self.trevor.client.fetch_url(
            "GET",
            url,
            headers=headers,
            streaming_callback=on_chunk,
            header_callback=on_header,
            raise_for_status=False,
            request_timeout=max(self.trevor.request_timeout, 600.0),
        )
        if self._client_gone:
            return
        if not started:
            start()
        self.finish(set_content_type=self._headers.get("Content-Type", "application/json"))

    @tornado.web.authenticated
    async def get(self, path: str) -> None:
        await self._guard(self._proxy, path)

    @tornado.web.authenticated
    async def post(self, path: str) -> None:
        await self._guard(self._proxy, path)

    @tornado.web.authenticated
    async def put(self, path: str) -> None:
        await self._guard(self._proxy, path)

    @tornado.web.authenticated
    async def patch(self, path: str) -> None:
        await self._guard(self._proxy, path)

    @tornado.web.authenticated
    async def delete(self, path: str) -> None:
        await self._guard(self._proxy, path)

    async def _guard(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            await fn(*args)
        except TrevorClientError as exc:
            self.write_problem(exc.status, exc.problem)


class OutputsHandler(TrevorHandler):
    """The workspace manifest: list tagged outputs, or tag a notebook cell output."""

    @tornado.web.authenticated
    def get(self) -> None:
        from .workspace_outputs import list_workspace_outputs

        try:
            items = list_workspace_outputs(self.trevor.workspace)
        except TrevorClientError as exc:
            self.write_problem(exc.status, exc.problem)
            return
        self.finish(json.dumps({"items": items}, default=str))

    @tornado.web.authenticated
    def post(self) -> None:
        from .workspace_outputs import tag_cell_output

        try:
            body = self.json_body()
            record = tag_cell_output(self.trevor.workspace, body)
        except TrevorClientError as exc:
            self.write_problem(exc.status, exc.problem)
            return
        self.set_status(201)
        self.finish(json.dumps(record, default=str))


class UploadOutputHandler(TrevorHandler):
    """``POST /trevor/requests/{rid}/outputs/{output_id}[?replaces=OID]``."""

    @tornado.web.authenticated
    async def post(self, request_id: str, output_id: str) -> None:
        from .workspace_outputs import local_output

        try:
            output: LocalOutput = local_output(self.trevor.workspace, output_id)
            obj = await upload_output(
                self.trevor.client,
                request_id,
                output,
                replaces=self.get_argument("replaces", None) or None,
            )
        except TrevorClientError as exc:
            self.write_problem(exc.status, exc.problem)
            return
        self.set_status(201)
        self.finish(json.dumps(obj))


class EventsHandler(TrevorHandler):
    """Relays the backend's server-sent events (``/api/v1/events``), ``Last-Event-ID`` included."""

    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True

    @tornado.web.authenticated
    async def get(self) -> None:
        client = self.trevor.client
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        last_id = self.request.headers.get("Last-Event-ID")
        if last_id:
            headers["Last-Event-ID"] = last_id
        status = 0
        error_body: list[bytes] = []
        started = False

        def on_header(line: str) -> None:
            nonlocal status
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0

        def on_chunk(chunk: bytes) -> None:
            nonlocal started
            if self._client_gone:
                # Raising aborts the upstream request, so a closed tab frees its connection.
                raise ConnectionAbortedError("browser closed the event stream")
            if status >= 400:
                error_body.append(chunk)
                return
            if not started:
                started = True
                self.set_header("Content-Type", "text/event-stream")
                self.set_header("Cache-Control", "no-cache")
                self.set_header("X-Accel-Buffering", "no")
            self.write(chunk)
            self.flush()

        url = client.api_url("events")
        if self.request.query:
            url += "?" + self.request.query  # last_event_id, follow: the backend's options
        try:
            await client.fetch_url(
                "GET",
                url,
                headers=headers,
                streaming_callback=on_chunk,
                header_callback=on_header,
                raise_for_status=False,
                request_timeout=24 * 3600,
            )
        except BackendUnreachable as exc:
            if self._client_gone:
                return
            if not started:
                self.write_problem(exc.status, exc.problem)
                return
        except TrevorClientError as exc:
            if not started:
                self.write_problem(exc.status, exc.problem)
                return
        if status >= 400 and not started:
            raw = b"".join(error_body)
            try:
                body = json.loads(raw)
            except ValueError:
                body = problem(
                    status,
                    "backend-error",
                    f"Trevor backend error (HTTP {status})",
                    raw[:500].decode("utf-8", "replace"),
                )
            self.write_problem(status, body)
            return
        if not self._client_gone:
            self.finish(set_content_type="text/event-stream")


class InboxHandler(TrevorHandler):
    """``GET``: delivered files. ``POST``: deliver what the backend has approved, now."""

    @tornado.web.authenticated
    def get(self) -> None:
        app = self.trevor
        self.finish(
            json.dumps(
                {
                    "inbox_dir": app.inbox_dir,
                    "items": list_inbox(app.workspace, app.inbox_dir),
                }
            )
        )

    @tornado.web.authenticated
    async def post(self) -> None:
        app = self.trevor
        try:
            results = await app.deliver_inbox()
        except TrevorClientError as exc:
            self.write_problem(exc.status, exc.problem)
            return
        self.finish(
            json.dumps(
                {
                    "results": [r.to_json() for r in results],
                    "items": list_inbox(app.workspace, app.inbox_dir),
                }
            )
        )


class NotFoundHandler(TrevorHandler):
    """Unknown ``/trevor/…`` paths answer problem+json, not Jupyter's HTML 404 page."""

    def _nf(self, *args: Any) -> None:
        self.write_problem(404, problem(404, "not-found", "Not found", self.request.path))

    get = post = put = patch = delete = tornado.web.authenticated(_nf)
