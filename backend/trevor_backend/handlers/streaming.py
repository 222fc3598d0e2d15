"""The shared half of handlers whose body streams into the object store."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import TrevorError
from .base import BaseHandler

# Strong references so aborts of dropped uploads are not garbage-collected mid-flight.
_aborts: set[asyncio.Future[Any]] = set()


class StreamedUploadHandler(BaseHandler):
    """Subclasses (decorated with ``@web.stream_request_body``) set ``self.upload`` — a
    ``services.streams.HashedStream`` — in ``prepare`` and finish it in their verb."""

    upload: Any = None
    failure: TrevorError | None = None

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
