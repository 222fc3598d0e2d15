"""The shared half of handlers whose body streams into the object store."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import TrevorError
from .base import BaseHandler

# Strong references so aborts of dropped uploads are not garbage-collected mid-flight.
_aborts: set[asyncio.Future[Any]] = set()

#: What a streamed upload reads from its socket at a time (and the largest body chunk Tornado
#: hands on): fewer reads and chunks per GiB.
UPLOAD_CHUNK = 1 << 20
#: What every other request reads at a time (Tornado's default). Tornado reads into a fresh,
#: zeroed buffer of this size each time, so reading a MiB cost each small request two MiB of
#: memset: 26 µs of the 0.67 ms a GET of one request took (measured).
READ_CHUNK = 64 << 10


class StreamedUploadHandler(BaseHandler):
    """Subclasses (decorated with ``@web.stream_request_body``) set ``self.upload`` — a
    ``services.streams.HashedStream`` — in ``prepare`` and finish it in their verb."""

    upload: Any = None
    failure: TrevorError | None = None

    def begin_streaming(self, limit: int) -> None:
        """Called once the upload may go ahead: the body may hold up to ``limit`` bytes and
        this connection reads a MiB at a time until the request ends."""
        self.set_body_limit(limit)
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.read_chunk_size = UPLOAD_CHUNK

    def on_finish(self) -> None:
        super().on_finish()
        # The connection may carry a next request, which reads as every other does.
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.read_chunk_size = READ_CHUNK

    async def data_received(self, chunk: bytes) -> None:
        if self.failure is not None or self.upload is None:
            return
        try:
            await self.upload.write(chunk)
        except TrevorError as exc:
            # Keep reading (and discarding) so the client gets our answer, not a reset.
            self.failure = exc

    def on_connection_close(self) -> None:
        # The client went away mid-upload: discard the partial bytes.
        if self.upload is not None and not self.upload.writer.committed:
            task = asyncio.ensure_future(self.upload.abort())
            _aborts.add(task)
            task.add_done_callback(_aborts.discard)

    def raise_failure(self) -> None:
        """Answer with the error met while streaming, if any."""
        if self.failure is not None:
            raise self.failure
