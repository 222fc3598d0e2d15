"""A streamed upload's body is read whole before its connection serves anything else.

A body with a Content-Length is read by the handler itself (handlers/streaming.py), so Tornado
takes the request as complete before its body has been read. These tests send bodies that are
themselves HTTP requests and check, on the raw connection, that no byte of a body is ever
answered as a request after storing failed mid-body (sized and chunked). They also cover
"Expect: 100-continue" and a client that hangs up mid-body."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.backend import LiveBackend
from trevor_backend.handlers import streaming
from trevor_backend.services import streams
from trevor_backend.storage import local


class Connection:
    """One raw HTTP/1.1 connection: what we send is exactly what the server reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").split(":")
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def status_line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), timeout=60)

    async def response(self) -> tuple[int, Any]:
        status = int((await self.status_line()).split()[1])
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length))

    async def at_eof(self) -> bool:
        """Whether the server closed the connection (and sent nothing more). A server that
        closes with part of what we sent unread resets it."""
        try:
            return await asyncio.wait_for(self.reader.read(1), timeout=60) == b""
        except ConnectionResetError:
            return True

    async def close(self) -> None:
        # Abrupt, like a client that gives up; a server that closed with part of what we sent
        # unread has reset the connection anyway.
        self.writer.transport.abort()


def head(path: str, token: str, *lines: str) -> bytes:
    extra = "".join(f"{line}\r\n" for line in lines)
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{extra}\r\n".encode()
    )


