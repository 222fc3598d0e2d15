"""One behavioural suite for both object stores: a local directory and S3 on a real SeaweedFS."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import textwrap
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from traitlets import TraitError

from tests.fixtures.seaweedfs import S3Server, _free_ports
from trevor_backend.storage import (
    LocalStore,
    ObjectNotFound,
    ObjectStore,
    S3Store,
    StorageError,
    content_disposition,
    local,
    store_from_url,
)

MiB = 1 << 20


def list_dir(path: str) -> list[str]:
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


@dataclass
class Case:
    kind: str
    store: ObjectStore
    url: str  # the same store as a TREVOR_STORAGE_URL, for subprocesses
    env: dict[str, str]
    root: Path | None = None
    server: S3Server | None = None

    async def leftovers(self) -> list[str]:
        """What an uncommitted write leaves behind: temp files or open multipart uploads."""
        if isinstance(self.store, LocalStore):
            return await asyncio.to_thread(list_dir, self.store.temp_root)
        assert isinstance(self.store, S3Store)
        return [u["Key"] for u in await self.store.list_incomplete_uploads()]


@pytest.fixture(scope="session")
def s3_bucket(s3_server: S3Server) -> str:
    return s3_server.create_bucket()


@pytest.fixture(params=["local", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    if request.param == "local":
        root = tmp_path / "objects"
        return Case("local", LocalStore(root=str(root)), root.as_uri(), {}, root=root)
    server: S3Server = request.getfixturevalue("s3_server")
    bucket: str = request.getfixturevalue("s3_bucket")
    # One bucket per session, one prefix per test: isolates tests and exercises prefixing.
    prefix = f"run/{uuid.uuid4().hex[:12]}"
    store = S3Store(prefix=prefix, **server.store_kwargs(bucket))
    return Case("s3", store, f"s3://{bucket}/{prefix}", server.env(), server=server)


@pytest.fixture
async def store(case: Case) -> AsyncIterator[ObjectStore]:
    yield case.store
    await case.store.close()


async def collect(iterator: AsyncIterator[str]) -> list[str]:
    return [item async for item in iterator]


# -- basic round trips -------------------------------------------------------------------------


async def test_round_trip(store: ObjectStore) -> None:
    await store.put_bytes("a/b/c.txt", b"hello")
    assert await store.read_bytes("a/b/c.txt") == b"hello"
    assert b"".join(await collect(store.iter_bytes("a/b/c.txt"))) == b"hello"
    assert await store.size("a/b/c.txt") == 5
    assert await store.exists("a/b/c.txt")
    # A key prefix is not an object, on either store.
    assert not await store.exists("a/b")

    await store.put_bytes("empty", b"")
    assert await store.size("empty") == 0
    assert await store.read_bytes("empty") == b""


async def test_overwrite_replaces_whole_object(store: ObjectStore) -> None:
    await store.put_bytes("k", b"first version, longer")
    await store.put_bytes("k", b"second")
    assert await store.read_bytes("k") == b"second"


async def test_streamed_write_in_many_chunks(case: Case, store: ObjectStore) -> None:
    data = os.urandom(12 * MiB)
    step = 64 << 10
    async with store.open_writer("big/object.bin") as writer:
        for offset in range(0, len(data), step):
            await writer.write(data[offset : offset + step])
    assert writer.committed
    assert writer.size == len(data)
    assert await store.size("big/object.bin") == len(data)

    chunks = await collect(store.iter_bytes("big/object.bin", chunk_size=MiB))
    assert b"".join(chunks) == data
    # Streamed: bounded pieces, not one buffer holding the object.
    assert len(chunks) >= 12
    assert max(map(len, chunks)) <= MiB

    if isinstance(store, S3Store):
        # 12 MiB with 8 MiB parts: a real two-part multipart upload, visible in the ETag.
        assert writer.part_count == 2
        assert (await store.etag("big/object.bin")).endswith("-2")
        async with store.open_writer("small") as small:
            await small.write(b"x" * 1000)
        assert small.part_count == 0
        assert "-" not in await store.etag("small")
    assert await case.leftovers() == []


async def test_writer_copies_mutable_buffers(store: ObjectStore) -> None:
    buffer = bytearray(b"original")
    async with store.open_writer("k") as writer:
        await writer.write(buffer)
        # Callers reuse receive buffers; the store must have taken its own copy.
        buffer[:] = b"CHANGED!"
        await writer.write(memoryview(b"-tail"))
    assert await store.read_bytes("k") == b"original-tail"


async def test_write_view_lets_two_buffers_be_refilled_in_turn(
    store: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write_view's contract: a buffer may be refilled once the write after its own has
    returned. Each buffer is scribbled over at that moment, with the local store's disk slowed
    so a batch still being written would show; the object is what was written, in order."""
    import time

    write_batch = local.LocalWriter._write_batch

    def slow(self: local.LocalWriter, chunks: list[bytes], offset: int) -> None:
        time.sleep(0.02)
        write_batch(self, chunks, offset)

    monkeypatch.setattr(local.LocalWriter, "_write_batch", slow)
    data = os.urandom(9 * (4 * MiB) + 777)
    buffers = [memoryview(bytearray(4 * MiB)), memoryview(bytearray(4 * MiB))]
    async with store.open_writer("views") as writer:
        for n, offset in enumerate(range(0, len(data), 4 * MiB)):
            piece = data[offset : offset + 4 * MiB]
            view = buffers[n % 2][: len(piece)]
            view[:] = piece
            await writer.write_view(view)
            buffers[(n + 1) % 2][:] = b"\xff" * (4 * MiB)  # the other one, free again
    assert writer.size == len(data)
    assert await store.read_bytes("views") == data


