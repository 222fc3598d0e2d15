"""The server extension never does file work on Jupyter's event loop: reading an output for
upload and hashing it as it streams, and the inbox's hashing, fsync and placing all run in
worker threads.

Checked directly: the functions that touch the disk record the thread they ran in, and it is
never the thread running the event loop. (benchmarks/upload.py measures the effect: Jupyter's
/api/status latency during a large upload.)"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from jupyter_trevor import client as client_mod
from jupyter_trevor import inbox as inbox_mod
from jupyter_trevor.client import BackendClient, LocalOutput, upload_output
from jupyter_trevor.inbox import DeliveryItem, deliver_one
from tests.fixtures.backend import LiveBackend

from .conftest import ByteServer

DATA = b"region,n\nnorth,12\nsouth,15\n" * 400_000  # ~10 MB: several upload chunks


class Threads:
    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}

    def spy(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.seen.setdefault(name, set()).add(threading.get_ident())
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)


class ReadSpy:
    """A file whose reads record their thread."""

    def __init__(self, fh: Any, threads: Threads) -> None:
        self.fh, self.threads = fh, threads

    def read(self, n: int = -1) -> bytes:
        self.threads.seen.setdefault("read", set()).add(threading.get_ident())
        return self.fh.read(n)

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> ReadSpy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spied_path(path: Path, threads: Threads) -> Path:
    class SpyPath(type(path)):  # type: ignore[misc]
        def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            return ReadSpy(Path(str(self)).open(*args, **kwargs), threads)

    return SpyPath(path)


async def test_upload_hashes_and_reads_off_the_loop(
    live: LiveBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads = Threads()
    threads.spy(monkeypatch, client_mod, "_read_and_hash")
    file = tmp_path / "table.csv"
    file.write_bytes(DATA)
    rid = (await live.client("alice").create_request())["id"]
    api = BackendClient(live.url, live.tokens["alice"])
    try:
        obj = await upload_output(
            api,
            rid,
            LocalOutput(
                output_id="o1",
                file=spied_path(file, threads),
                filename="table.csv",
                metadata={"title": "Table 1", "statbarn": "Frequencies"},
                evidence={},
                provenance={},
            ),
        )
    finally:
        api.close()
    assert obj["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert set(threads.seen) == {"_read_and_hash", "read"}
    assert loop_thread not in threads.seen["_read_and_hash"]
    assert loop_thread not in threads.seen["read"]


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
async def test_upload_reads_and_hashes_at_a_lower_priority_than_the_loop(
    live: LiveBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a busy machine the loop must win the CPU over the upload's bulk work."""
    loop_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: list[int] = []
    read_and_hash = client_mod._read_and_hash

    def recording(fh: Any, hasher: Any) -> bytes:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return read_and_hash(fh, hasher)

    monkeypatch.setattr(client_mod, "_read_and_hash", recording)
    file = tmp_path / "table.csv"
    file.write_bytes(DATA)
    rid = (await live.client("alice").create_request())["id"]
    api = BackendClient(live.url, live.tokens["alice"])
    try:
        obj = await api.upload_file(rid, file, filename="table.csv", hasher=hashlib.sha256())
    finally:
        api.close()
    assert obj["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert len(seen) >= 3  # several chunks, and the end of the file
    assert all(n == min(19, loop_niceness + client_mod.BULK_NICENESS) for n in seen), seen
    # The loop thread itself was left alone.
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop_niceness


async def test_inbox_delivery_does_file_work_off_the_loop(
    tmp_path: Path, byte_server: ByteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    threads = Threads()
    for name in ("_sha256_of", "_place_exclusively", "_flush_to_disk"):
        threads.spy(monkeypatch, inbox_mod, name)
    url = byte_server.serve("o1", DATA)
    api = BackendClient(byte_server.url, "secret-token")
    it = DeliveryItem(
        request_id="r1",
        object_id="o1",
        filename="lookup.csv",
        sha256=hashlib.sha256(DATA).hexdigest(),
        size=len(DATA),
        url=url,
    )

    async def download(u: str, out: Any, max_bytes: int | None) -> str:
        return await api.download_to(u, out, max_bytes=max_bytes)

    async def ack(_item: DeliveryItem) -> None:
        return None

    try:
        first = await deliver_one(
            it, workspace=tmp_path, inbox_dir="inbox", download=download, acknowledge=ack
        )
        # A second run finds the file in place and hashes it to confirm.
        again = await deliver_one(
            it, workspace=tmp_path, inbox_dir="inbox", download=download, acknowledge=ack
        )
    finally:
        api.close()
    assert (first.status, again.status) == ("delivered", "already_delivered")
    assert set(threads.seen) == {"_sha256_of", "_place_exclusively", "_flush_to_disk"}
    for name, idents in threads.seen.items():
        assert loop_thread not in idents, name
