"""The local store writes behind: each batch is sent to the disk as soon as it is written, the
batch before it is waited for and dropped from the page cache, and the commit still fsyncs the
whole file before the object becomes visible."""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
from pathlib import Path

import pytest

from trevor_backend.storage import LocalStore, local, writeback

BATCH = 64 << 10  # the smallest buffer_size allowed: many batches from a small object

needs_write_behind = pytest.mark.skipif(
    not writeback.AVAILABLE, reason="sync_file_range is Linux-only"
)


class Calls:
    """Records the write-behind calls (passing them on) and the fsyncs, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, int, int]] = []
        start, settle, fsync = writeback.start, writeback.settle, os.fsync

        def record_start(fd: int, offset: int, length: int) -> None:
            self.events.append(("start", offset, length))
            start(fd, offset, length)

        def record_settle(fd: int, offset: int, length: int) -> None:
            self.events.append(("settle", offset, length))
            settle(fd, offset, length)

        def record_fsync(fd: int) -> None:
            self.events.append(("fsync", fd, 0))
            fsync(fd)

        monkeypatch.setattr(writeback, "start", record_start)
        monkeypatch.setattr(writeback, "settle", record_settle)
        monkeypatch.setattr(local.os, "fsync", record_fsync)

    def named(self, *names: str) -> list[tuple[str, int, int]]:
        return [e for e in self.events if e[0] in names]


async def write_object(store: LocalStore, key: str, body: bytes, piece: int = 10_000) -> None:
    async with store.open_writer(key) as writer:
        for i in range(0, len(body), piece):
            await writer.write(body[i : i + piece])


@needs_write_behind
async def test_every_batch_is_started_and_the_one_before_settled_then_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    store = LocalStore(root=str(tmp_path / "objects"), buffer_size=BATCH)
    body = os.urandom(5 * BATCH + 777)
    await write_object(store, "a/b", body)

    assert (tmp_path / "objects" / "a" / "b").read_bytes() == body
    started = calls.named("start")
    # Batches are written in order and cover the file without gaps or overlaps.
    assert [s[1] for s in started] == sorted(s[1] for s in started)
    assert sum(s[2] for s in started) == len(body)
    assert all(a[1] + a[2] == b[1] for a, b in itertools.pairwise(started))
    # Each batch but the last is settled (waited for and dropped) once the next is written.
    assert calls.named("settle") == [("settle", s[1], s[2]) for s in started[:-1]]
    # Durability does not rest on write-behind: the file is fsynced after the last batch.
    last_batch = max(i for i, e in enumerate(calls.events) if e[0] in ("start", "settle"))
    fsyncs = [i for i, e in enumerate(calls.events) if e[0] == "fsync"]
    assert fsyncs and fsyncs[0] > last_batch


async def test_without_write_behind_only_the_commit_flushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    store = LocalStore(root=str(tmp_path / "objects"), buffer_size=BATCH, write_behind=False)
    body = os.urandom(3 * BATCH + 5)
    await write_object(store, "k", body)
    assert (tmp_path / "objects" / "k").read_bytes() == body
    assert calls.named("start", "settle") == []
    assert calls.named("fsync")


@needs_write_behind
async def test_a_file_system_without_write_behind_still_stores_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused: list[int] = []

    def unsupported(fd: int, offset: int, length: int) -> None:
        refused.append(offset)
        raise OSError(errno.EINVAL, "not here")

    monkeypatch.setattr(writeback, "start", unsupported)
    store = LocalStore(root=str(tmp_path / "objects"), buffer_size=BATCH)
    body = os.urandom(4 * BATCH + 1)
    await write_object(store, "k", body)
    assert hashlib.sha256((tmp_path / "objects" / "k").read_bytes()).digest() == (
        hashlib.sha256(body).digest()
    )
    assert refused == [0]  # tried once, then the writer stopped asking


@needs_write_behind
async def test_a_disk_error_during_write_behind_fails_the_write_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(writeback, "settle", broken)
    store = LocalStore(root=str(tmp_path / "objects"), buffer_size=BATCH)
    with pytest.raises(local.StorageError):
        await write_object(store, "k", os.urandom(4 * BATCH))
    assert not (tmp_path / "objects" / "k").exists()
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []
