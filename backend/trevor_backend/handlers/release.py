"""Release: the download link of a released request, its refresh, an admin's retry, and the
HMAC-signed download itself (for stores that cannot pre-sign)."""

from __future__ import annotations

from ..schemas import Problem
from ..services.release import ReleaseOut, ReleaseRetryOut
from ..storage import content_disposition
from .base import BaseHandler
from .spec import operation

_ERRORS = {401: Problem, 404: Problem}


class ReleaseHandler(BaseHandler):
    @operation(
        "The release's download link {url, expires_at, sha256, size}; url is null once expired "
        "(refresh it). With S3, handing out a pre-signed URL counts as a download.",
        tags="release",
        responses={200: ReleaseOut, 409: Problem, **_ERRORS},
    )
    async def get(self, rid: str) -> None:
        self.write_json(await self.backend.release.get(self.principal, rid))


class ReleaseRefreshHandler(BaseHandler):
    @operation(
        "Issue a new download link with a fresh lifetime (audited)",
        tags="release",
        responses={200: ReleaseOut, 403: Problem, 409: Problem, **_ERRORS},
    )
    async def post(self, rid: str) -> None:
        self.write_json(await self.backend.release.refresh(self.principal, rid))


class ReleaseRetryHandler(BaseHandler):
    @operation(
        "Admin: put a release that stopped (checksum mismatch, repeated failures) back in "
        "the queue",
        tags="release",
        responses={202: ReleaseRetryOut, 403: Problem, 409: Problem, **_ERRORS},
    )
    async def post(self, rid: str) -> None:
        self.write_json(await self.backend.release.retry(self.principal, rid), 202)


class ReleaseDownloadHandler(BaseHandler):
    """``GET /releases/{rid}/download?expires=…&signature=…``: no account needed; the HMAC
    signature is the authorisation. Altered or expired links get 403 problem+json."""

    public = True

    @operation(
        "Download a release crate through an HMAC-signed link (local store)",
        tags="release",
        query={"expires": "Unix time the link expires", "signature": "HMAC-SHA256 of the link"},
        responses={200: "application/zip", 403: Problem, 404: Problem},
        public=True,
    )
    async def get(self, rid: str) -> None:
        key, size, filename, sha256 = await self.backend.release.open_download(
            rid, self.query("expires"), self.query("signature")
        )
        self.set_header("Content-Type", "application/zip")
        self.set_header("Content-Disposition", content_disposition(filename))
        self.set_header("Content-Length", str(size))
        self.set_header("X-Trevor-Sha256", sha256)
        async for chunk in self.ctx.store.iter_bytes(key):
            self.write(chunk)
            await self.flush()
        self.finish()