def smuggling_body(token: str, rid: str, size: int) -> bytes:
    """A body made of requests that, if ever parsed as requests, would withdraw the request."""
    inner = (
        f"POST /api/v1/requests/{rid}/withdraw HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    return (inner * (size // len(inner) + 1))[:size]


def get_request(rid: str, token: str) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n"
    return f"GET /api/v1/requests/{rid} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()


#: How storing fails mid-body, what the client is told, and what the log says.
FAILURES = {
    "disk": (503, "the object store failed"),
    "bug": (500, "storing the upload failed"),
}


def fail_mid_body(monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    """Storing fails at the second batch of every object: the disk (an I/O error in the
    store's writer) or a bug (an exception from the hashing stream) (test only)."""
    if failure == "disk":
        write_batch = local.LocalWriter._write_batch

        def failing(self: local.LocalWriter, chunks: list[bytes], offset: int) -> None:
            if offset > 0:
                raise OSError(5, "Input/output error")
            write_batch(self, chunks, offset)

        monkeypatch.setattr(local.LocalWriter, "_write_batch", failing)
        return
    hash_batch = streams.HashedStream._hash_batch

    async def buggy(self: streams.HashedStream) -> None:
        if self.size > streams.HASH_BATCH:
            raise RuntimeError("a bug")
        await hash_batch(self)

    monkeypatch.setattr(streams.HashedStream, "_hash_batch", buggy)


def temp_files(live: LiveBackend) -> list[Path]:
    return [p for p in (live.data_dir / "objects").rglob("*") if p.is_file() and ".tmp" in p.parts]


async def test_expect_100_continue_gets_one_interim_answer_then_the_upload(
    live: LiveBackend,
) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request(title="continue"))["id"]
    body = os.urandom(5 << 20)
    conn = await Connection.open(live.url)
    try:
        await conn.send(
            head(
                f"/api/v1/requests/{rid}/objects?filename=c.bin",
                live.tokens["alice"],
                f"Content-Length: {len(body)}",
                f"X-Trevor-Sha256: {hashlib.sha256(body).hexdigest()}",
                "Expect: 100-continue",
            )
        )
        # The client sends nothing more until it is told to go on.
        assert (await conn.status_line()).startswith(b"HTTP/1.1 100")
        assert await conn.reader.readline() == b"\r\n"
        await conn.send(body)
        status, out = await conn.response()
        assert status == 201 and out["size"] == len(body), out
        assert out["sha256"] == hashlib.sha256(body).hexdigest()
        # No second interim answer: the next thing on the connection answers the next request.
        await conn.send(get_request(rid, live.tokens["alice"]))
        status, got = await conn.response()
        assert status == 200 and [o["id"] for o in got["objects"]] == [out["id"]]
    finally:
        await conn.close()


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("framing", ["sized", "chunked"])
async def test_a_failure_mid_body_is_answered_and_no_body_byte_is_taken_for_a_request(
    live: LiveBackend,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    framing: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fail_mid_body(monkeypatch, failure)
    status_owed, logged = FAILURES[failure]
    alice = live.client("alice")
    token = live.tokens["alice"]
    rid = (await alice.create_request(title="disk"))["id"]
    body = smuggling_body(token, rid, 13 << 20)  # several store batches
    path = f"/api/v1/requests/{rid}/objects?filename=s.bin"
    conn = await Connection.open(live.url)
    try:
        if framing == "sized":
            await conn.send(head(path, token, f"Content-Length: {len(body)}") + body)
        else:
            chunks = b"".join(
                b"%x\r\n%s\r\n" % (len(body[i : i + 65536]), body[i : i + 65536])
                for i in range(0, len(body), 65536)
            )
            await conn.send(head(path, token, "Transfer-Encoding: chunked") + chunks + b"0\r\n\r\n")
        status, problem = await conn.response()
        assert status == status_owed and problem["status"] == status_owed, problem
        assert "nothing was kept" in problem["detail"]
        # The same connection answers our next request, and nothing the body held.
        await conn.send(get_request(rid, token))
        status, got = await conn.response()
        assert status == 200 and got["id"] == rid
        assert got["status"] != "WITHDRAWN" and got["objects"] == []
    finally:
        await conn.close()
    assert logged in caplog.text
    for _ in range(600):  # the abort runs in the background
        if not temp_files(live):
            break
        await asyncio.sleep(0.05)
    assert temp_files(live) == []


def handler_tasks() -> list[asyncio.Task[Any]]:
    """Requests still being handled in this process."""
    return [t for t in asyncio.all_tasks() if "._execute" in t.get_coro().__qualname__]


@pytest.mark.parametrize("framing", ["sized", "chunked"])
async def test_a_client_that_hangs_up_mid_body_leaves_nothing(
    live: LiveBackend, caplog: pytest.LogCaptureFixture, framing: str
) -> None:
    """Nothing stored, no error logged, and the request's handling ends (a chunked upload's
    used to wait for the rest of its body for ever)."""
    caplog.set_level(logging.INFO, logger="trevor_backend")
    alice = live.client("alice")
    rid = (await alice.create_request(title="hang up"))["id"]
    conn = await Connection.open(live.url)
    start = head(
        f"/api/v1/requests/{rid}/objects?filename=h.bin",
        live.tokens["alice"],
        f"Content-Length: {64 << 20}" if framing == "sized" else "Transfer-Encoding: chunked",
    )
    part = os.urandom(9 << 20)  # a few batches reach the store first
    await conn.send(start + (part if framing == "sized" else b"%x\r\n%s\r\n" % (len(part), part)))
    for _ in range(1200):  # wait until the store holds part of the body
        if temp_files(live):
            break
        await asyncio.sleep(0.05)
    assert temp_files(live), "the upload never reached the store"
    await conn.close()
    for _ in range(1200):
        if not temp_files(live) and not handler_tasks():
            break
        await asyncio.sleep(0.05)
    assert temp_files(live) == []
    assert handler_tasks() == []
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["objects"] == []
    if framing == "sized":
        assert "client disconnected" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


@pytest.mark.parametrize("slow", ["disk", "hashing"])
async def test_reused_buffers_are_stored_and_hashed_as_sent(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch, slow: str
) -> None:
    """The two body buffers are filled again while the store and the hashing thread may still
    hold the other one: with either made slow, the stored bytes and their sha256 are still
    exactly what was sent (read back through the verified content endpoint)."""
    import time

    if slow == "disk":
        write_batch = local.LocalWriter._write_batch

        def slow_write(self: local.LocalWriter, chunks: list[bytes], offset: int) -> None:
            time.sleep(0.05)
            write_batch(self, chunks, offset)

        monkeypatch.setattr(local.LocalWriter, "_write_batch", slow_write)
    else:
        hash_chunks = streams._hash_chunks

        def slow_hash(hasher: Any, chunks: list[bytes]) -> None:
            time.sleep(0.05)
            hash_chunks(hasher, chunks)

        monkeypatch.setattr(streams, "_hash_chunks", slow_hash)
    alice = live.client("alice")
    rid = (await alice.create_request(title="buffers"))["id"]
    body = os.urandom(5 * streaming.DIRECT_CHUNK + 4321)
    up = await alice.upload(rid, body, "b.bin")
    assert up.status == 201, up.body
    assert up.json["sha256"] == hashlib.sha256(body).hexdigest()
    got = await alice.get(f"/api/v1/requests/{rid}/objects/{up.json['id']}/content")
    assert got.status == 200 and got.body == body


async def test_pipelined_requests_after_uploads_are_answered_in_order(live: LiveBackend) -> None:
    """A client may send its next requests right behind an upload's body, in the same write:
    what arrived with the headers goes into the body, what follows the body is the next
    request's (an empty upload included)."""
    alice = live.client("alice")
    token = live.tokens["alice"]
    rid = (await alice.create_request(title="pipelined"))["id"]
    body = os.urandom(streaming.DIRECT_CHUNK + 99)

    def upload(data: bytes, name: str) -> bytes:
        return (
            head(
                f"/api/v1/requests/{rid}/objects?filename={name}",
                token,
                f"Content-Length: {len(data)}",
                f"X-Trevor-Sha256: {hashlib.sha256(data).hexdigest()}",
            )
            + data
        )

    conn = await Connection.open(live.url)
    try:
        await conn.send(
            upload(body, "one.bin") + upload(b"", "empty.bin") + get_request(rid, token)
        )
        first, one = await conn.response()
        second, empty = await conn.response()
        third, got = await conn.response()
    finally:
        await conn.close()
    assert (first, one["size"], one["sha256"]) == (201, len(body), hashlib.sha256(body).hexdigest())
    assert (second, empty["size"], empty["sha256"]) == (201, 0, hashlib.sha256(b"").hexdigest())
    assert third == 200 and {o["id"] for o in got["objects"]} == {one["id"], empty["id"]}
