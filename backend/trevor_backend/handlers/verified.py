"""Sending stored bytes that are verified while they stream (``storage.verified``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from ..errors import TrevorError
from ..storage.verified import IntegrityFailure
from .base import BaseHandler


async def send_verified(
    handler: BaseHandler,
    chunks: AsyncIterator[bytes],
    headers: dict[str, str],
    failed: Callable[[IntegrityFailure], Awaitable[TrevorError]],
) -> None:
    """Answer with ``chunks`` under ``headers`` (which include Content-Length).

    Nothing is sent before the first verified chunk, so a failure found there — every
    failure of an object within the verified window — is still a clean problem (``failed``
    makes it). A failure found later can no longer change the status: the connection is
    closed short of Content-Length, so the client sees an incomplete body, never altered
    bytes presented as complete."""
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
        handler.request.connection.close()  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            handler.finish()
        return
    handler.finish()
