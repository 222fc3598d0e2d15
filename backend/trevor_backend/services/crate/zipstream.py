"""The released request's RO-Crate written as a zip streamed to the store.

:func:`write_zip` streams a zip of the crate's metadata plus every object's bytes into an
:class:`~trevor_backend.storage.ObjectWriter`, in constant memory, verifying each object's
sha256 on the very bytes that go into the zip (no window between check and copy) and hashing
the zip itself on the way out.

Python's :mod:`zipfile` writes to a non-seekable stream (sizes go into data descriptors and the
central directory), but it is synchronous, while the store is asynchronous. The zip is therefore
written in a dedicated thread whose file-like output hands chunks to the event loop through a
bounded queue (at most ``QUEUE_DEPTH`` chunks in flight), and whose input chunks are pulled
from the store's async iterators on the loop. The thread never touches the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...storage import ObjectWriter
from .metadata import (
    METADATA_NAME,
    PREVIEW_NAME,
    CrateFile,
    CrateRequest,
    build_metadata,
    render_preview,
)

CHUNK = 1 << 20
QUEUE_DEPTH = 4


class IntegrityError(Exception):
    """An object's stored bytes no longer match the sha256 (or size) recorded at upload."""

    def __init__(self, file: CrateFile, actual_sha256: str, actual_size: int) -> None:
        super().__init__(
            f"object {file.object_id} ({file.filename}) does not match its record: "
            f"sha256 {actual_sha256} != {file.sha256}"
            + (f", size {actual_size} != {file.size}" if actual_size != file.size else "")
        )
        self.file = file
        self.actual_sha256 = actual_sha256
        self.actual_size = actual_size


class _Cancelled(Exception):
    """The consumer gave up (store failure); the zip thread stops at its next write."""


@dataclass
class ZipResult:
    sha256: str
    size: int
    verified: list[str] = field(default_factory=list)  # object ids whose bytes were checked


@dataclass
class _Entry:
    arcname: str
    data: bytes | None = None
    file: CrateFile | None = None


class _QueueFile:
    """The zip thread's output: coalesces zipfile's small header writes into chunks and hands
    them to the event loop, blocking when ``QUEUE_DEPTH`` chunks are waiting (back-pressure)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        self.loop = loop
        self.queue = queue
        self.buffer = bytearray()
        self.position = 0
        self.cancelled = threading.Event()

    def _put(self, item: Any) -> None:
        if self.cancelled.is_set():
            raise _Cancelled()
        asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self.position += n
        if n >= CHUNK:
            self.flush()
            self._put(bytes(data))
        else:
            self.buffer += data
            if len(self.buffer) >= CHUNK:
                self.flush()
        return n

    def tell(self) -> int:
        # zipfile asks for the offset of each local header; a stream's offset is what it wrote.
        return self.position

    def flush(self) -> None:
        if self.buffer:
            chunk = bytes(self.buffer)
            self.buffer.clear()
            self._put(chunk)

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        # zipfile never closes a stream it was handed; this makes _QueueFile a writable file.
        self.flush()


async def _next_chunk(it: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return None


def _zip_thread(
    entries: list[_Entry],
    out: _QueueFile,
    source: Callable[[CrateFile], AsyncIterator[bytes]],
    date_time: tuple[int, int, int, int, int, int],
    verified: list[str],
) -> None:
    loop = out.loop
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.arcname, date_time=date_time)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            # force_zip64: the size is unknown to zipfile before the bytes pass, and an object
            # may exceed 4 GiB.
            with zf.open(info, mode="w", force_zip64=True) as member:
                if entry.data is not None:
                    member.write(entry.data)
                    continue
                assert entry.file is not None
                it = source(entry.file)
                digest = hashlib.sha256()
                size = 0
                try:
                    while True:
                        if out.cancelled.is_set():
                            raise _Cancelled()
                        chunk = asyncio.run_coroutine_threadsafe(_next_chunk(it), loop).result()
                        if chunk is None:
                            break
                        digest.update(chunk)
                        size += len(chunk)
                        member.write(chunk)
                finally:
                    closer = getattr(it, "aclose", None)
                    if closer is not None:
                        asyncio.run_coroutine_threadsafe(closer(), loop).result()
                if digest.hexdigest() != entry.file.sha256 or size != entry.file.size:
                    raise IntegrityError(entry.file, digest.hexdigest(), size)
                verified.append(entry.file.object_id)
    out.flush()


async def write_zip(
    writer: ObjectWriter,
    req: CrateRequest,
    released_at: datetime,
    source: Callable[[CrateFile], AsyncIterator[bytes]],
) -> ZipResult:
    """Stream the crate into ``writer`` (not committed here). Raises :class:`IntegrityError`
    when an object's bytes do not match its record; the caller then aborts the writer."""
    metadata = json.dumps(build_metadata(req, released_at), indent=2, ensure_ascii=False)
    entries = [
        _Entry(METADATA_NAME, data=metadata.encode()),
        _Entry(PREVIEW_NAME, data=render_preview(req, released_at).encode()),
        *(_Entry(f.arcname, file=f) for f in req.files),
    ]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    out = _QueueFile(loop, queue)
    done = object()
    verified: list[str] = []
    stamp = released_at.timetuple()[:6]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _zip_thread(entries, out, source, stamp, verified)
        except BaseException as exc:  # handed to the loop, re-raised there
            failure.append(exc)
        finally:
            if not out.cancelled.is_set():
                asyncio.run_coroutine_threadsafe(queue.put(done), loop).result()

    thread = threading.Thread(target=run, name=f"crate-{req.id}", daemon=True)
    digest = hashlib.sha256()
    size = 0
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is done:
                break
            digest.update(item)
            size += len(item)
            await writer.write(item)
    except BaseException:
        # Stop the thread: it raises at its next write or chunk; drain so it is not left
        # blocked on a full queue.
        out.cancelled.set()
        while not queue.empty():
            queue.get_nowait()
        await asyncio.to_thread(thread.join)
        raise
    await asyncio.to_thread(thread.join)
    if failure:
        raise failure[0]
    return ZipResult(sha256=digest.hexdigest(), size=size, verified=verified)
