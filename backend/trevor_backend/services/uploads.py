"""Streamed object uploads: bytes go to the store while being hashed; the database row is
written only after the bytes are durably stored, so a failed or killed upload leaves no object.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select

from ..contract import CURRENT_OBJECT_STATES, EDITABLE_STATUSES, Direction, ObjectState
from ..errors import (
    ChecksumMismatch,
    Conflict,
    FieldError,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from ..orm import AirlockRequest, ObjectMetadata, OutputObject, new_id
from ..principal import Principal
from ..schemas import ObjectOut
from ..serialize import object_out
from . import access, audit
from .context import Context
from .requests import lock
from .streams import HashedStream

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

mimetypes.add_type("application/x-ipynb+json", ".ipynb")
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")
mimetypes.add_type("text/markdown", ".md")


def _forbidden_character(ch: str) -> str | None:
    """Why ``ch`` may not appear in a file name, or None."""
    code = ord(ch)
    if code == 0:
        return "contains NUL (U+0000)"
    if code < 0x20 or code == 0x7F:
        return f"contains a C0 control character (U+{code:04X})"
    if 0x80 <= code <= 0x9F:
        return f"contains a C1 control character (U+{code:04X})"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069 or code in (0x200E, 0x200F, 0x061C):
        # Bidirectional overrides make "txt.exe" display as "exe.txt" in a reviewer's view.
        return f"contains a bidirectional control character (U+{code:04X})"
    category = unicodedata.category(ch)
    if category == "Cf":
        return f"contains an invisible format character (U+{code:04X})"
    if category in ("Zl", "Zp"):
        return f"contains a line or paragraph separator (U+{code:04X})"
    if category in ("Cs", "Cn", "Co"):
        return f"contains an unassigned, surrogate or private-use character (U+{code:04X})"
    return None


def validate_filename(name: str | None, pointer: str = "/filename") -> str:
    """A plain file name, exactly as given: no directories, no traversal, nothing invisible or
    misleading. Names are refused, never rewritten, so the name a checker reviews is the name
    the researcher sent (the handler passes the raw query value, not Tornado's cleaned one)."""

    def bad(why: str) -> ValidationFailed:
        return ValidationFailed(f"invalid filename: {why}", errors=[FieldError(pointer, why)])

    if name is None or name == "":
        raise bad("a filename is required")
    for ch in name:
        if (why := _forbidden_character(ch)) is not None:
            raise bad(why)
    if not name.strip():
        raise bad("a filename is required")
    if name != name.strip():
        raise bad("leading or trailing whitespace")
    if name.startswith(".") or name.endswith("."):
        # Leading dots hide files and make '.'/'..'; trailing dots vanish on Windows.
        raise bad("leading or trailing dot")
    if "/" in name or "\\" in name:
        raise bad("must be a file name, not a path")
    if unicodedata.normalize("NFC", name) != name:
        raise bad("not in Unicode normalization form NFC")
    if len(name.encode()) > 255:
        raise bad("longer than 255 bytes")
    return name


def validate_sha256(value: str | None, pointer: str) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _SHA256.match(value):
        raise ValidationFailed(
            "invalid sha256", errors=[FieldError(pointer, "must be 64 hexadecimal characters")]
        )
    return value


def media_type_of(filename: str) -> str:
    return mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"


def storage_key(project_id: str, rid: str, oid: str) -> str:
    # Unreviewed bytes live under quarantine/; the key never contains user input beyond ids.
    return f"quarantine/{project_id}/{rid}/{oid}"


@dataclass(kw_only=True)
class Upload(HashedStream):
    """An object upload in progress (one per HTTP request)."""

    principal: Principal
    request_id: str
    project_id: str
    object_id: str
    filename: str
    replaces: str | None
    expected_sha256: str | None


class UploadService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _check_target(
        self, p: Principal, rid: str, replaces: str | None
    ) -> tuple[AirlockRequest, OutputObject | None]:
        async with self.ctx.sessions() as session:
            r = access.require_owner(p, await session.get(AirlockRequest, rid))
            if r.status not in EDITABLE_STATUSES:
                raise Conflict(
                    f"objects cannot be added while the request is {r.status}",
                    current_state=r.status,
                )
            old = None
            if replaces is not None:
                old = await session.get(OutputObject, replaces)
                if old is None or old.request_id != r.id:
                    raise NotFound("the object to replace is not in this request")
                if old.state not in CURRENT_OBJECT_STATES:
                    raise Conflict(f"object version {old.version} is already {old.state}")
            return r, old

    async def begin(
        self,
        p: Principal,
        rid: str,
        *,
        filename: str | None,
        replaces: str | None = None,
        sha256: str | None = None,
        content_length: int | None = None,
    ) -> Upload:
        """Validate everything that can be known before the body arrives."""
        name = validate_filename(filename)
        expected = validate_sha256(sha256, "/headers/X-Trevor-Sha256")
        limit = self.ctx.settings.max_upload_size
        if content_length is not None and content_length > limit:
            raise PayloadTooLarge(f"the upload exceeds the limit of {limit} bytes")
        r, _old = await self._check_target(p, rid, replaces)
        oid = new_id()
        writer = await self.ctx.store.open_writer(storage_key(r.project_id, r.id, oid))
        return Upload(
            principal=p,
            request_id=r.id,
            project_id=r.project_id,
            object_id=oid,
            filename=name,
            replaces=replaces,
            expected_sha256=expected,
            limit=limit,
            writer=writer,
        )

    async def finish(self, up: Upload) -> ObjectOut:
        digest = await up.hexdigest()
        if up.expected_sha256 is not None and digest != up.expected_sha256:
            await up.abort()
            raise ChecksumMismatch(
                "the uploaded bytes do not match X-Trevor-Sha256",
                errors=[
                    FieldError(
                        "/headers/X-Trevor-Sha256", f"expected {up.expected_sha256}, got {digest}"
                    )
                ],
            )
        await up.writer.commit()
        try:
            return await self._record(up, digest)
        except BaseException:
            # The row was not written: the stored bytes are unreachable, so remove them.
            await self.ctx.store.delete(up.writer.key)
            raise

    async def _record(self, up: Upload, digest: str) -> ObjectOut:
        p = up.principal
        async with self.ctx.sessions.begin() as session:
            # Re-check under the lock: the request may have been submitted meanwhile.
            r = access.require_owner(p, await lock(session, up.request_id))
            if r.status not in EDITABLE_STATUSES:
                raise Conflict(
                    f"the request became {r.status} during the upload", current_state=r.status
                )
            logical_id, version, supersedes = new_id(), 1, None
            if up.replaces is not None:
                # The request row lock above serialises changes to its objects.
                old = await session.get(OutputObject, up.replaces)
                if old is None or old.state not in CURRENT_OBJECT_STATES:
                    raise Conflict("the object to replace changed during the upload")
                logical_id, supersedes = old.logical_id, old.id
                version = (
                    await session.scalar(
                        select(func.max(OutputObject.version)).where(
                            OutputObject.logical_id == old.logical_id
                        )
                    )
                    or 0
                ) + 1
                old.state = ObjectState.SUPERSEDED
            obj = OutputObject(
                id=up.object_id,
                request_id=r.id,
                logical_id=logical_id,
                version=version,
                supersedes_id=supersedes,
                filename=up.filename,
                media_type=media_type_of(up.filename),
                size=up.size,
                sha256=digest,
                storage_key=up.writer.key,
                state=ObjectState.PENDING,
                created_by=p.user_id if r.direction == Direction.EGRESS else r.created_by,
            )
            session.add(obj)
            if supersedes is None:
                session.add(ObjectMetadata(logical_id=logical_id, request_id=r.id))
            await session.flush()
            await audit.record(
                session,
                "object.replaced" if supersedes else "object.uploaded",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=obj.id,
                payload={
                    "filename": obj.filename,
                    "size": obj.size,
                    "sha256": digest,
                    "version": version,
                    "supersedes": supersedes,
                },
            )
            await session.refresh(obj)
            return object_out(obj)
