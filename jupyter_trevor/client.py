"""The server extension's client for the trevor backend REST API (SPEC §9, ``/api/v1``).

The browser never talks to the backend: the Jupyter server extension does, with the user's
trevor token. This module holds everything that knows the backend's URL layout and error format,
so the Tornado handlers stay thin. It uses Tornado's ``AsyncHTTPClient`` only as a transport;
the domain steps (upload an output with evidence and metadata, check the stored sha256) are plain
``async`` functions over :class:`BackendClient` that tests drive against a real HTTP server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode, urljoin, urlsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

PROBLEM_BASE = "https://trevor.invalid/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
#: Bytes read (and hashed) per worker-thread hop while uploading: few hops, large socket writes.
UPLOAD_CHUNK_SIZE = 4 * 1024 * 1024
# Streamed downloads (deliveries, object content) may be large; buffered calls are small JSON.
MAX_BODY_SIZE = 16 * 1024**3

# Headers that describe one hop of an HTTP connection (RFC 9110 §7.6.1) or that the proxy sets
# itself; relaying them would corrupt the response the browser gets.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "authorization",
        "cookie",
        "set-cookie",
        "host",
    }
)


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem document in the backend's vocabulary (same ``type`` base)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    return body


class TrevorClientError(Exception):
    """A failure the handlers turn into a problem+json response with ``status``."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("detail") or body.get("title") or f"HTTP {status}")
        self.status = status
        self.problem = body


class BackendNotConfigured(TrevorClientError):
    def __init__(self) -> None:
        super().__init__(
            503,
            problem(
                503,
                "backend-not-configured",
                "Trevor backend not configured",
                "Set TREVOR_BACKEND_URL and TREVOR_TOKEN (or c.TrevorExtensionApp.backend_url "
                "and .token) for this Jupyter server.",
            ),
        )


class BackendUnreachable(TrevorClientError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            502,
            problem(
                502,
                "backend-unreachable",
                "Trevor backend unreachable",
                f"Could not reach the trevor backend at {url}: {reason}",
            ),
        )


class BackendError(TrevorClientError):
    """The backend answered with an error status; ``problem`` is its body (or a wrapper)."""


class IntegrityError(TrevorClientError):
    def __init__(self, detail: str) -> None:
        super().__init__(502, problem(502, "integrity", "Checksum mismatch", detail))


@dataclass
class BackendResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/octet-stream")

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def _problem_from_response(response: HTTPResponse) -> dict[str, Any]:
    """The backend's problem+json body, or a problem wrapping whatever else it sent."""
    raw = response.body or b""
    ctype = response.headers.get("Content-Type", "")
    if "json" in ctype:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and ("title" in parsed or "detail" in parsed):
            parsed.setdefault("status", response.code)
            return parsed
    text = raw[:500].decode("utf-8", "replace").strip()
    return problem(
        response.code,
        "backend-error",
        f"Trevor backend error (HTTP {response.code})",
        text or (response.reason or ""),
    )


