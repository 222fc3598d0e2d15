"""Live events (GET /api/v1/events): delivery, Last-Event-ID replay, per-caller filtering and
redaction, events from another backend process, heartbeats and clean disconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.fixtures.backend import LiveBackend, start_backend
from tests.fixtures.processes import BackendProcess
from trevor_backend import db
from trevor_backend.handlers import events as events_handler
from trevor_backend.principal import Principal, system
from trevor_backend.services import audit


class Stream:
    """A raw SSE client over a plain socket, so the test controls exactly when it goes away.

    HTTP/1.0 keeps the body unchunked: the bytes read are the event stream itself.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}
        self.comments: list[str] = []

    @classmethod
    async def open(
        cls,
        live: LiveBackend,
        user: str | None,
        last_id: int | None = None,
        query: str = "",
        base_url: str | None = None,
    ) -> Stream:
        url = urlsplit(base_url or live.url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        lines = [f"GET /api/v1/events{query} HTTP/1.0", f"Host: {url.netloc}"]
        if user:
            lines.append(f"Authorization: Bearer {live.tokens[user]}")
        if last_id is not None:
            lines.append(f"Last-Event-ID: {last_id}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        s = cls(reader, writer)
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        status_line, *header_lines = head.strip().split("\r\n")
        s.status = int(status_line.split()[1])
        s.headers = {
            k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines)
        }
        if s.status == 200:
            first = await s._frame(10)  # "retry" + "connected at": the stream is live
            assert first["retry"] == "3000"
        return s

    async def _frame(self, wait: float) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), wait)
            if raw == b"":
                raise EOFError("stream closed")
            line = raw.decode().rstrip("\n")
            if line == "":
                if fields:
                    return fields
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                if not fields:
                    fields["comment"] = line[1:].strip()
                    return fields
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value

    async def event(self, wait: float = 10) -> dict[str, Any]:
        """The next event (comments are collected, not returned)."""
        while True:
            frame = await self._frame(wait)
            if "data" in frame:
                data = json.loads(frame["data"])
                assert frame["id"] == str(data["seq"])
                return data

    async def events(self, n: int, wait: float = 10) -> list[dict[str, Any]]:
        return [await self.event(wait) for _ in range(n)]

    async def body(self) -> bytes:
        return await asyncio.wait_for(self.reader.read(), 10)

    def close(self) -> None:
        self.writer.close()


@pytest.fixture(autouse=True)
def fast_polling(live: LiveBackend) -> None:
    live.backend.ctx.settings = replace(live.backend.ctx.settings, events_poll_interval=0.05)


@pytest.fixture
async def second_backend(
    live: LiveBackend, database_url: str, tmp_path: Path
) -> AsyncIterator[LiveBackend]:
    """Another backend on the same database: what a second replica is."""
    data = tmp_path / "second"
    data.mkdir()
    lb, server = await start_backend(database_url, data)
    try:
        yield lb
    finally:
        server.stop()
        await server.close_all_connections()
        await lb.backend.close()


async def _audit_seqs(live: LiveBackend, rid: str) -> list[int]:
    items = (await live.client("alice").get(f"/api/v1/requests/{rid}/audit")).json["items"]
    return [e["seq"] for e in items]


async def test_live_events_and_exact_replay_after_reconnect(live: LiveBackend) -> None:
    alice_api, bob_api = live.client("alice"), live.client("bob")
    alice = await Stream.open(live, "alice")
    bob = await Stream.open(live, "bob")

    rid = (await alice_api.create_request(title="live"))["id"]
    first = await alice.event()
    assert first["type"] == "request.created" and first["request_id"] == rid
    assert first["project"] == "p1" and first["actor"] == "alice"
    obj = await alice_api.described_object(rid)
    uploaded, described = await alice.events(2)
    assert [uploaded["type"], described["type"]] == ["object.uploaded", "object.metadata_updated"]
    assert described["object_id"] == obj["id"]
    last_seen = described["seq"]
    alice.close()

    # While alice is away: the submit and more.
    assert (await alice_api.post(f"/api/v1/requests/{rid}/submit")).status == 200
    missed = [s for s in await _audit_seqs(live, rid) if s > last_seen]
    assert missed, "the submit must have written events"

    again = await Stream.open(live, "alice", last_id=last_seen)
    replayed = await again.events(len(missed))
    assert [e["seq"] for e in replayed] == missed
    submitted = next(e for e in replayed if e["type"] == "request.submitted")
    assert submitted["status"] == "SUBMITTED" and submitted["payload"]["from"] == "DRAFT"
    # Exactly the missed ones: the next event is a new one, not a repeat.
    await alice_api.post(f"/api/v1/requests/{rid}/withdraw")
    after = await again.event()
    assert after["type"] == "request.withdrawn" and after["seq"] > missed[-1]
    again.close()

    # bob (researcher of p2) saw none of it: his first event is his own request's.
    bob_rid = (await bob_api.create_request(project="p2", title="mine"))["id"]
    own = await bob.event()
    assert own["request_id"] == bob_rid and own["type"] == "request.created"
    bob.close()


async def test_backlog_with_follow_0_and_query_resume(live: LiveBackend) -> None:
    alice_api = live.client("alice")
    rid = (await alice_api.create_request())["id"]
    await alice_api.described_object(rid)
    seqs = await _audit_seqs(live, rid)
    s = await Stream.open(live, "alice", query=f"?follow=0&last_event_id={seqs[0]}")
    body = (await s.body()).decode()
    ids = [int(line[4:]) for line in body.splitlines() if line.startswith("id: ")]
    assert ids == seqs[1:]


