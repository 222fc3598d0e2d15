"""The object store contract shared by the local-directory and S3 implementations.

Services never see paths or buckets: they write through an :class:`ObjectWriter` (nothing is
visible until ``commit``) and read through streamed iterators, so an upload of any size runs in
constant memory and a failed upload leaves nothing behind.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from datetime import timedelta
from types import TracebackType
from typing import Any

from traitlets.config import LoggingConfigurable


class StorageError(Exception):
    """The store failed or is unreachable; the operation had no visible effect unless stated."""


class ObjectNotFound(StorageError):
    """No object exists at the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no object at key {key!r}")
        self.key = key


# Control characters and backslashes are refused so that a key means the same thing on every
# store and in every log line (a backslash is a separator on Windows-hosted S3 gateways).
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative '/'-separated path, else raise ``ValueError``.

    Empty, '.' and '..' segments are all refused, not normalised: normalising would let two
    spellings name one object on the local store but two objects on S3.
    """
    if not isinstance(key, str):
        raise ValueError(f"object key must be a string, not {type(key).__name__}")
    if not key:
        raise ValueError("object key must not be empty")
    if key.startswith("/"):
        raise ValueError(f"object key must be relative: {key!r}")
    if _FORBIDDEN_CHARS.search(key):
        raise ValueError(f"object key contains a control character or backslash: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"object key has an empty, '.' or '..' segment: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Like :func:`validate_key` but allows '' and a trailing '/' (list by "directory")."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def content_disposition(filename: str) -> str:
    """An RFC 6266 ``attachment`` header value: an ASCII fallback for old clients plus the exact
    UTF-8 name, with quotes and control characters neutralised so the name cannot break out."""
    fallback = (
        "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else "_" for c in filename)
        or "download"
    )
    exact = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Background:
    """At most one background operation per writer (a disk write or a part upload) that runs
    while the caller produces the next batch."""

    def __init__(self) -> None:
        self._task: asyncio.Future[None] | None = None

    def start(self, operation: Coroutine[Any, Any, None]) -> None:
        assert self._task is None, "wait() for the previous operation first"
        self._task = asyncio.ensure_future(operation)

    async def wait(self) -> None:
        """Wait for the operation and raise its error. Shielded: cancelling the caller must not
        stop an operation half-way, or an abort could release the file or upload under it."""
        task = self._task
        if task is None:
            return
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._task = None

    async def settle(self) -> bool:
        """For abort: wait, ignoring the outcome. False if it is still running (the caller was
        cancelled while waiting); use :meth:`when_done` then."""
        task = self._task
        if task is None:
            return True
        with contextlib.suppress(BaseException):
            await asyncio.shield(task)
        if not task.done():
            return False
        self._task = None
        return True

    def when_done(self, callback: Callable[[], None]) -> None:
        assert self._task is not None

        def done(task: asyncio.Future[None]) -> None:
            if not task.cancelled():
                task.exception()  # consumed here: the abort that follows is the outcome
            callback()

        self._task.add_done_callback(done)


class ObjectWriter(abc.ABC):
    """A write in progress. Invisible at ``key`` until :meth:`commit` returns.

    Usable as ``async with``: a clean exit commits, an exception aborts (and propagates).
    """

    def __init__(self, key: str) -> None:
        self.key = key
        #: bytes accepted by :meth:`write` so far
        self.size = 0
        self._state = "open"  # open -> committed | aborted

    @property
    def committed(self) -> bool:
        return self._state == "committed"

    @property
    def aborted(self) -> bool:
        return self._state == "aborted"

    def _check_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"writer for {self.key!r} is already {self._state}")

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        # The caller may reuse a mutable buffer after we return; implementations keep references.
        await self._accept(
            chunk, lambda: self._write(chunk if type(chunk) is bytes else bytes(chunk))
        )

    async def write_view(self, view: memoryview) -> None:
        """Write a view of a buffer the caller fills again once the write after this one has
        returned (two buffers taken in turn): a writer that hands each batch on before taking
        the next (the local store's) keeps the view that long instead of copying it."""
        await self._accept(view, lambda: self._write_view(view))

    async def _accept(self, data: Any, write: Callable[[], Awaitable[None]]) -> None:
        self._check_open()
        if not data:
            return
        self.size += len(data)
        try:
            await write()
        except BaseException:
            await self.abort()
            raise

    async def _write_view(self, view: memoryview) -> None:
        await self._write(bytes(view))

    async def commit(self) -> None:
        """Make the object durably visible at ``key``. A second call is a no-op."""
        if self._state == "committed":
            return
        self._check_open()
        try:
            await self._commit()
        except BaseException:
            await self.abort()
            raise
        self._state = "committed"

    async def abort(self) -> None:
        """Discard everything written. Idempotent; a no-op after a successful commit."""
        if self._state != "open":
            return
        self._state = "aborted"
        await self._abort()

    @abc.abstractmethod
    async def _write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _abort(self) -> None:
        """Release resources; must tolerate a partially started write and never raise for
        'already gone'."""

    async def __aenter__(self) -> ObjectWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.commit()
        else:
            await self.abort()


class WriterContext:
    """What :meth:`ObjectStore.open_writer` returns: await it for a writer, or use it directly
    with ``async with`` (commit on clean exit, abort on exception)."""

    def __init__(self, store: ObjectStore, key: str) -> None:
        self._store = store
        self._key = key
        self._writer: ObjectWriter | None = None

    def __await__(self) -> Generator[Any, None, ObjectWriter]:
        return self._store._open_writer(self._key).__await__()

    async def __aenter__(self) -> ObjectWriter:
        self._writer = await self._store._open_writer(self._key)
        return self._writer

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._writer is not None
        await self._writer.__aexit__(exc_type, exc, tb)


class ObjectStore(LoggingConfigurable):
    """Abstract object store. Keys are '/'-separated relative paths (see :func:`validate_key`)."""

    def open_writer(self, key: str) -> WriterContext:
        """Start a streamed write. ``w = await store.open_writer(k)`` or
        ``async with store.open_writer(k) as w:``."""
        validate_key(key)
        return WriterContext(self, key)

    async def _open_writer(self, key: str) -> ObjectWriter:
        raise NotImplementedError

    async def put_bytes(self, key: str, data: bytes) -> None:
        async with self.open_writer(key) as writer:
            await writer.write(data)

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        """Stream the object. ``ObjectNotFound`` is raised on the first iteration, so a handler
        that must choose a status code before streaming should call :meth:`size` first."""
        raise NotImplementedError

    async def read_bytes(self, key: str) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes(key)])

    async def exists(self, key: str) -> bool:
        raise NotImplementedError

    async def size(self, key: str) -> int:
        """Size in bytes; raises ``ObjectNotFound``."""
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""
        raise NotImplementedError

    async def move(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, replacing ``dst``; raises ``ObjectNotFound`` for ``src``."""
        raise NotImplementedError

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys starting with ``prefix`` (a plain string prefix, not only whole segments),
        in lexicographic order."""
        raise NotImplementedError

    async def presigned_get_url(
        self, key: str, expires_in: int, filename: str | None = None
    ) -> str | None:
        """A URL that downloads the object without credentials, or None if the store cannot
        sign URLs (then the backend must serve the bytes itself)."""
        validate_key(key)
        return None

    async def presigned_put_url(
        self, key: str, expires_in: int, size: int | None = None
    ) -> str | None:
        """A URL that accepts one HTTP PUT of the object body, or None if unsupported.
        With ``size`` the URL only accepts a body of exactly that many bytes."""
        validate_key(key)
        return None

    async def ping(self) -> None:
        """Raise ``StorageError`` unless the store can currently be written."""
        raise NotImplementedError

    async def cleanup_temp(self, older_than: float | timedelta) -> int:
        """Remove leftovers of writes that never committed (crashed processes) older than
        ``older_than`` (seconds, or a timedelta). Returns how many were removed."""
        return 0

    async def close(self) -> None:
        """Release connections; the store may not be used afterwards."""

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
