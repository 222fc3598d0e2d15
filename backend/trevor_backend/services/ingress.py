"""Ingress: files from outside the TRE, uploaded by someone without a trevor account.

An admin or senior checker opens an ingress request and asks for an upload slot
(``POST /requests/{rid}/uploads`` with the file's name, size and sha256). The answer is a URL
that accepts one plain HTTP ``PUT`` of the file: pre-signed by S3 (with the size as a signed
header), or an HMAC-signed backend URL ``/uploads/{oid}`` for the local store.

``POST /requests/{rid}/uploads/{oid}/finalize`` then turns what arrived into an
:class:`OutputObject`. The bytes are first moved from the upload key (still writable through
the URL until it expires) to the object key (writable by nobody outside), and only then re-read
and checked against the announced size and sha256: a PUT racing the finalize can therefore
never change the bytes that were verified. A mismatch discards the upload (422).
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from ..contract import EDITABLE_STATUSES, Direction, ObjectState
from ..errors import (
    ChecksumMismatch,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from ..orm import AirlockRequest, IngressUpload, ObjectMetadata, OutputObject, new_id, utcnow
from ..principal import Principal, system
from ..schemas import ObjectOut, UploadReceived, UploadSlotIn, UploadSlotOut
from ..serialize import object_out
from ..storage import ObjectNotFound, StorageError
from . import access, audit, signing
from .context import Context
from .requests import lock
from .streams import HashedStream
from .uploads import media_type_of, storage_key, validate_filename, validate_sha256

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
LINK_ACTOR = system("signed-link")


def upload_key(project_id: str, rid: str, oid: str) -> str:
    # Where the outside party's PUT lands; finalize moves the bytes away from it.
    return f"ingress-incoming/{project_id}/{rid}/{oid}"


@dataclass(kw_only=True)
class SignedUpload(HashedStream):
    """A PUT through an HMAC-signed link, in progress (one per HTTP request); the limit is the
    size announced when the link was made."""

    slot_id: str
    request_id: str
    project_id: str
    expected_sha256: str

    @property
    def expected_size(self) -> int:
        return self.limit

    def too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the upload is larger than the {self.limit} bytes announced")


class IngressService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @staticmethod
    def _require_open_ingress(p: Principal, r: AirlockRequest | None) -> AirlockRequest:
        r = access.require_owner(p, r)
        if r.direction != Direction.INGRESS:
            raise Conflict(
                "upload links are for ingress requests; upload egress objects directly",
                current_state=r.status,
            )
        if r.status not in EDITABLE_STATUSES:
            raise Conflict(
                f"files cannot be added while the request is {r.status}", current_state=r.status
            )
        return r

    async def create_slot(self, p: Principal, rid: str, body: UploadSlotIn) -> UploadSlotOut:
        name = validate_filename(body.filename)
        sha256 = validate_sha256(body.sha256, "/sha256")
        assert sha256 is not None
        limit = self.ctx.settings.max_upload_size
        if body.size > limit:
            raise ValidationFailed(
                "the file is too large",
                errors=[FieldError("/size", f"at most {limit} bytes")],
            )
        lifetime = self.ctx.settings.ingress_upload_url_lifetime
        async with self.ctx.sessions.begin() as session:
            r = self._require_open_ingress(p, await lock(session, rid))
            oid = new_id()
            slot = IngressUpload(
                id=oid,
                request_id=r.id,
                filename=name,
                description=body.description,
                size=body.size,
                sha256=sha256,
                storage_key=upload_key(r.project_id, r.id, oid),
                created_by=p.user_id or r.created_by,
                # Whole seconds: the signed link carries the expiry as a Unix time.
                expires_at=(utcnow() + timedelta(seconds=lifetime)).replace(microsecond=0),
            )
            session.add(slot)
            await audit.record(
                session,
                "ingress.upload_link_issued",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=oid,
                payload={
                    "filename": name,
                    "size": body.size,
                    "sha256": sha256,
                    "expires_at": slot.expires_at,
                },
            )
            key, expires_at = slot.storage_key, slot.expires_at
        url = await self.ctx.store.presigned_put_url(
            key, min(lifetime, MAX_PRESIGN_SECONDS), size=body.size
        )
        if url is None:
            settings = self.ctx.settings
            url = signing.signed_url(
                settings.public_url,
                f"/uploads/{oid}",
                settings.secret_key,
                signing.UPLOAD,
                oid,
                expires_at,
            )
        return UploadSlotOut(
            object_id=oid,
            url=url,
            expires_at=expires_at,
            headers={"Content-Length": str(body.size)},
        )

    # --- the signed PUT (local store) --------------------------------------------------------

    async def begin_signed_put(
        self, oid: str, expires: str | None, sig: str | None, content_length: int | None
    ) -> SignedUpload:
        settings = self.ctx.settings
        signing.verify(settings.secret_key, signing.UPLOAD, oid, expires, sig)
        async with self.ctx.sessions() as session:
            slot = await session.get(IngressUpload, oid)
            if slot is None:
                raise NotFound("no such upload")
            if slot.finalized_at is not None:
                raise Conflict("this upload has been finalized; ask for a new link")
            if slot.expires_at <= utcnow():
                # Revoked from the dashboard (services/ingress_links.py), before the URL's
                # own expiry.
                raise Forbidden("this upload link has been revoked or has expired")
            r = await session.get(AirlockRequest, slot.request_id)
            assert r is not None
            if r.status not in EDITABLE_STATUSES:
                raise Conflict(f"the request is {r.status}", current_state=r.status)
        if content_length is not None and content_length != slot.size:
            raise ValidationFailed(
                "the body is not the size announced for this upload",
                errors=[
                    FieldError(
                        "/headers/Content-Length", f"expected {slot.size}, got {content_length}"
                    )
                ],
            )
        writer = await self.ctx.store.open_writer(slot.storage_key)
        return SignedUpload(
            slot_id=slot.id,
            request_id=slot.request_id,
            project_id=r.project_id,
            limit=slot.size,
            expected_sha256=slot.sha256,
            writer=writer,
        )

    async def finish_signed_put(self, up: SignedUpload) -> UploadReceived:
        digest = await up.hexdigest()
        if up.size != up.expected_size or digest != up.expected_sha256:
            await up.abort()
            raise ChecksumMismatch(
                "the uploaded bytes are not the file announced for this link",
                errors=[
                    FieldError("/size", f"expected {up.expected_size}, got {up.size}"),
                    FieldError("/sha256", f"expected {up.expected_sha256}, got {digest}"),
                ],
            )
        await up.writer.commit()
        async with self.ctx.sessions.begin() as session:
            await audit.record(
                session,
                "ingress.uploaded",
                LINK_ACTOR,
                project_id=up.project_id,
                request_id=up.request_id,
                object_id=up.slot_id,
                payload={"size": up.size, "sha256": digest},
            )
        return UploadReceived(object_id=up.slot_id, size=up.size, sha256=digest)

    # --- finalize ------------------------------------------------------------------------------

    async def finalize(self, p: Principal, rid: str, oid: str) -> ObjectOut:
        async with self.ctx.sessions() as session:
            r = self._require_open_ingress(p, await session.get(AirlockRequest, rid))
            slot = await session.get(IngressUpload, oid)
            if slot is None or slot.request_id != r.id:
                raise NotFound("no such upload in this request")
            if slot.finalized_at is not None:
                raise Conflict("this upload is already finalized")
            incoming, project_id = slot.storage_key, r.project_id
            expected_size, expected_sha256 = slot.size, slot.sha256
        final_key = storage_key(project_id, rid, oid)
        try:
            # Out of reach of the upload link first, then verified: see the module docstring.
            await self.ctx.store.move(incoming, final_key)
        except ObjectNotFound as exc:
            if not await self.ctx.store.exists(final_key):
                raise Conflict("nothing has been uploaded through this link yet") from exc
            # An earlier finalize moved the bytes and failed before recording: verify those.
        digest, size = hashlib.sha256(), 0
        try:
            async for chunk in self.ctx.store.iter_bytes(final_key):
                digest.update(chunk)
                size += len(chunk)
        except ObjectNotFound as exc:
            # A concurrent finalize of the same upload refused and discarded the bytes.
            raise Conflict("the upload was discarded meanwhile; upload it again") from exc
        actual = digest.hexdigest()
        if size != expected_size or actual != expected_sha256:
            await self.ctx.store.delete(final_key)
            async with self.ctx.sessions.begin() as session:
                await audit.record(
                    session,
                    "ingress.upload_rejected",
                    p,
                    project_id=project_id,
                    request_id=rid,
                    object_id=oid,
                    payload={
                        "expected_size": expected_size,
                        "actual_size": size,
                        "expected_sha256": expected_sha256,
                        "actual_sha256": actual,
                    },
                )
            errors = []
            if size != expected_size:
                errors.append(FieldError("/size", f"announced {expected_size}, received {size}"))
            if actual != expected_sha256:
                errors.append(
                    FieldError("/sha256", f"announced {expected_sha256}, received {actual}")
                )
            raise ChecksumMismatch(
                "the uploaded file does not match what was announced; it has been discarded",
                errors=errors,
            )
        try:
            return await self._record(p, rid, oid, final_key, size, actual)
        except BaseException:
            # Not recorded by us. If nobody recorded it (e.g. the request was submitted
            # meanwhile), move the bytes back so that the link and a later finalize still work;
            # if a concurrent finalize recorded it, the bytes are that object's: leave them.
            async with self.ctx.sessions() as session:
                slot = await session.get(IngressUpload, oid)
                recorded = slot is not None and slot.finalized_at is not None
            if not recorded:
                with contextlib.suppress(StorageError):
                    await self.ctx.store.move(final_key, incoming)
            raise

    async def _record(
        self, p: Principal, rid: str, oid: str, key: str, size: int, sha256: str
    ) -> ObjectOut:
        async with self.ctx.sessions.begin() as session:
            r = self._require_open_ingress(p, await lock(session, rid))
            slot = await session.get(IngressUpload, oid)
            if slot is None or slot.finalized_at is not None:
                raise Conflict("this upload was finalized meanwhile")
            slot.finalized_at = utcnow()
            obj = OutputObject(
                id=oid,
                request_id=r.id,
                logical_id=new_id(),
                version=1,
                filename=slot.filename,
                media_type=media_type_of(slot.filename),
                size=size,
                sha256=sha256,
                storage_key=key,
                state=ObjectState.PENDING,
                created_by=r.created_by,
            )
            session.add(obj)
            session.add(
                ObjectMetadata(
                    logical_id=obj.logical_id,
                    request_id=r.id,
                    title=slot.filename,
                    description=slot.description,
                )
            )
            await session.flush()
            await audit.record(
                session,
                "object.uploaded",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=oid,
                payload={
                    "filename": obj.filename,
                    "size": size,
                    "sha256": sha256,
                    "version": 1,
                    "supersedes": None,
                    "via": "ingress-link",
                },
            )
            await session.refresh(obj)
            return object_out(obj)