async def test_events_from_another_backend_process_reach_this_one(
    live: LiveBackend, second_backend: LiveBackend, database_url: str
) -> None:
    alice = await Stream.open(live, "alice")
    # Through the other backend's HTTP API and engine.
    rid = (await second_backend.client("alice").create_request(title="elsewhere"))["id"]
    ev = await alice.event()
    assert ev["type"] == "request.created" and ev["request_id"] == rid

    # And straight through services.audit.record on a separate engine (another writer).
    engine = db.make_engine(database_url)
    try:
        sessions = db.session_factory(engine)
        async with sessions.begin() as session:
            written = await audit.record(
                session,
                "object.viewed",
                system("elsewhere"),
                project_id="p1",
                request_id=rid,
                payload={"as": "content"},
            )
            seq = written.seq
    finally:
        await engine.dispose()
    ev = await alice.event()
    assert (ev["seq"], ev["type"], ev["actor"]) == (seq, "object.viewed", "elsewhere")
    alice.close()


async def test_a_stream_on_a_separate_server_process_sees_this_ones_events(
    live: LiveBackend, tmp_path: Path
) -> None:
    """A real `trevor-backend serve` child process on the same database: its stream carries
    events written here, as a browser connected to one replica sees another's writes."""
    proc = BackendProcess(
        live.data_dir,
        live.app.database_url,
        args=["--TrevorBackend.reconciler_enabled=False"],
    )
    await asyncio.to_thread(proc.start)
    try:
        s = await Stream.open(live, "alice", base_url=proc.url)
        rid = (await live.client("alice").create_request(title="from the other one"))["id"]
        ev = await s.event()
        assert ev["type"] == "request.created" and ev["request_id"] == rid
        s.close()
    finally:
        await asyncio.to_thread(proc.stop)


async def test_checker_private_detail_and_admin_only_events(live: LiveBackend) -> None:
    alice_api = live.client("alice")
    rid = (await alice_api.create_request())["id"]
    await alice_api.described_object(rid)
    assert (await alice_api.post(f"/api/v1/requests/{rid}/submit")).status == 200

    alice = await Stream.open(live, "alice")
    carol = await Stream.open(live, "carol")
    root = await Stream.open(live, "root")
    checker = Principal(user_id=None, name="carol")
    full = {
        "review": "rv1",
        "revision": 1,
        "objects": 1,
        "comments": {"private": 2, "public": 1},
        "content_sha256": "ab" * 32,
        "private_note": "between checkers",
    }
    async with live.backend.ctx.sessions.begin() as session:
        await audit.record(session, "tokens.rotated", checker, payload={"n": 1})  # no request
        await audit.record(
            session, "review.submitted", checker, project_id="p1", request_id=rid, payload=full
        )

    seen_by_alice = await alice.event()
    assert seen_by_alice["type"] == "review.submitted"
    assert seen_by_alice["payload"] == {"revision": 1, "objects": 1}
    seen_by_carol = await carol.event()
    assert seen_by_carol["type"] == "review.submitted" and seen_by_carol["payload"] == full
    admin_events = await root.events(2)
    assert [e["type"] for e in admin_events] == ["tokens.rotated", "review.submitted"]
    assert admin_events[1]["payload"] == full

    # A checker's own action: named to checkers and admins, a role to the researcher (as the
    # reviews API anonymises checkers).
    oid = (await alice_api.get(f"/api/v1/requests/{rid}")).json["objects"][0]["id"]
    viewed = await live.client("carol").get(f"/api/v1/requests/{rid}/objects/{oid}/content")
    assert viewed.status == 200
    assert [(e["type"], e["actor"]) for e in [await alice.event()]] == [
        ("object.viewed", "checker")
    ]
    assert (await carol.event())["actor"] == "carol"
    assert (await root.event())["actor"] == "carol"
    # The researcher's own actions keep her name.
    await alice_api.post(f"/api/v1/requests/{rid}/withdraw")
    assert (await alice.event())["actor"] == "alice"
    for s in (alice, carol, root):
        s.close()


async def test_heartbeat_and_client_going_away(live: LiveBackend) -> None:
    live.backend.ctx.settings = replace(live.backend.ctx.settings, events_heartbeat=0.2)
    s = await Stream.open(live, "alice")
    assert s.headers["content-type"].startswith("text/event-stream")
    assert s.headers["cache-control"] == "no-cache"
    frame = await s._frame(5)
    assert frame == {"comment": "keepalive"}
    assert len(events_handler.active_streams) == 1
    s.close()
    for _ in range(100):
        if not events_handler.active_streams:
            break
        await asyncio.sleep(0.05)
    assert events_handler.active_streams == set()


async def test_bad_requests(live: LiveBackend) -> None:
    anon = await Stream.open(live, None)
    assert anon.status == 401
    bad = await Stream.open(live, "alice", query="?last_event_id=yesterday")
    assert bad.status == 422 and bad.headers["content-type"] == "application/problem+json"
    problem = json.loads(await bad.body())
    assert problem["errors"][0]["pointer"] == "/last_event_id"
    follow = await Stream.open(live, "alice", query="?follow=maybe")
    assert follow.status == 422
    assert json.loads(await follow.body())["errors"][0]["pointer"] == "/follow"


async def test_an_id_beyond_the_log_resumes_from_its_head(live: LiveBackend) -> None:
    # e.g. a browser tab that outlived a database restore: it must not be silenced.
    s = await Stream.open(live, "alice", last_id=10**9)
    rid = (await live.client("alice").create_request())["id"]
    ev = await s.event()
    assert ev["request_id"] == rid and ev["type"] == "request.created"
    s.close()
