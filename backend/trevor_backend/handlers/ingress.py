"""Ingress: upload slots for outside parties, the signed PUT itself, finalize; and the
deliveries of approved ingress files to researchers' workspaces."""

from __future__ import annotations

from tornado import web

from ..schemas import (
    DeliveryAck,
    DeliveryList,
    DeliveryOut,
    ObjectOut,
    Problem,
    UploadReceived,
    UploadSlotIn,
    UploadSlotOut,
)
from .base import BaseHandler
from .spec import operation
from .streaming import StreamedUploadHandler

_ERRORS = {401: Problem, 404: Problem}


class UploadSlotsHandler(BaseHandler):
    @operation(
        "Ingress: a URL an outside party can PUT one file to (pre-signed on S3, HMAC-signed "
        "backend URL otherwise)",
        tags="ingress",
        body=UploadSlotIn,
        responses={201: UploadSlotOut, 403: Problem, 409: Problem, 422: Problem, **_ERRORS},
    )
    async def post(self, rid: str) -> None:
        body = self.parse(UploadSlotIn)
        self.write_json(await self.backend.ingress.create_slot(self.principal, rid, body), 201)


class UploadFinalizeHandler(BaseHandler):
    @operation(
        "Ingress: check what arrived (size, sha256 re-read from the store) and add it to the "
        "request; a mismatch is refused and the upload discarded",
        tags="ingress",
        responses={201: ObjectOut, 403: Problem, 409: Problem, 422: Problem, **_ERRORS},
    )
    async def post(self, rid: str, oid: str) -> None:
        out = await self.backend.ingress.finalize(self.principal, rid, oid)
        self.set_header("Location", f"/api/v1/requests/{rid}/objects/{out.id}")
        self.write_json(out, 201)


@web.stream_request_body
class SignedUploadHandler(StreamedUploadHandler):
    """``PUT /uploads/{oid}?expires=…&signature=…`` with the file as the raw body; no account.

    Streamed to the store while hashed, like object uploads; the body must be exactly the
    size and sha256 announced when the link was made."""

    public = True

    async def begin_upload(self) -> int | None:
        if self.request.method != "PUT":
            return None
        self.upload = upload = await self.backend.ingress.begin_signed_put(
            self.path_kwargs["oid"],
            self.query("expires"),
            self.query("signature"),
            self.content_length(),
        )
        # The slot's size bounds the body; the margin lets our own check answer first.
        return int(upload.expected_size) + (4 << 20)

    @operation(
        "Ingress: upload the file through an HMAC-signed link (local store)",
        tags="ingress",
        body="application/octet-stream",
        query={"expires": "Unix time the link expires", "signature": "HMAC-SHA256 of the link"},
        responses={
            200: UploadReceived,
            403: Problem,
            404: Problem,
            409: Problem,
            413: Problem,
            422: Problem,
            503: Problem,
        },
        public=True,
    )
    async def put(self, oid: str) -> None:
        self.write_json(await self.backend.ingress.finish_signed_put(self.upload))


class DeliveriesHandler(BaseHandler):
    @operation(
        "Approved ingress files not yet delivered to the caller's workspace",
        tags="ingress",
        responses={200: DeliveryList, 401: Problem},
    )
    async def get(self) -> None:
        self.write_json(await self.backend.deliveries.pending(self.principal))


class DeliveryAckHandler(BaseHandler):
    @operation(
        "Record that the file reached the caller's workspace with the approved sha256",
        tags="ingress",
        body=DeliveryAck,
        responses={200: DeliveryOut, 422: Problem, **_ERRORS},
    )
    async def post(self, oid: str) -> None:
        body = self.parse(DeliveryAck)
        self.write_json(await self.backend.deliveries.acknowledge(self.principal, oid, body))
