"""Object store in a local directory (the embedded default).

Atomicity: every write goes to a private temp file under ``<root>/.tmp/`` (same filesystem, so
the final ``os.replace`` is an atomic rename), the file is fsynced before the rename and the
directory after it. A reader therefore sees either the previous object or the complete new one,
and after ``commit`` returns the object survives a power cut. A crash before ``commit`` leaves
only a temp file, which ``list_keys`` never shows and :meth:`LocalStore.cleanup_temp` removes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import os
import stat
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta

from traitlets import Bool, Int, TraitError, Unicode, validate
from traitlets.utils.bunch import Bunch

from . import writeback
from .base import (
    Background,
    ObjectNotFound,
    ObjectStore,
    ObjectWriter,
    StorageError,
    seconds,
    validate_key,
    validate_prefix,
)

TEMP_DIR = ".tmp"


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: Buffers one writev() takes at most (POSIX guarantees 16; Linux takes 1024).
_IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 16))


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write ``chunks`` in order with writev: one system call per batch, no joined copy."""
    views = collections.deque(memoryview(c) for c in chunks if c)
    while views:
        # writev may write less than asked (signals, huge batches): drop what was written and
        # continue from the first byte that was not.
        written = os.writev(fd, list(itertools.islice(views, _IOV_MAX)))
        while written:
            if written >= len(views[0]):
                written -= len(views.popleft())
            else:
                views[0] = views[0][written:]
                written = 0


class LocalWriter(ObjectWriter):
    """Buffers small chunks into batches of ``buffer_size`` and hands each batch to a worker
    thread while the next one fills, so disk writes overlap with the caller's network reads and
    hashing instead of costing one thread hop per chunk. With ``LocalStore.write_behind`` each
    batch goes on to the disk while the next ones arrive (see :mod:`.writeback`)."""

    def __init__(self, store: LocalStore, key: str, fd: int, temp_path: str, path: str) -> None:
        super().__init__(key)
        self._store = store
        self._fd = fd
        self.temp_path = temp_path
        self._path = path
        self._batch: list[bytes] = []
        self._batched = 0
        #: bytes handed to the worker thread so far (the file offset of the next batch)
        self._offset = 0
        #: the range written last and not yet settled by write-behind
        self._unsettled: tuple[int, int] | None = None
        self._write_behind = store.write_behind and writeback.AVAILABLE
        self._background = Background()
        # A writer dropped without commit or abort must not leak its descriptor.
        self._finalizer = weakref.finalize(self, os.close, fd)

    async def _write(self, data: bytes) -> None:
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= self._store.buffer_size:
            await self._hand_on()

    async def _write_view(self, view: memoryview) -> None:
        # A batch of its own, handed to the worker thread at once: _flush first waits for the
        # batch before it, so once the next write returns this view is no longer read.
        self._batch.append(view)  # type: ignore[arg-type]
        self._batched += len(view)
        await self._hand_on()

    async def _hand_on(self) -> None:
        try:
            await self._flush()
        except OSError as exc:
            raise StorageError(f"cannot write {self.key!r}: {exc}") from exc

    async def _flush(self) -> None:
        # Waiting for the previous batch first bounds memory to two batches (backpressure).
        await self._background.wait()
        if not self._batch:
            return
        chunks, offset = self._batch, self._offset
        self._offset += self._batched
        self._batch, self._batched = [], 0
        # A bound method, so the running write keeps the writer (and its fd) alive.
        self._background.start(asyncio.to_thread(self._write_batch, chunks, offset))

    def _write_batch(self, chunks: list[bytes], offset: int) -> None:
        _write_all(self._fd, chunks)
        if not self._write_behind:
            return
        length = sum(len(c) for c in chunks)
        try:
            writeback.start(self._fd, offset, length)
            # The batch before this one has had a whole batch's time to reach the disk;
            # waiting for it keeps the writer at the disk's pace with two batches in memory.
            if self._unsettled is not None:
                writeback.settle(self._fd, *self._unsettled)
        except OSError as exc:
            if exc.errno not in writeback.UNSUPPORTED:
                raise
            # A file system without it: the commit's fsync writes everything, as it always may.
            self._write_behind = False
        self._unsettled = (offset, length)

    async def _commit(self) -> None:
        try:
            await self._flush()
            await self._background.wait()
            await asyncio.to_thread(self._finish)
        except OSError as exc:
            raise StorageError(f"cannot store {self.key!r}: {exc}") from exc

    def _finish(self) -> None:
        if self._store.fsync:
            os.fsync(self._fd)
        self._close()
        self._store._install(self.temp_path, self._path)

    def _close(self) -> None:
        if self._fd >= 0:
            self._fd = -1
            self._finalizer()

    async def _abort(self) -> None:
        self._batch = []
        # A worker thread may still be writing to the fd; closing it under the thread would let
        # the number be reused by another file and receive our bytes.
        if await self._background.settle():
            self._release()
        else:
            self._background.when_done(self._release)

    def _release(self) -> None:
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)
        self._store._active_temp.pop(self.temp_path, None)


