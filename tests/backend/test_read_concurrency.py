"""Reads never take the write lock (SQLite): GETs begin DEFERRED transactions and
authentication writes nothing in the request, so readers neither wait for a writer nor fail
with "database is locked" — checked by holding SQLite's write lock from a separate connection
(the stdlib ``sqlite3`` module, not the backend's code) while 50 clients read."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.fixtures.backend import LiveBackend, start_backend

READERS = 50


@pytest.fixture
async def sqlite_live(tmp_path: Path) -> AsyncIterator[tuple[LiveBackend, Path]]:
    path = tmp_path / "trevor.sqlite"
    data = tmp_path / "data"
    data.mkdir()
    lb, server = await start_backend(f"sqlite:///{path}", data)
    try:
        yield lb, path
    finally:
        server.stop()
        await server.close_all_connections()
        await lb.backend.close()


async def read_many(lb: LiveBackend, rid: str, rounds: int = 3) -> list[int]:
    http = AsyncHTTPClient(force_instance=True, max_clients=READERS)
    paths = ["/api/v1/requests?limit=50", f"/api/v1/requests/{rid}", "/api/v1/users/me"]

    async def one(i: int) -> int:
        resp = await http.fetch(
            lb.url + paths[i % len(paths)],
            headers={"Authorization": f"Bearer {lb.tokens['alice']}"},
            raise_error=False,
            request_timeout=120,
        )
        return resp.code

    try:
        return list(await asyncio.gather(*(one(i) for i in range(READERS * rounds))))
    finally:
        http.close()


async def test_readers_answer_while_another_connection_holds_the_write_lock(
    sqlite_live: tuple[LiveBackend, Path],
) -> None:
    lb, path = sqlite_live
    alice = lb.client("alice")
    rid = (await alice.create_request())["id"]
    await alice.described_object(rid)

    # Another writer (say, a long transition in another process) holds the write lock for
    # the whole time the readers run. Old behaviour: every GET began BEGIN IMMEDIATE and
    # waited behind it, then failed with 500 "database is locked".
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE requests SET title = title")
    try:
        codes = await asyncio.wait_for(read_many(lb, rid), timeout=25)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert codes == [200] * len(codes)


async def test_fifty_readers_and_concurrent_writers_get_no_errors(
    sqlite_live: tuple[LiveBackend, Path],
) -> None:
    lb, _ = sqlite_live
    alice = lb.client("alice")
    rid = (await alice.create_request())["id"]
    await alice.described_object(rid)

    async def writes() -> list[int]:
        return [
            (await alice.post("/api/v1/requests", {"project": "p1", "title": f"w{i}"})).status
            for i in range(10)
        ]

    reads, written = await asyncio.gather(read_many(lb, rid), writes())
    assert reads == [200] * len(reads)
    assert written == [201] * 10
    listed = await alice.get("/api/v1/requests?limit=200")
    assert len(listed.json["items"]) == 11