# -- atomicity ---------------------------------------------------------------------------------


async def test_object_invisible_until_commit(store: ObjectStore) -> None:
    writer = await store.open_writer("pending")
    await writer.write(b"data")
    assert not await store.exists("pending")
    assert await collect(store.list_keys()) == []
    await writer.commit()
    assert await store.read_bytes("pending") == b"data"

    await writer.commit()  # a second commit is harmless
    await writer.abort()  # and abort after commit must not delete the object
    assert await store.read_bytes("pending") == b"data"
    with pytest.raises(StorageError):
        await writer.write(b"more")


async def test_abort_leaves_nothing(case: Case, store: ObjectStore) -> None:
    writer = await store.open_writer("aborted")
    # More than one S3 part, so a multipart upload really exists when we abort.
    await writer.write(os.urandom(9 * MiB))
    await writer.write(b"tail")
    await writer.abort()
    await writer.abort()
    assert writer.aborted
    assert not await store.exists("aborted")
    assert await collect(store.list_keys()) == []
    assert await case.leftovers() == []
    with pytest.raises(StorageError):
        await writer.write(b"x")
    with pytest.raises(StorageError):
        await writer.commit()


async def test_exception_inside_async_with_aborts(case: Case, store: ObjectStore) -> None:
    await store.put_bytes("doc", b"old version")
    with pytest.raises(RuntimeError, match="client went away"):
        async with store.open_writer("doc") as writer:
            await writer.write(os.urandom(9 * MiB))
            raise RuntimeError("client went away")
    assert writer.aborted
    # The failed replacement left the previous version untouched and nothing half-written.
    assert await store.read_bytes("doc") == b"old version"
    assert await case.leftovers() == []


async def test_concurrent_writers_never_mix(store: ObjectStore) -> None:
    first, second = await store.open_writer("k"), await store.open_writer("k")
    for _ in range(4):
        await first.write(b"A" * MiB)
        await second.write(b"B" * MiB)
    await first.commit()
    assert await store.read_bytes("k") == b"A" * 4 * MiB
    await second.commit()
    assert await store.read_bytes("k") == b"B" * 4 * MiB