@dataclass
class BackendClient:
    """Talks to ``<backend_url>/api/v1`` with ``Authorization: Bearer <token>``."""

    backend_url: str
    token: str
    request_timeout: float = 60.0
    connect_timeout: float = 10.0
    # Our own instance (not the shared per-loop one): it needs a larger max_body_size and must
    # not be closed by, or close, anyone else's client.
    http: AsyncHTTPClient = field(
        default_factory=lambda: AsyncHTTPClient(force_instance=True, max_body_size=MAX_BODY_SIZE)
    )

    def __post_init__(self) -> None:
        self.backend_url = self.backend_url.rstrip("/")

    def close(self) -> None:
        self.http.close()

    # -- URLs ---------------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return bool(self.backend_url)

    def api_url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """``<backend>/api/v1/<path>`` with ``params`` (``None`` values dropped)."""
        if not self.configured:
            raise BackendNotConfigured()
        url = f"{self.backend_url}/api/v1/{path.lstrip('/')}"
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                url += ("&" if "?" in url else "?") + query
        return url

    def _auth_headers(self, url: str) -> dict[str, str]:
        # The token goes only to the backend's own origin: a delivery or release URL may point
        # at an object store (pre-signed), which must never see the user's trevor token.
        if self.token and _same_origin(url, self.backend_url):
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    # -- requests -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
    ) -> BackendResponse:
        """One buffered API call. Errors become :class:`TrevorClientError` subclasses."""
        url = self.api_url(path, params)
        return await self.fetch_url(
            method,
            url,
            body=body,
            json_body=json_body,
            headers=headers,
            raise_for_status=raise_for_status,
        )

    async def fetch_url(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        raise_for_status: bool = True,
        body_producer: Callable[[Callable[[bytes], Awaitable[None]]], Awaitable[None]]
        | None = None,
        streaming_callback: Callable[[bytes], None] | None = None,
        header_callback: Callable[[str], None] | None = None,
        request_timeout: float | None = None,
    ) -> BackendResponse:
        all_headers: dict[str, str] = {"Accept": "application/json, application/problem+json"}
        all_headers.update(headers or {})
        all_headers.update(self._auth_headers(url))
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        if body is None and body_producer is None and method in ("POST", "PUT", "PATCH"):
            body = b""  # Tornado insists on a body for these verbs.
        req = HTTPRequest(
            url,
            method=method,
            headers=all_headers,
            body=body,
            # Tornado awaits whatever body_producer returns (a coroutine too); its annotation
            # names only a Future.
            body_producer=body_producer,  # type: ignore[arg-type]
            streaming_callback=streaming_callback,
            header_callback=header_callback,
            request_timeout=request_timeout or self.request_timeout,
            connect_timeout=self.connect_timeout,
            follow_redirects=False,
            allow_nonstandard_methods=True,
            decompress_response=True,
        )
        try:
            response = await self.http.fetch(req, raise_error=False)
        except (OSError, ssl.SSLError, socket.gaierror) as exc:
            raise BackendUnreachable(_origin(url), str(exc) or type(exc).__name__) from exc
        except HTTPClientError as exc:  # pragma: no cover - raise_error=False makes this rare
            if exc.response is None:
                raise BackendUnreachable(_origin(url), str(exc)) from exc
            response = exc.response
        if response.code == 599:
            # Tornado reports timeouts and refused connections as a synthetic 599.
            reason = str(response.error) if response.error else "no response"
            raise BackendUnreachable(_origin(url), reason)
        result = BackendResponse(
            status=response.code,
            headers={k: v for k, v in response.headers.get_all()},
            body=response.body if streaming_callback is None else b"",
        )
        if raise_for_status and response.code >= 400:
            if streaming_callback is not None:
                raise BackendError(
                    response.code,
                    problem(
                        response.code,
                        "backend-error",
                        f"Trevor backend error (HTTP {response.code})",
                        response.reason or "",
                    ),
                )
            raise BackendError(response.code, _problem_from_response(response))
        return result

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    # -- streaming ----------------------------------------------------------------------------

    async def upload_file(
        self,
        request_id: str,
        path: Path,
        *,
        filename: str,
        hasher: Any,
        sha256: str | None = None,
        replaces: str | None = None,
    ) -> dict[str, Any]:
        """Stream ``path`` to ``POST /requests/{rid}/objects`` (constant memory), feeding every
        byte sent to ``hasher`` (a ``hashlib`` object) on the way. ``sha256``, when known
        beforehand, goes along as ``X-Trevor-Sha256`` for the backend to refuse other bytes."""
        size = _file_size(path)
        url = self.api_url(
            f"requests/{quote(request_id, safe='')}/objects",
            {"filename": filename, "replaces": replaces},
        )

        async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
            # Reading and hashing happen in a worker thread, one chunk ahead of the network:
            # Jupyter's event loop only moves bytes, it never waits on the disk or the hash, and
            # the file is read once. The thread runs at a lower priority (see _BULK) so that on
            # a busy machine the loop keeps answering.
            fh = await asyncio.to_thread(path.open, "rb")
            loop = asyncio.get_running_loop()
            try:
                pending = loop.run_in_executor(_BULK, _read_and_hash, fh, hasher)
                while chunk := await pending:
                    pending = loop.run_in_executor(_BULK, _read_and_hash, fh, hasher)
                    await write(chunk)
            finally:
                if not pending.done():
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
                await asyncio.to_thread(fh.close)

        response = await self.fetch_url(
            "POST",
            url,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
                **({"X-Trevor-Sha256": sha256} if sha256 else {}),
            },
            body_producer=produce,
            request_timeout=max(self.request_timeout, 600.0),
        )
        created: dict[str, Any] = response.json()
        return created

    async def download_to(self, url: str, out: BinaryIO, *, max_bytes: int | None = None) -> str:
        """Stream ``url`` (absolute, or an API path starting with ``/``) into ``out``.

        Returns the sha256 hex digest of the bytes written, computed while streaming.
        """
        if url.startswith("/"):
            url = urljoin(self.backend_url + "/", url.lstrip("/"))
        digest = hashlib.sha256()
        written = 0

        def on_chunk(chunk: bytes) -> None:
            nonlocal written
            written += len(chunk)
            if max_bytes is not None and written > max_bytes:
                raise ValueError(f"download exceeds {max_bytes} bytes")
            digest.update(chunk)
            out.write(chunk)

        try:
            await self.fetch_url(
                "GET",
                url,
                headers={"Accept": "*/*"},
                streaming_callback=on_chunk,
                request_timeout=max(self.request_timeout, 600.0),
            )
        except BackendUnreachable:
            if max_bytes is not None and written > max_bytes:
                # Tornado reports the aborted stream as a connection error; say what happened.
                raise TrevorClientError(
                    502,
                    problem(
                        502,
                        "too-large",
                        "Download too large",
                        f"{url} sent more than the announced {max_bytes} bytes",
                    ),
                ) from None
            raise
        return digest.hexdigest()


