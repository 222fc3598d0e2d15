"""The upload links of ingress requests as admins manage them: each file's state, and revoking
a link before it is used (the dashboard's Ingress page).

A link is revoked by moving its ``expires_at`` to the moment of revocation: the signed PUT
(``IngressService.begin_signed_put``) and finalize both refuse a slot whose ``expires_at`` has
passed, so a revoked link behaves exactly as an expired one, for the local store's signed links
and (at finalize) for S3's pre-signed ones, which S3 itself would still accept.
"""

from __future__ import annotations

from sqlalchemy import select

from ..contract import Direction
from ..errors import Conflict, Forbidden, NotFound
from ..orm import AirlockRequest, IngressUpload, utcnow
from ..principal import Principal
from ..schemas import LinkState, UploadLinkOut
from . import access, audit
from .context import Context


class IngressLinks:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def list(self, p: Principal, rid: str) -> list[UploadLinkOut]:
        async with self.ctx.sessions() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            if r.direction != Direction.INGRESS:
                return []
            slots = list(
                await session.scalars(
                    select(IngressUpload)
                    .where(IngressUpload.request_id == rid)
                    .order_by(IngressUpload.created_at, IngressUpload.id)
                )
            )
        now = utcnow()
        out = []
        for slot in slots:
            state: LinkState
            if slot.finalized_at is not None:
                state = "finalized"
            elif await self.ctx.store.exists(slot.storage_key):
                state = "uploaded"
            elif slot.expires_at <= now:
                state = "expired"
            else:
                state = "awaiting upload"
            out.append(
                UploadLinkOut(
                    id=slot.id,
                    filename=slot.filename,
                    size=slot.size,
                    sha256=slot.sha256,
                    created_at=slot.created_at,
                    expires_at=slot.expires_at,
                    state=state,
                )
            )
        return out

    async def revoke(self, p: Principal, rid: str, oid: str) -> None:
        async with self.ctx.sessions.begin() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            if not (p.admin or p.is_senior_checker(r.project_id)):
                raise Forbidden("only an admin or a senior checker of the project may revoke")
            slot = await session.get(IngressUpload, oid)
            if slot is None or slot.request_id != rid:
                raise NotFound("no such upload link in this request")
            if slot.finalized_at is not None:
                raise Conflict("the file has been finalized; the link is already spent")
            now = utcnow()
            if slot.expires_at <= now:
                return
            slot.expires_at = now
            await audit.record(
                session,
                "ingress.upload_link_revoked",
                p,
                project_id=r.project_id,
                request_id=rid,
                object_id=oid,
                payload={"filename": slot.filename},
            )
