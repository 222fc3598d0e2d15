"""Release of approved egress requests (SPEC §6 "Release"), the API side: the download link
of a released request, its refresh, an admin's retry of a parked release, and the signed
download. The packaging is the release job's (``release_job.py``); expiry warnings are in
``sla.py``.

Download links: S3 stores sign a GET URL themselves; the local store gets an HMAC-signed
backend URL (``services/signing.py``) served by ``handlers/release.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..contract import Direction, RequestStatus
from ..errors import Conflict, Forbidden, NotFound
from ..orm import AirlockRequest, ReleaseRecord, utcnow
from ..principal import Principal, system
from ..schemas.release import ReleaseOut, ReleaseRetryOut
from ..storage.verified import Download, verified_download
from . import access, audit, signing
from .context import Context
from .requests import lock

S = RequestStatus
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


def crate_filename(rid: str) -> str:
    return f"trevor-release-{rid}.zip"


class ReleaseService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _record(
        self, session: AsyncSession, p: Principal, rid: str, *, for_update: bool = False
    ) -> tuple[AirlockRequest, ReleaseRecord]:
        r = await (lock(session, rid) if for_update else session.get(AirlockRequest, rid))
        r = access.require_view(p, r)
        record = await session.scalar(select(ReleaseRecord).where(ReleaseRecord.request_id == rid))
        if record is None or r.direction != Direction.EGRESS:
            extra: dict[str, Any] = {"last_error": r.last_error} if r.last_error else {}
            raise Conflict(
                f"the request is {r.status}: there is no release to download",
                current_state=r.status,
                **extra,
            )
        return r, record

    async def _url(
        self, record: ReleaseRecord, rid: str
    ) -> tuple[str | None, str, datetime | None]:
        """A URL valid until the record's expiry (None once it has passed), its kind, and when
        the URL itself expires: S3 caps pre-signed URLs at 7 days, so with a longer
        ``release_url_lifetime`` an S3 URL expires first (ask again for a fresh one)."""
        expires_at = record.url_expires_at
        now = utcnow()
        if expires_at is None or expires_at <= now:
            return None, "none", expires_at
        remaining = max(1, int((expires_at - now).total_seconds()))
        seconds = min(remaining, MAX_PRESIGN_SECONDS)
        url = await self.ctx.store.presigned_get_url(record.crate_key, seconds, crate_filename(rid))
        if url is not None:
            return url, "presigned", min(expires_at, now + timedelta(seconds=seconds))
        settings = self.ctx.settings
        link = signing.signed_url(
            settings.public_url,
            f"/releases/{rid}/download",
            settings.secret_key,
            signing.DOWNLOAD,
            rid,
            expires_at,
        )
        return link, "signed", expires_at

    async def _out(
        self, session: AsyncSession, p: Principal, r: AirlockRequest, record: ReleaseRecord
    ) -> ReleaseOut:
        url, kind, url_expires_at = await self._url(record, r.id)
        if kind == "presigned":
            # S3 serves the bytes without asking us, so a download is counted when its URL is
            # handed out (docs/release.md). Incremented in SQL: concurrent GETs must all count.
            await session.execute(
                update(ReleaseRecord)
                .where(ReleaseRecord.id == record.id)
                .values(downloads=ReleaseRecord.downloads + 1)
                .execution_options(synchronize_session=False)
            )
            await session.refresh(record)
            await audit.record(
                session,
                "release.url_issued",
                p,
                project_id=r.project_id,
                request_id=r.id,
                payload={"expires_at": url_expires_at, "counted_as_download": True},
            )
        return ReleaseOut(
            url=url,
            expires_at=url_expires_at,
            sha256=record.crate_sha256,
            size=record.size,
            filename=crate_filename(r.id),
            downloads=record.downloads,
            released_at=record.created_at,
            url_kind=kind,
        )

    async def get(self, p: Principal, rid: str) -> ReleaseOut:
        async with self.ctx.sessions.begin() as session:
            r, record = await self._record(session, p, rid)
            return await self._out(session, p, r, record)

    async def refresh(self, p: Principal, rid: str) -> ReleaseOut:
        async with self.ctx.sessions.begin() as session:
            r, record = await self._record(session, p, rid, for_update=True)
            if not (p.admin or p.is_researcher(r.project_id)):
                raise Forbidden("only the project's researchers or an admin may refresh the link")
            old = record.url_expires_at
            record.url_expires_at = utcnow() + timedelta(
                seconds=self.ctx.settings.release_url_lifetime
            )
            # A new link earns a new warning before it, in turn, expires.
            record.expiry_warned_at = None
            await audit.record(
                session,
                "release.url_refreshed",
                p,
                project_id=r.project_id,
                request_id=r.id,
                payload={"old_expires_at": old, "expires_at": record.url_expires_at},
            )
            return await self._out(session, p, r, record)

    async def retry(self, p: Principal, rid: str) -> ReleaseRetryOut:
        """An admin puts a parked release back in the queue (after fixing the cause)."""
        async with self.ctx.sessions.begin() as session:
            r = access.require_view(p, await lock(session, rid))
            if not p.admin:
                raise Forbidden("only an admin may retry a release")
            if r.direction != Direction.EGRESS or r.status != S.APPROVED:
                raise Conflict(
                    f"only an approved egress request can be released (it is {r.status})",
                    current_state=r.status,
                )
            previous = r.last_error
            r.attempts = 0
            r.last_error = None
            r.lease_owner = None
            r.lease_expires_at = None
            await audit.record(
                session,
                "release.retry_requested",
                p,
                project_id=r.project_id,
                request_id=r.id,
                payload={"previous_error": previous},
            )
            return ReleaseRetryOut(request_id=r.id, status=S(r.status), attempts=0, last_error=None)

    async def open_download(self, rid: str, expires: str | None, sig: str | None) -> Download:
        """Check a signed download link and count the download: the crate, verified as it
        streams.

        The link itself is the authority (it was handed to someone allowed to download);
        there is no caller identity, so the audit actor is the link."""
        settings = self.ctx.settings
        signing.verify(settings.secret_key, signing.DOWNLOAD, rid, expires, sig)
        async with self.ctx.sessions.begin() as session:
            record = await session.scalar(
                select(ReleaseRecord).where(ReleaseRecord.request_id == rid)
            )
            r = await session.get(AirlockRequest, rid)
            if record is None or r is None:
                raise NotFound("no such release")
            await session.execute(
                update(ReleaseRecord)
                .where(ReleaseRecord.id == record.id)
                .values(downloads=ReleaseRecord.downloads + 1)
                .execution_options(synchronize_session=False)
            )
            await audit.record(
                session,
                "release.downloaded",
                system("signed-link"),
                project_id=r.project_id,
                request_id=r.id,
                payload={"link_expires": int(expires or 0), "size": record.size},
            )
            return verified_download(
                self.ctx.store,
                record.crate_key,
                filename=crate_filename(rid),
                media_type="application/zip",
                size=record.size,
                sha256=record.crate_sha256,
            )
