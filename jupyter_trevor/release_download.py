"""``GET /trevor/releases/<rid>/download``: the released package (RO-Crate zip) through the
server extension, like every other call the panel makes.

Why not the backend's signed link itself: in a TRE the researcher's browser usually cannot
reach the backend at all, only its own Jupyter server. The extension asks the backend for the
current signed link and streams it, rewritten onto the backend URL the server is configured
with (the link names the backend's public URL, which need not be reachable from here either).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

import tornado.web
from tornado.httputil import HTTPHeaders

from .client import TrevorClientError, problem
from .handlers import TrevorHandler


class ReleaseDownloadHandler(TrevorHandler):
    _client_gone = False

    def on_connection_close(self) -> None:
        self._client_gone = True

    @tornado.web.authenticated
    async def get(self, request_id: str) -> None:
        client = self.trevor.client
        try:
            rid = quote(request_id, safe="")
            release: Any = await client.json("GET", f"requests/{rid}/release")
        except TrevorClientError as exc:
            self.write_problem(exc.status, exc.problem)
            return
        link = release.get("url") if isinstance(release, dict) else None
        if not link:
            detail = "The release link has expired; ask an administrator to refresh it."
            self.write_problem(409, problem(409, "release-expired", "Release link expired", detail))
            return
        parts = urlsplit(link)
        url = client.backend_url + parts.path + (f"?{parts.query}" if parts.query else "")
        filename = str(release.get("filename") or f"{request_id}.zip").replace('"', "")
        await self._relay(url, filename)

    async def _relay(self, url: str, filename: str) -> None:
        status = 0
        upstream = HTTPHeaders()
        error: list[bytes] = []
        started = False

        def on_header(line: str) -> None:
            nonlocal status, upstream
            if line.startswith("HTTP/"):
                parts = line.split(" ", 2)
                status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
                upstream = HTTPHeaders()
            elif line.strip():
                upstream.parse_line(line)

        def on_chunk(chunk: bytes) -> None:
            nonlocal started
            if self._client_gone:
                raise ConnectionAbortedError("browser went away")  # aborts the upstream fetch
            if status >= 400:
                error.append(chunk)
                return
            if not started:
                started = True
                self.set_header("Content-Type", "application/zip")
                # attachment: saved, never rendered in Jupyter's origin.
                self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
                if "Content-Length" in upstream:
                    self.set_header("Content-Length", upstream["Content-Length"])
            self.write(chunk)
            self.flush()

        try:
            await self.trevor.client.fetch_url(
                "GET",
                url,
                streaming_callback=on_chunk,
                header_callback=on_header,
                raise_for_status=False,
                request_timeout=max(self.trevor.request_timeout, 3600.0),
            )
        except TrevorClientError as exc:
            if not started:
                self.write_problem(exc.status, exc.problem)
                return
            raise
        if self._client_gone:
            return
        if status >= 400 or not started:
            body = b"".join(error)[:500].decode("utf-8", "replace")
            self.write_problem(
                502 if status < 400 else status,
                problem(status or 502, "release-download", "Release download failed", body),
            )
            return
        self.finish()