async def test_cancelled_commit_leaves_whole_object_or_nothing(
    case: Case, store: ObjectStore
) -> None:
    # A client disconnect cancels the handler task at an arbitrary await; try several points.
    data = os.urandom(20 * MiB)
    outcomes = set()
    for ticks in (0, 1, 3, 10, 30):
        writer = await store.open_writer(f"cancel/{ticks}")
        for offset in range(0, len(data), 4 * MiB):
            await writer.write(data[offset : offset + 4 * MiB])
        task = asyncio.create_task(writer.commit())
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if writer.committed:
            assert await store.read_bytes(f"cancel/{ticks}") == data
        else:
            # Cancelled before commit began (the writer is still open, the handler's cleanup
            # aborts it) or during it (commit aborted by itself).
            await writer.abort()
            assert not await store.exists(f"cancel/{ticks}")
            outcomes.add(ticks)
        assert writer.committed or writer.aborted
    # Background work finishing after the cancellation still cleans up behind itself.
    for _ in range(100):
        if await case.leftovers() == []:
            break
        await asyncio.sleep(0.05)
    assert await case.leftovers() == []
    # The cancellation really hit commits in progress, not only ones that had not started.
    assert outcomes - {0}


async def test_dropped_writer_becomes_sweepable(case: Case, store: ObjectStore) -> None:
    writer = await store.open_writer("forgotten")
    await writer.write(os.urandom(9 * MiB))
    del writer  # a caller bug: neither commit nor abort
    removed = 0
    for _ in range(100):
        gc.collect()
        removed += await store.cleanup_temp(older_than=0)
        if removed:
            break
        await asyncio.sleep(0.05)
    assert removed == 1
    assert await case.leftovers() == []
    assert not await store.exists("forgotten")


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from trevor_backend.storage import store_from_url

    async def main():
        store = store_from_url(sys.argv[1])
        writer = await store.open_writer(sys.argv[2])
        await writer.write(os.urandom(int(sys.argv[3])))
        await writer.write(b"more")
        await asyncio.sleep(0.2)
        os._exit(17)  # die like a killed process: no commit, no abort, no finally

    asyncio.run(main())
    """
)


async def test_crash_before_commit_leaves_no_object(case: Case, store: ObjectStore) -> None:
    env = {**os.environ, **case.env, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASH_SCRIPT, case.url, "crashed/obj", str(9 * MiB), env=env
    )
    assert await process.wait() == 17

    assert not await store.exists("crashed/obj")
    # The temp file (local) is never listed as an object, nor is the open upload (S3).
    assert await collect(store.list_keys()) == []
    assert len(await case.leftovers()) == 1

    # A young leftover may belong to a slow upload in another process: keep it.
    assert await store.cleanup_temp(older_than=3600) == 0
    assert len(await case.leftovers()) == 1
    assert await store.cleanup_temp(older_than=0) == 1
    assert await case.leftovers() == []


async def test_cleanup_skips_writers_open_in_this_process(case: Case, store: ObjectStore) -> None:
    writer = await store.open_writer("slow")
    await writer.write(os.urandom(9 * MiB))
    assert await store.cleanup_temp(older_than=0) == 0
    await writer.commit()
    assert await store.size("slow") == 9 * MiB
    assert await case.leftovers() == []


# -- other operations --------------------------------------------------------------------------


async def test_move(store: ObjectStore) -> None:
    await store.put_bytes("quarantine/x", b"payload")
    await store.move("quarantine/x", "objects/deep/x")
    assert not await store.exists("quarantine/x")
    assert await store.read_bytes("objects/deep/x") == b"payload"

    await store.put_bytes("other", b"replacement")
    await store.move("other", "objects/deep/x")
    assert await store.read_bytes("objects/deep/x") == b"replacement"

    # Moving onto itself must not lose the object (S3: copy onto self, then delete self).
    await store.move("objects/deep/x", "objects/deep/x")
    assert await store.read_bytes("objects/deep/x") == b"replacement"

    with pytest.raises(ObjectNotFound):
        await store.move("quarantine/x", "anywhere")
    assert not await store.exists("anywhere")


async def test_s3_move_of_large_object_copies_in_parts(
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    store = S3Store(
        prefix=f"copy/{uuid.uuid4().hex[:8]}",
        multipart_copy_threshold=5 * MiB,
        copy_part_size=5 * MiB,
        **s3_server.store_kwargs(s3_bucket),
    )
    try:
        data = os.urandom(12 * MiB)
        await store.put_bytes("src", data)
        await store.move("src", "dst")
        assert not await store.exists("src")
        assert await store.read_bytes("dst") == data
        assert (await store.etag("dst")).endswith("-3")  # 5 + 5 + 2 MiB ranges
        assert await store.list_incomplete_uploads() == []
    finally:
        await store.close()


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put_bytes("d/x", b"1")
    await store.delete("d/x")
    assert not await store.exists("d/x")
    await store.delete("d/x")
    await store.delete("never/existed")
    await store.delete("d")  # a prefix, not an object: nothing to do, no error


async def test_list_keys_by_prefix(store: ObjectStore) -> None:
    keys = ["a/1", "a/2", "a/sub/3", "ab/4", "b/5"]
    for key in reversed(keys):
        await store.put_bytes(key, key.encode())
    assert await collect(store.list_keys()) == keys
    assert await collect(store.list_keys("a/")) == ["a/1", "a/2", "a/sub/3"]
    assert await collect(store.list_keys("a")) == ["a/1", "a/2", "a/sub/3", "ab/4"]
    assert await collect(store.list_keys("a/s")) == ["a/sub/3"]
    assert await collect(store.list_keys("a/sub/3")) == ["a/sub/3"]
    assert await collect(store.list_keys("zzz")) == []


async def test_missing_object(store: ObjectStore) -> None:
    await store.put_bytes("dir/present", b"x")
    for key in ("absent", "dir"):
        with pytest.raises(ObjectNotFound) as raised:
            await store.read_bytes(key)
        assert raised.value.key == key
        assert isinstance(raised.value, StorageError)
        with pytest.raises(ObjectNotFound):
            await store.size(key)
        with pytest.raises(ObjectNotFound):
            await collect(store.iter_bytes(key))
        assert not await store.exists(key)


BAD_KEYS = ["", "/abs", "../x", "a/../b", "..", "a//b", "./a", "a/.", "a/", "a\x00b", "a\\b"]


@pytest.mark.parametrize("bad", BAD_KEYS)
async def test_bad_keys_rejected(case: Case, store: ObjectStore, bad: str) -> None:
    await store.put_bytes("ok", b"fine")
    with pytest.raises(ValueError):
        await store.put_bytes(bad, b"escape")
    with pytest.raises(ValueError):
        store.open_writer(bad)
    with pytest.raises(ValueError):
        store.iter_bytes(bad)
    for call in (
        lambda: store.read_bytes(bad),
        lambda: store.exists(bad),
        lambda: store.size(bad),
        lambda: store.delete(bad),
        lambda: store.move(bad, "ok2"),
        lambda: store.move("ok", bad),
        lambda: store.presigned_get_url(bad, 60),
        lambda: store.presigned_put_url(bad, 60),
    ):
        with pytest.raises(ValueError):
            await call()
    assert await collect(store.list_keys()) == ["ok"]
    if case.root is not None:
        # Nothing was created next to the root either.
        assert sorted(p.name for p in case.root.parent.iterdir()) == ["objects"]


@pytest.mark.parametrize("bad", ["/abs", "../", "a/../", "..", "a//"])
async def test_bad_prefixes_rejected(store: ObjectStore, bad: str) -> None:
    with pytest.raises(ValueError):
        store.list_keys(bad)


# -- pre-signed URLs ---------------------------------------------------------------------------


def http(url: str, method: str = "GET", data: bytes | None = None) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


async def test_presigned_get(case: Case, store: ObjectStore) -> None:
    await store.put_bytes("rel/crate.zip", b"zip bytes")
    url = await store.presigned_get_url("rel/crate.zip", 300, filename='résumé "v2".zip')
    if case.kind == "local":
        assert url is None  # the backend serves local objects itself (HMAC-signed links)
        return
    assert url is not None
    status, body, headers = await asyncio.to_thread(http, url)
    assert (status, body) == (200, b"zip bytes")
    assert headers["Content-Disposition"] == content_disposition('résumé "v2".zip')

    # Without the signature S3 refuses the same object.
    status, _, _ = await asyncio.to_thread(http, url.split("?")[0])
    assert status == 403

    short = await store.presigned_get_url("rel/crate.zip", 1)
    await asyncio.sleep(2.1)
    status, _, _ = await asyncio.to_thread(http, short)
    assert status == 403

    with pytest.raises(ValueError):
        await store.presigned_get_url("rel/crate.zip", 0)


async def test_presigned_put(case: Case, store: ObjectStore) -> None:
    url = await store.presigned_put_url("ingress/data.csv", 300)
    if case.kind == "local":
        assert url is None
        assert await store.presigned_put_url("ingress/data.csv", 300, size=3) is None
        return
    assert url is not None
    status, _, _ = await asyncio.to_thread(http, url, "PUT", b"a,b\n1,2\n")
    assert status == 200
    assert await store.read_bytes("ingress/data.csv") == b"a,b\n1,2\n"

    sized = await store.presigned_put_url("ingress/sized.bin", 300, size=5)
    status, _, _ = await asyncio.to_thread(http, sized, "PUT", b"more than five bytes")
    assert status == 403
    assert not await store.exists("ingress/sized.bin")
    status, _, _ = await asyncio.to_thread(http, sized, "PUT", b"12345")
    assert status == 200
    assert await store.read_bytes("ingress/sized.bin") == b"12345"


def test_content_disposition_cannot_break_out() -> None:
    value = content_disposition('evil".txt\r\nX-Injected: 1')
    assert "\r" not in value and "\n" not in value
    assert value.startswith('attachment; filename="evil_.txt__X-Injected: 1"; ')
    assert value.endswith("filename*=UTF-8''evil%22.txt%0D%0AX-Injected%3A%201")


# -- health ------------------------------------------------------------------------------------


async def test_ping(store: ObjectStore) -> None:
    await store.ping()


async def test_local_ping_fails_when_root_unusable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store root should be")
    store = LocalStore(root=str(blocker / "objects"))
    with pytest.raises(StorageError):
        await store.ping()


async def test_s3_ping_fails_when_unreachable(
    s3_server: S3Server,
    s3_bucket: str,
) -> None:
    dead_port = _free_ports(1)[0]
    kwargs = {**s3_server.store_kwargs(s3_bucket), "endpoint_url": f"http://127.0.0.1:{dead_port}"}
    store = S3Store(ping_timeout=3, max_attempts=1, **kwargs)
    with pytest.raises(StorageError):
        await store.ping()
    await store.close()

    missing = S3Store(**{**s3_server.store_kwargs(s3_bucket), "bucket": "no-such-bucket-here"})
    with pytest.raises(StorageError):
        await missing.ping()
    with pytest.raises(StorageError):
        await missing.put_bytes("k", b"v")
    await missing.close()


async def test_s3_create_bucket(s3_server: S3Server) -> None:
    name = f"created-{uuid.uuid4().hex[:12]}"
    store = S3Store(create_bucket=True, **{**s3_server.store_kwargs(name)})
    try:
        await store.put_bytes("k", b"v")
        await store.ping()
    finally:
        await store.close()
    client = s3_server.client()
    try:
        assert name in [b["Name"] for b in client.list_buckets()["Buckets"]]
        assert client.get_object(Bucket=name, Key="k")["Body"].read() == b"v"
    finally:
        client.close()


async def test_s3_prefix_isolates_stores(s3_server: S3Server, s3_bucket: str) -> None:
    one = S3Store(prefix="tenant-one/x", **s3_server.store_kwargs(s3_bucket))
    two = S3Store(prefix="tenant-two", **s3_server.store_kwargs(s3_bucket))
    try:
        await one.put_bytes("k", b"1")
        assert not await two.exists("k")
        assert await collect(two.list_keys()) == []
        client = s3_server.client()
        try:
            client.head_object(Bucket=s3_bucket, Key="tenant-one/x/k")
        finally:
            client.close()
    finally:
        await one.close()
        await two.close()


# -- local specifics ---------------------------------------------------------------------------


async def test_local_objects_are_private_files_under_root(tmp_path: Path) -> None:
    store = LocalStore(root=str(tmp_path / "objects"))
    await store.put_bytes("a/b.txt", b"content")
    path = tmp_path / "objects" / "a" / "b.txt"
    assert path.read_bytes() == b"content"
    assert path.stat().st_mode & 0o777 == 0o600
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []
    with pytest.raises(ValueError):
        await store.put_bytes(".tmp/sneaky", b"x")


async def test_local_key_cannot_be_object_and_prefix(tmp_path: Path) -> None:
    store = LocalStore(root=str(tmp_path / "objects"))
    await store.put_bytes("a", b"object")
    with pytest.raises(StorageError):
        await store.put_bytes("a/b", b"below an object")
    await store.put_bytes("c/d", b"x")
    with pytest.raises(StorageError):
        await store.put_bytes("c", b"over a prefix")
    assert await collect(store.list_keys()) == ["a", "c/d"]
    assert list((tmp_path / "objects" / ".tmp").iterdir()) == []


# -- configuration -----------------------------------------------------------------------------


def test_s3_part_size_limits() -> None:
    with pytest.raises(TraitError):
        S3Store(bucket="b", part_size=4 * MiB)
    with pytest.raises(TraitError):
        S3Store(bucket="b", copy_part_size=1 * MiB)
    with pytest.raises(TraitError):
        S3Store(bucket="")


def test_store_from_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = store_from_url((tmp_path / "my objects").as_uri())
    assert isinstance(local, LocalStore)
    assert local.root == str(tmp_path / "my objects")

    monkeypatch.setenv("TREVOR_S3_ENDPOINT_URL", "http://127.0.0.1:8333")
    monkeypatch.setenv("TREVOR_S3_REGION", "eu-west-2")
    s3 = store_from_url("s3://airlock/prod/objects/", part_size=16 * MiB)
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix) == ("airlock", "prod/objects")
    assert (s3.endpoint_url, s3.region_name, s3.part_size) == (
        "http://127.0.0.1:8333",
        "eu-west-2",
        16 * MiB,
    )
    # Keyword arguments win over the environment.
    assert store_from_url("s3://b", endpoint_url="http://other").endpoint_url == "http://other"

    for bad in ["s3://", "file://host/dir", "file:relative", "http://x/y", "/plain/path", ""]:
        with pytest.raises(ValueError):
            store_from_url(bad)


def test_local_batches_are_written_whole_through_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch goes to disk with writev (no joined copy); a writev that takes only part of
    what it was given (signals, huge batches) is continued from the first unwritten byte."""
    from trevor_backend.storage import local

    real_writev = os.writev

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        first = buffers[0]
        return real_writev(fd, [first[: max(1, len(first) // 3)]])

    monkeypatch.setattr(local.os, "writev", short_writev)
    chunks = [b"a" * 10, b"", b"bc" * 7, os.urandom(1000), b"d"]
    path = tmp_path / "batch"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        local._write_all(fd, chunks)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"".join(chunks)
