"""Output objects: streamed upload, read, content, metadata, evidence."""

from __future__ import annotations

from tornado import web

from ..errors import TrevorError
from ..schemas import EvidenceIn, MetadataIn, ObjectOut, Problem, RequestOut
from ..services import integrity
from ..storage.verified import IntegrityFailure
from .base import BaseHandler
from .spec import operation
from .streaming import StreamedUploadHandler
from .verified import send_verified

_ERRORS = {401: Problem, 403: Problem, 404: Problem}


@web.stream_request_body
class ObjectUploadHandler(StreamedUploadHandler):
    """``POST /requests/{rid}/objects?filename=…[&replaces=OID]`` with the raw file as body.

    The body is streamed to the object store chunk by chunk while being hashed, so memory use
    does not grow with the file. Validation that needs no bytes happens in ``prepare`` so that a
    bad request is refused before the client sends a gigabyte.
    """

    async def begin_upload(self) -> int | None:
        if self.request.method != "POST":
            return None
        self.upload = await self.backend.uploads.begin(
            self.principal,
            self.path_kwargs["rid"],
            # Raw: Tornado's cleaned value would turn NUL into a space and strip the ends.
            filename=self.raw_query("filename"),
            replaces=self.query("replaces"),
            sha256=self.request.headers.get("X-Trevor-Sha256"),
            content_length=self.content_length(),
        )
        # Tornado's own limit guards every other endpoint; uploads are bounded by ours. The
        # margin (over one read chunk) lets our check fire first, so the client gets a 413
        # problem rather than Tornado's bare 400.
        return self.ctx.settings.max_upload_size + (4 << 20)

    @operation(
        "Upload a file as a new object (or a new version of one)",
        tags="objects",
        body="application/octet-stream",
        query={"filename": "the object's file name", "replaces": "id of the object replaced"},
        headers={"X-Trevor-Sha256": "optional sha256 of the body, verified"},
        responses={
            201: ObjectOut,
            409: Problem,
            413: Problem,
            422: Problem,
            503: Problem,
            **_ERRORS,
        },
    )
    async def post(self, rid: str) -> None:
        out = await self.backend.uploads.finish(self.upload)
        self.set_header("Location", f"/api/v1/requests/{rid}/objects/{out.id}")
        self.write_json(out, 201)


class ObjectHandler(BaseHandler):
    @operation("One object version", tags="objects", responses={200: ObjectOut, **_ERRORS})
    async def get(self, rid: str, oid: str) -> None:
        self.write_json(await self.backend.requests.object(self.principal, rid, oid))

    @operation(
        "Withdraw an object from the request",
        tags="objects",
        responses={200: RequestOut, 409: Problem, **_ERRORS},
    )
    async def delete(self, rid: str, oid: str) -> None:
        self.write_json(await self.backend.requests.withdraw_object(self.principal, rid, oid))


class ObjectContentHandler(BaseHandler):
    @operation(
        "The object's bytes, verified against the recorded size and sha256 while streaming "
        "(409 when the stored bytes are missing or changed; for objects over 16 MiB a change "
        "found late ends the body short of its Content-Length)",
        tags="objects",
        responses={200: "application/octet-stream", 409: Problem, **_ERRORS},
    )
    async def get(self, rid: str, oid: str) -> None:
        download = await self.backend.requests.open_content(self.principal, rid, oid)
        await send_verified(self, download, lambda exc: self._failed(rid, oid, exc))

    async def _failed(self, rid: str, oid: str, exc: IntegrityFailure) -> TrevorError:
        r, obj = await self.backend.requests.get_object(self.principal, rid, oid)
        return await integrity.report(self.ctx, self.principal, r, obj, exc, "content")


class ObjectMetadataHandler(BaseHandler):
    @operation(
        "Describe the logical object (fields left out are kept)",
        tags="objects",
        body=MetadataIn,
        responses={200: ObjectOut, 409: Problem, 422: Problem, **_ERRORS},
    )
    async def put(self, rid: str, oid: str) -> None:
        body = self.parse(MetadataIn)
        self.write_json(await self.backend.requests.set_metadata(self.principal, rid, oid, body))


class ObjectEvidenceHandler(BaseHandler):
    @operation(
        "Attach kernel-computed SDC evidence and provenance",
        tags="objects",
        body=EvidenceIn,
        responses={200: ObjectOut, 409: Problem, 422: Problem, **_ERRORS},
    )
    async def post(self, rid: str, oid: str) -> None:
        body = self.parse(EvidenceIn)
        self.write_json(await self.backend.requests.attach_evidence(self.principal, rid, oid, body))
