"""Release: the download link of a released request, its refresh, an admin's retry, and the
HMAC-signed download itself (for stores that cannot pre-sign)."""

from __future__ import annotations

import logging

from ..errors import IntegrityFailed, TrevorError
from ..schemas import Problem
from ..schemas.release import ReleaseOut, ReleaseRetryOut
from ..storage.verified import IntegrityFailure
from .base import BaseHandler
from .spec import operation
from .verified import send_verified

log = logging.getLogger("trevor_backend.release")

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
        responses={200: "application/zip", 403: Problem, 404: Problem, 409: Problem},
        public=True,
    )
    async def get(self, rid: str) -> None:
        download = await self.backend.release.open_download(
            rid, self.query("expires"), self.query("signature")
        )

        async def failed(exc: IntegrityFailure) -> TrevorError:
            log.error("release crate %s of %s: %s", download.key, rid, exc.detail)
            return IntegrityFailed(
                f"the release crate's stored bytes are {exc.reason}; ask an administrator",
                reason=exc.reason,
            )

        await send_verified(self, download, failed)
