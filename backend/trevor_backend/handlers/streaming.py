"""The shared half of handlers whose body streams into the object store.

A body with a plain ``Content-Length`` is read by the handler itself, straight from the
connection's stream into two buffers taken in turn (``IOStream.read_into``), which the hashing
thread and the local store's writer read without copying (``write_view``). Tornado's own body
reading zeroes a fresh buffer for every read and copies each byte into its read buffer and out
again as a new ``bytes``, which the store then copied once more. Measured on the 2-core VM of
issue 10 (1 GiB into the local store, A/B rounds): the backend's CPU per upload fell by about
an eighth (decisions.md). Chunked bodies (no length known) still come through
``data_received``, a MiB at a time.

Reading the body in the verb means Tornado takes the request as read once ``prepare`` returns.
Every byte of the body must then be read before the connection serves anything else, or the
rest of the body would be parsed as a next request (request smuggling through a proxy's shared
connection). The handler takes the body over only once ``prepare`` has succeeded (Tornado
closes a connection it answered before reading its body), and
:meth:`StreamedUploadHandler.check_body`, which runs before every verb, reads to the end
whatever storing does: only a client that has gone leaves bytes unread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream, StreamClosedError

from ..errors import TrevorError, Unavailable
from ..storage import StorageError
from .base import BaseHandler

log = logging.getLogger(__name__)

# Strong references so aborts of dropped uploads are not garbage-collected mid-flight.
_aborts: set[asyncio.Future[Any]] = set()

#: What a chunked upload reads from its socket at a time (and the largest body chunk Tornado
#: hands on): fewer reads and chunks per GiB.
UPLOAD_CHUNK = 1 << 20
#: What every other request reads at a time (Tornado's default). Tornado reads into a fresh,
#: zeroed buffer of this size each time, so reading a MiB cost each small request two MiB of
#: memset: 26 µs of the 0.67 ms a GET of one request took (measured).
READ_CHUNK = 64 << 10
#: Each of the two buffers a body of known length is read into: one fills from the socket
#: while the other is hashed and written; the size of a hashing batch and a store batch.
DIRECT_CHUNK = 4 << 20


class StreamedUploadHandler(BaseHandler):
    """Subclasses (decorated with ``@web.stream_request_body``) implement
    :meth:`begin_upload`; their verb finds the body complete and stored, or the error met while
    storing it raised."""

    #: the ``services.streams.HashedStream`` the body goes into (set by begin_upload)
    upload: Any = None
    failure: TrevorError | None = None
    #: bytes of body still to be read by this handler itself (None: Tornado reads the body),
    #: from this stream
    _unread: int | None = None
    _stream: IOStream | None = None

    async def begin_upload(self) -> int | None:
        """Check the request and set ``self.upload``; return the most bytes the body may hold,
        or None when this request uploads nothing (another verb)."""
        raise NotImplementedError

    async def prepare(self) -> None:
        await super().prepare()
        limit = await self.begin_upload()
        if limit is None:
            return
        self.set_body_limit(limit)
        connection = self.request.connection
        stream = getattr(connection, "stream", None)
        if not isinstance(connection, HTTP1Connection) or stream is None:
            return
        headers = self.request.headers
        length = self.content_length()
        if length is not None and length <= limit and "Transfer-Encoding" not in headers:
            self._unread, self._stream = length, stream
            # Tornado reads the body once prepare() returns, by this header: told there is none,
            # it reads nothing and runs the verb, before which check_body() reads the body from
            # the stream. Tornado still answers an "Expect: 100-continue" first.
            headers["Content-Length"] = "0"
        else:
            stream.read_chunk_size = UPLOAD_CHUNK

    async def check_body(self) -> None:
        if self._unread and self._stream is not None:
            await self._read_body(self._stream)
        await super().check_body()
        if self.failure is not None:
            raise self.failure

    async def _read_body(self, stream: IOStream) -> None:
        assert self._unread is not None
        size = min(DIRECT_CHUNK, self._unread)
        buffers = [memoryview(bytearray(size)), memoryview(bytearray(size))]
        turn = 0
        try:
            while self._unread:
                view = buffers[turn][: min(size, self._unread)]
                turn ^= 1
                try:
                    await self._fill(stream, view)
                except StreamClosedError:
                    # The client went away mid-body. Nothing of the upload is kept, and the
                    # request ends as any whose client has gone (BaseHandler's
                    # on_connection_close): its own task cancelled, which Tornado and
                    # BaseHandler take as no error.
                    self._client_gone = True
                    self._abort_upload()
                    task = asyncio.current_task()
                    assert task is not None
                    task.cancel()
                    await asyncio.sleep(0)
                self._unread -= len(view)
                # Once this returns the other buffer is free again (HashedStream.write_view).
                await self._store(self.upload.write_view if self.upload else None, view)
        except BaseException:
            # Cancelled (the client has gone) with a read pending: Tornado 6.6 keeps our buffer
            # as the closed stream's, and on looking for a next request searches all of it for
            # the end of a header block. Zeroed, it holds none, so the connection ends there;
            # left as it was, stale body bytes could be taken for headers.
            for buffer in buffers:
                buffer[:] = bytes(len(buffer))
            raise

    @staticmethod
    async def _fill(stream: IOStream, view: memoryview) -> None:
        # Partial reads, each done once a read from the socket brought any bytes: a stream
        # closed while a whole-buffer read is pending keeps that buffer as its own, and Tornado
        # would look for the next request's headers in it.
        filled = 0
        while filled < len(view):
            filled += await stream.read_into(view[filled:], partial=True)  # type: ignore[arg-type]

    async def data_received(self, chunk: bytes) -> None:
        await self._store(self.upload.write if self.upload else None, chunk)

    async def _store(self, write: Callable[[Any], Awaitable[None]] | None, chunk: Any) -> None:
        # After a failure the rest of the body is read and discarded, so the client gets our
        # answer rather than a reset.
        if self.failure is not None or write is None:
            return
        try:
            await write(chunk)
        except TrevorError as exc:
            self.failure = exc
        except StorageError as exc:
            log.error(
                "%s %s: the object store failed: %s", self.request.method, self.request.path, exc
            )
            self.failure = Unavailable(
                "the object store failed while storing the upload; nothing was kept"
            )
        except Exception:
            # A bug, but the body is still read to its end (see the module's docstring).
            log.exception(
                "%s %s: storing the upload failed", self.request.method, self.request.path
            )
            self.failure = TrevorError("storing the upload failed; nothing was kept")
        if self.failure is not None:
            self._abort_upload()

    def on_finish(self) -> None:
        super().on_finish()
        # The connection may carry a next request, which reads as every other does.
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None:
            stream.read_chunk_size = READ_CHUNK

    def on_connection_close(self) -> None:
        # The client went away mid-upload: discard the partial bytes.
        self._abort_upload()
        super().on_connection_close()

    def _abort_upload(self) -> None:
        if self.upload is not None and not self.upload.writer.committed:
            task = asyncio.ensure_future(self.upload.abort())
            _aborts.add(task)
            task.add_done_callback(_aborts.discard)
