"""Sending stored bytes that are verified while they stream (a ``storage.verified.Download``
a service opened)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from tornado.http1connection import HTTP1Connection

from ..errors import TrevorError
from ..storage import content_disposition
from ..storage.verified import Download, IntegrityFailure
from .base import BaseHandler


async def send_verified(
    handler: BaseHandler,
    download: Download,
    failed: Callable[[IntegrityFailure], Awaitable[TrevorError]],
) -> None:
    """Answer with the download's chunks, as an attachment with its Content-Length and sha256.

    Nothing is sent before the first verified chunk, so a failure found there — every
    failure of an object within the verified window — is still a clean problem (``failed``
    makes it). A failure found later can no longer change the status: the connection is
    closed short of Content-Length, so the client sees an incomplete body, never altered
    bytes presented as complete."""
    chunks = download.chunks
    headers = {
        "Content-Type": download.media_type,
        "Content-Disposition": content_disposition(download.filename),
        "Content-Length": str(download.size),
        "X-Trevor-Sha256": download.sha256,
    }
    try:
        first = await anext(chunks, b"")
    except IntegrityFailure as exc:
        raise await failed(exc) from exc
    for name, value in headers.items():
        handler.set_header(name, value)
    try:
        handler.write(first)
        await handler.flush()
        async for chunk in chunks:
            handler.write(chunk)
            await handler.flush()
    except IntegrityFailure as exc:
        await failed(exc)
        if isinstance(handler.request.connection, HTTP1Connection):
            handler.request.connection.close()
        with contextlib.suppress(Exception):
            handler.finish()
        return
    handler.finish()