class LocalStore(ObjectStore):
    """Objects as files under ``root``; key ``a/b/c`` is the file ``<root>/a/b/c``."""

    root = Unicode(
        help="Directory holding the objects. Created if missing. Temp files live in its "
        "'.tmp' subdirectory, so the key prefix '.tmp' is reserved."
    ).tag(config=True)

    fsync = Bool(
        True,
        help="fsync each object and its directory on commit. Turning this off trades crash "
        "safety for speed and is only sensible for throwaway data.",
    ).tag(config=True)

    write_behind = Bool(
        True,
        help="Send each written batch to the disk at once and drop it from the page cache once "
        "there, so an upload holds about two batches in memory and the commit's fsync is short "
        "(Linux; elsewhere the commit's fsync writes everything). The commit fsyncs either way.",
    ).tag(config=True)

    buffer_size = Int(
        4 << 20,
        help="Bytes collected before one write to disk. Larger batches mean fewer thread "
        "switches; two batches per active upload are held in memory.",
    ).tag(config=True)

    @validate("root")
    def _validate_root(self, proposal: Bunch) -> str:
        root: str = proposal["value"]
        if not root:
            raise TraitError("LocalStore.root must be set")
        return os.path.abspath(os.path.expanduser(root))

    @validate("buffer_size")
    def _validate_buffer_size(self, proposal: Bunch) -> int:
        size: int = proposal["value"]
        if size < 64 << 10:
            raise TraitError("LocalStore.buffer_size must be at least 64 KiB")
        return size

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if not self.root:
            raise TraitError("LocalStore.root must be set")
        self.temp_root = os.path.join(self.root, TEMP_DIR)
        # Temp files of writers still open in this process; cleanup_temp never touches them.
        # Weak, so a writer dropped without commit or abort becomes sweepable.
        self._active_temp: weakref.WeakValueDictionary[str, LocalWriter] = (
            weakref.WeakValueDictionary()
        )

    def __repr__(self) -> str:
        return f"LocalStore(root={self.root!r})"

    # -- paths ---------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        validate_key(key)
        segments = key.split("/")
        if segments[0] == TEMP_DIR:
            raise ValueError(f"object keys under {TEMP_DIR!r} are reserved: {key!r}")
        # validate_key refused '..', '.', empty and absolute segments, so this stays in root.
        return os.path.join(self.root, *segments)

    def _ensure_dirs(self) -> None:
        os.makedirs(self.temp_root, exist_ok=True)

    def _makedirs(self, path: str) -> None:
        """Create ``path`` and missing parents, fsyncing each parent so the new entries survive a
        crash together with the object renamed into them."""
        missing: list[str] = []
        current = path
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for directory in reversed(missing):
            try:
                os.mkdir(directory)
            except FileExistsError:
                if not os.path.isdir(directory):
                    raise StorageError(
                        f"{os.path.relpath(directory, self.root)!r} is an object, so it cannot "
                        "also be a key prefix on the local store"
                    ) from None
            if self.fsync:
                _fsync_dir(os.path.dirname(directory))

    def _install(self, temp_path: str, path: str) -> None:
        parent = os.path.dirname(path)
        self._makedirs(parent)
        if os.path.isdir(path):
            raise StorageError(
                f"{os.path.relpath(path, self.root)!r} is a key prefix of other objects on the "
                "local store, so it cannot also be an object"
            )
        os.replace(temp_path, path)
        self._active_temp.pop(temp_path, None)
        if self.fsync:
            _fsync_dir(parent)

    # -- writing -------------------------------------------------------------------------

    async def _open_writer(self, key: str) -> LocalWriter:
        path = self._path(key)

        def create() -> tuple[int, str]:
            self._ensure_dirs()
            temp_path = os.path.join(self.temp_root, f"{uuid.uuid4().hex}.part")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
            return os.open(temp_path, flags, 0o600), temp_path

        try:
            fd, temp_path = await asyncio.to_thread(create)
        except OSError as exc:
            raise StorageError(f"cannot start writing {key!r}: {exc}") from exc
        writer = LocalWriter(self, key, fd, temp_path, path)
        self._active_temp[temp_path] = writer
        return writer

    async def move(self, src: str, dst: str) -> None:
        src_path, dst_path = self._path(src), self._path(dst)

        def move_sync() -> None:
            # os.replace would happily move a directory, so insist on a regular file.
            if not os.path.isfile(src_path):
                raise ObjectNotFound(src)
            self._install(src_path, dst_path)
            if self.fsync:
                _fsync_dir(os.path.dirname(src_path))

        try:
            await asyncio.to_thread(move_sync)
        except FileNotFoundError as exc:
            raise ObjectNotFound(src) from exc
        except OSError as exc:
            raise StorageError(f"cannot move {src!r} to {dst!r}: {exc}") from exc

    async def delete(self, key: str) -> None:
        path = self._path(key)

        def delete_sync() -> None:
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return
            if self.fsync:
                _fsync_dir(os.path.dirname(path))

        try:
            await asyncio.to_thread(delete_sync)
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r}: {exc}") from exc

    # -- reading -------------------------------------------------------------------------

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        return self._iter_file(key, self._path(key), chunk_size)

    async def _iter_file(self, key: str, path: str, chunk_size: int) -> AsyncIterator[bytes]:
        def open_regular() -> int:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise FileNotFoundError(path)
            return fd

        try:
            fd = await asyncio.to_thread(open_regular)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc
        try:
            while True:
                chunk = await asyncio.to_thread(os.read, fd, chunk_size)
                if not chunk:
                    return
                yield chunk
        finally:
            os.close(fd)

    async def read_bytes(self, key: str) -> bytes:
        path = self._path(key)

        def read_sync() -> bytes:
            with open(path, "rb") as f:
                return f.read()

        try:
            return await asyncio.to_thread(read_sync)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot read {key!r}: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(os.path.isfile, self._path(key))

    async def size(self, key: str) -> int:
        path = self._path(key)
        try:
            st = await asyncio.to_thread(os.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(key)
        return st.st_size

    def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        validate_prefix(prefix)
        return self._list(prefix)

    def _list_sync(self, prefix: str) -> list[str]:
        # Start at the deepest directory the prefix names and prune directories that cannot
        # match, so listing one request's objects does not walk the whole store.
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = os.path.join(self.root, *base.split("/")) if base else self.root
        keys: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel + "/"
            if not rel:
                dirnames[:] = [d for d in dirnames if d != TEMP_DIR]
            dirnames[:] = [
                d
                for d in dirnames
                if (rel + d + "/").startswith(prefix) or prefix.startswith(rel + d + "/")
            ]
            keys.extend(rel + name for name in filenames if (rel + name).startswith(prefix))
        keys.sort()
        return keys

    async def _list(self, prefix: str) -> AsyncIterator[str]:
        try:
            keys = await asyncio.to_thread(self._list_sync, prefix)
        except OSError as exc:
            raise StorageError(f"cannot list {prefix!r}: {exc}") from exc
        for key in keys:
            yield key

    # -- housekeeping --------------------------------------------------------------------

    async def ping(self) -> None:
        def probe() -> None:
            # A real write proves more than os.access: a read-only remount or a full disk fails.
            self._ensure_dirs()
            path = os.path.join(self.temp_root, f"ping-{uuid.uuid4().hex}.part")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
                os.unlink(path)

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise StorageError(f"local store at {self.root!r} is not writable: {exc}") from exc

    async def cleanup_temp(self, older_than: float | timedelta) -> int:
        """Delete temp files not modified for ``older_than`` seconds. Writers open in this
        process are skipped; another process writing into the same root is not known to us, so
        ``older_than`` must exceed the longest pause an upload may have (hours, not seconds)."""
        cutoff = time.time() - seconds(older_than)

        def sweep() -> int:
            removed = 0
            try:
                entries = list(os.scandir(self.temp_root))
            except FileNotFoundError:
                return 0
            for entry in entries:
                if entry.path in self._active_temp or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except FileNotFoundError:
                    continue
            return removed

        removed = await asyncio.to_thread(sweep)
        if removed:
            self.log.info("Removed %d stale temp file(s) from %s", removed, self.temp_root)
        return removed
