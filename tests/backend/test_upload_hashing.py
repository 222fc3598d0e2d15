"""The upload's sha256 is computed in worker threads, a batch of chunks at a time, while the
event loop reads on: the digest over many batches is the file's, and a body that does not match
the announced sha256 is refused and leaves no object."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import pytest

from tests.fixtures.backend import LiveBackend
from trevor_backend.services import streams


async def test_a_body_of_many_batches_is_hashed_in_order_off_the_loop(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop_thread = threading.get_ident()
    hashed_on: list[int] = []
    hash_chunks = streams._hash_chunks

    def recording(hasher: Any, chunks: list[bytes]) -> None:
        hashed_on.append(threading.get_ident())
        hash_chunks(hasher, chunks)

    monkeypatch.setattr(streams, "_hash_chunks", recording)
    body = os.urandom(2 * streams.HASH_BATCH + 12345)  # two full batches and a remainder
    alice = live.client("alice")
    rid = (await alice.create_request(title="hashing"))["id"]
    up = await alice.upload(rid, body, "big.bin")  # announces the body's sha256
    assert up.status == 201, up.body
    assert up.json["sha256"] == hashlib.sha256(body).hexdigest()
    assert up.json["size"] == len(body)
    assert len(hashed_on) >= 2 and loop_thread not in hashed_on


async def test_a_body_that_is_not_the_announced_file_leaves_no_object(live: LiveBackend) -> None:
    body = os.urandom(streams.HASH_BATCH + 1)
    alice = live.client("alice")
    rid = (await alice.create_request(title="mismatch"))["id"]
    other = hashlib.sha256(body[:-1]).hexdigest()
    up = await alice.post(
        f"/api/v1/requests/{rid}/objects?filename=big.bin",
        body=body,
        headers={"X-Trevor-Sha256": other},
    )
    assert up.status == 422 and up.json["type"].endswith("checksum-mismatch"), up.body
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["objects"] == []


async def test_uploads_read_their_body_into_reused_buffers_other_requests_64_kib(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tornado reads into a fresh zeroed buffer of the connection's read size. A body of known
    length is read by the handler into its own two buffers (no fresh buffer per read); a chunked
    one a MiB at a time; every other request (also the next one on an upload's keep-alive
    connection) 64 KiB, since a MiB per read cost each small request two MiB of memset."""
    import asyncio
    import json

    from tornado.iostream import IOStream

    from trevor_backend.handlers import streaming

    reads: list[Any] = []
    read_from_fd = IOStream.read_from_fd

    def recording(self: IOStream, buf: Any) -> Any:
        got = read_from_fd(self, buf)
        reads.append((len(buf), type(buf).__name__, buf.obj if type(buf) is memoryview else None))
        return got

    monkeypatch.setattr(IOStream, "read_from_fd", recording)
    alice = live.client("alice")
    rid = (await alice.create_request(title="reads"))["id"]
    host, port = live.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    auth = f"Authorization: Bearer {live.tokens['alice']}\r\n"

    async def exchange(head: str, body: bytes = b"") -> int:
        writer.write(head.encode() + body)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        json.loads(await reader.readexactly(length))
        return status

    def upload(body: bytes, framing: str) -> str:
        return (
            f"POST /api/v1/requests/{rid}/objects?filename=big.bin HTTP/1.1\r\nHost: x\r\n{auth}"
            f"X-Trevor-Sha256: {hashlib.sha256(body).hexdigest()}\r\n{framing}\r\n\r\n"
        )

    try:
        get = f"GET /api/v1/requests/{rid} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"
        reads.clear()
        assert await exchange(get) == 200
        assert reads and {(n, kind) for n, kind, _ in reads} == {(64 << 10, "bytearray")}

        body = os.urandom(9 << 20)  # more than two buffers' worth
        reads.clear()
        assert await exchange(upload(body, f"Content-Length: {len(body)}"), body) == 201
        into = [owner for _, kind, owner in reads if kind == "memoryview"]
        # Every body read after the headers' went into one of two buffers, reused in turn.
        assert len(into) >= 3 and len({id(owner) for owner in into}) == 2
        assert all(len(owner) == streaming.DIRECT_CHUNK for owner in into)
        assert {n for n, kind, _ in reads if kind == "bytearray"} == {64 << 10}

        reads.clear()
        assert await exchange(get) == 200  # the same connection, after the upload
        assert reads and {(n, kind) for n, kind, _ in reads} == {(64 << 10, "bytearray")}

        body = os.urandom(3 << 20)
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        reads.clear()
        assert await exchange(upload(body, "Transfer-Encoding: chunked"), chunked) == 201
        assert (1 << 20, "bytearray") in {(n, kind) for n, kind, _ in reads}

        reads.clear()
        assert await exchange(get) == 200
        assert reads and {(n, kind) for n, kind, _ in reads} == {(64 << 10, "bytearray")}
    finally:
        writer.close()
        await writer.wait_closed()