def hub_identity_token(environ: Mapping[str, str] | None = None) -> str:
    """Under JupyterHub, the single-user server's own hub token (``JUPYTERHUB_API_TOKEN``).

    Sent as the bearer token when no trevor token is configured, so a backend running
    ``JupyterHubAuthenticator`` learns the hub user from the hub itself: nobody has to make or
    paste a trevor token. Outside a hub this is empty and the configured token is used.
    """
    env = os.environ if environ is None else environ
    return env.get("JUPYTERHUB_API_TOKEN", "")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _file_size(path: Path) -> int:
    return path.stat().st_size


#: How much nicer than Jupyter's event loop the upload's reading and hashing runs (Linux sets
#: a nice value per thread). Benchmarked with three other busy threads on two cores (512 MiB
#: uploads through Jupyter): /api/status answered in at most 11-32 ms per upload instead of
#: 21-110 ms, and the upload took as long.
BULK_NICENESS = 10


def _lower_priority() -> None:
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            niceness = os.getpriority(os.PRIO_PROCESS, tid) + BULK_NICENESS
            os.setpriority(os.PRIO_PROCESS, tid, niceness)


#: Worker threads for the upload's file work: two, so concurrent uploads each read ahead.
_BULK = concurrent.futures.ThreadPoolExecutor(
    2, thread_name_prefix="trevor-upload", initializer=_lower_priority
)


def _read_and_hash(fh: BinaryIO, hasher: Any) -> bytes:
    """The next upload chunk, hashed (in a worker thread: hashlib releases the GIL)."""
    chunk = fh.read(UPLOAD_CHUNK_SIZE)
    hasher.update(chunk)
    return chunk


# -- domain steps over the client -------------------------------------------------------------


@dataclass(frozen=True)
class LocalOutput:
    """A tagged output in the workspace manifest, as the upload needs it."""

    output_id: str
    file: Path
    filename: str
    metadata: dict[str, Any]  # title, description, statbarn, justification, suppression_notes
    evidence: dict[str, Any]
    provenance: dict[str, Any]
    verdict: Any = None


METADATA_FIELDS = ("title", "description", "statbarn", "justification", "suppression_notes")


async def upload_output(
    client: BackendClient,
    request_id: str,
    output: LocalOutput,
    *,
    replaces: str | None = None,
) -> dict[str, Any]:
    """Put one tagged output into a request: bytes, then evidence, then metadata.

    The file is read once: hashed while it streams (in worker threads), and the backend
    recomputes the sha256 while it stores the bytes. Evidence bound to a sha256 is sent as
    ``X-Trevor-Sha256``, so the backend refuses a file that changed since it was tagged and
    keeps nothing. Otherwise we compare the backend's sha256 with ours afterwards and remove
    an object whose bytes were corrupted on the way, so it is reported here, not released.
    Evidence is posted before metadata because it is bound to that sha256 (SPEC §5).
    """
    bound = output.evidence.get("sha256") if isinstance(output.evidence, dict) else None
    local = hashlib.sha256()
    try:
        obj = await client.upload_file(
            request_id,
            output.file,
            filename=output.filename,
            hasher=local,
            sha256=bound or None,
            replaces=replaces,
        )
    except BackendError as exc:
        if bound and str(exc.problem.get("type", "")).endswith("/checksum-mismatch"):
            raise IntegrityError(
                f"The SDC evidence of {output.filename} was computed for sha256 {bound}, "
                f"but the workspace file now has {local.hexdigest()}; tag the output again."
            ) from exc
        raise
    local_sha = local.hexdigest()
    oid = str(obj.get("id", ""))
    base = f"requests/{quote(request_id, safe='')}/objects/{quote(oid, safe='')}"
    if obj.get("sha256") != local_sha:
        with contextlib.suppress(TrevorClientError):
            await client.request("DELETE", base)
        raise IntegrityError(
            f"The backend stored {output.filename} with sha256 {obj.get('sha256')!r}, "
            f"but the workspace file has {local_sha}; the object was removed again."
        )
    metadata = {k: output.metadata.get(k) for k in METADATA_FIELDS if output.metadata.get(k)}
    try:
        # The backend binds evidence to the object's sha256 and refuses a mismatch (SPEC §5).
        await client.request(
            "POST",
            f"{base}/evidence",
            json_body={
                "evidence": {**(output.evidence or {}), "sha256": local_sha},
                "provenance": {
                    **(output.provenance or {}),
                    "workspace_output_id": output.output_id,
                },
            },
        )
        updated = await client.json("PUT", f"{base}/metadata", json_body=metadata)
    except TrevorClientError as exc:
        # The bytes are in the request; say so, so the researcher fixes the description in the
        # request view instead of uploading again.
        body = dict(exc.problem)
        body["detail"] = (
            f"{output.filename} was added to the request as object {oid}, but its "
            f"evidence/description was refused: {body.get('detail', '')}"
        )
        body["object_id"] = oid
        raise BackendError(exc.status, body) from exc
    if isinstance(updated, dict) and updated.get("id") == oid:
        obj = {**obj, **updated}
    return obj
