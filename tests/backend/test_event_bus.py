"""Live events without per-stream polling: one event bus per process, woken by its own
commits (in-process broadcast) and, on PostgreSQL, by LISTEN/NOTIFY from other processes.
Idle streams run no queries; visibility rules hold on the bus path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from tests.backend.test_events import Stream, _audit_seqs
from tests.fixtures.backend import LiveBackend, start_backend
from tests.fixtures.processes import BackendProcess
from trevor_backend.handlers.events import EventsHandler
from trevor_backend.services.eventbus import CHANNEL, PROCESS_TAG

STREAMS = 20


def never_poll(live: LiveBackend) -> None:
    live.backend.ctx.settings = replace(live.backend.ctx.settings, events_poll_interval=3600.0)


async def until(condition: Callable[[], bool], wait: float = 30) -> None:
    """Wait for a state the server reaches on its own (a slow machine takes longer)."""
    for _ in range(int(wait / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server did not get there")


@contextmanager
def counting(live: LiveBackend) -> Iterator[list[str]]:
    statements: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            statements.append(statement)

    engine = live.backend.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", hook)


async def test_local_commits_reach_streams_without_any_polling(live: LiveBackend) -> None:
    never_poll(live)
    alice = await Stream.open(live, "alice")
    bob = await Stream.open(live, "bob")  # p2 only: must not see p1's request
    root = await Stream.open(live, "root")
    rid = (await live.client("alice").create_request(title="now"))["id"]
    ev = await alice.event(wait=30)
    assert ev["type"] == "request.created" and ev["request_id"] == rid
    assert (await root.event(wait=30))["request_id"] == rid
    # bob's next event is his own request's, not alice's.
    own = (await live.client("bob").create_request(project="p2", title="mine"))["id"]
    assert (await bob.event(wait=30))["request_id"] == own
    for s in (alice, bob, root):
        s.close()


@pytest.mark.parametrize("direct", [True, False], ids=["bus-writes", "stream-task-writes"])
async def test_streams_opened_together_get_every_event_once_in_order(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    """Streams that subscribe at the same moment share one bus task (one per stream would
    read each new row once per task and hand streams duplicates), and every stream receives
    every event once, in log order, whether the bus wrote it for the waiting stream or the
    stream's own task did (what happens when its client is behind)."""
    never_poll(live)
    delivered: list[bool] = []
    deliver = EventsHandler._deliver

    def recording(handler: EventsHandler) -> bool:
        delivered.append(deliver(handler) if direct else False)
        return delivered[-1]

    monkeypatch.setattr(EventsHandler, "_deliver", recording)
    streams = await asyncio.gather(*(Stream.open(live, "alice") for _ in range(STREAMS)))
    await until(lambda: len(live.backend.events._subscribers) == STREAMS)
    assert [t.get_name() for t in asyncio.all_tasks()].count("trevor-event-bus") == 1
    alice = live.client("alice")
    created = await asyncio.gather(*(alice.create_request(title=f"fan {i}") for i in range(5)))
    rids = [r["id"] for r in created]
    for rid in rids:
        assert (await alice.post(f"/api/v1/requests/{rid}/withdraw")).status == 200
    expected = sorted([seq for rid in rids for seq in await _audit_seqs(live, rid)])
    for s in streams:
        seen: list[int] = []
        while not seen or seen[-1] < expected[-1]:
            seen.append((await s.event(wait=30))["seq"])
        assert seen == sorted(set(seen))  # in order, none twice
        assert [seq for seq in seen if seq in expected] == expected
        s.close()
    assert delivered and any(delivered) == direct


async def test_a_bus_that_could_not_start_is_started_again_by_the_next_stream(
    live: LiveBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    never_poll(live)
    bus = live.backend.events
    read_head = bus._read_head
    failures = [OSError("database unreachable")]

    async def flaky() -> int:
        if failures:
            raise failures.pop()
        return await read_head()

    monkeypatch.setattr(bus, "_read_head", flaky)
    first = await Stream.open(live, "alice")
    assert await first.body() == b""  # the stream ended; its client reconnects
    again = await Stream.open(live, "alice")
    rid = (await live.client("alice").create_request(title="after a failed start"))["id"]
    assert (await again.event(wait=30))["request_id"] == rid
    again.close()


async def test_idle_streams_cost_no_queries_per_stream(live: LiveBackend) -> None:
    """With the poll interval at 0.2 s, SQLite's process-wide check runs one query per tick
    whatever the number of streams; PostgreSQL (LISTEN) runs none."""
    interval = 0.2
    live.backend.ctx.settings = replace(live.backend.ctx.settings, events_poll_interval=interval)
    streams = [await Stream.open(live, "alice") for _ in range(STREAMS)]
    # Every stream is open and waiting (the bus has a subscriber per stream).
    assert len(live.backend.events._subscribers) == STREAMS
    with counting(live) as statements:
        started = time.monotonic()
        await asyncio.sleep(1.0)
        elapsed = time.monotonic() - started
    ticks = elapsed / interval
    if live.backend.ctx.dialect == "postgresql":
        assert statements == []
    else:
        # One head check per tick for the whole process (never one per stream per tick).
        assert len(statements) <= ticks + 2, (len(statements), ticks)
    # And they all still work.
    rid = (await live.client("alice").create_request(title="wake"))["id"]
    for s in streams:
        assert (await s.event(wait=30))["request_id"] == rid
        s.close()


async def test_a_revoked_token_ends_an_open_stream_at_once(live: LiveBackend) -> None:
    never_poll(live)
    carol = await Stream.open(live, "carol")
    carol_api = live.client("carol")
    (token,) = (await carol_api.get("/api/v1/tokens")).json["items"]
    assert (await carol_api.delete(f"/api/v1/tokens/{token['id']}")).status == 200
    # The revocation's audit event wakes the stream, which re-checks the token and ends.
    rest = await asyncio.wait_for(carol.reader.read(), 30)
    assert b"data:" not in rest
    carol.close()


async def test_postgres_notify_reaches_a_stream_in_another_process(
    postgres_url: str, tmp_path: Path
) -> None:
    """A stream on a child process that never polls gets an event written here: only
    LISTEN/NOTIFY can have carried it."""
    data = tmp_path / "data"
    data.mkdir()
    here, server = await start_backend(postgres_url, data)
    proc = BackendProcess(
        data,
        postgres_url,
        args=[
            "--TrevorBackend.reconciler_enabled=False",
            "--TrevorBackend.events_poll_interval=3600",
        ],
    )
    try:
        await asyncio.to_thread(proc.start)
        s = await Stream.open(here, "alice", base_url=proc.url)
        rid = (await here.client("alice").create_request(title="across"))["id"]
        ev = await s.event(wait=30)
        assert ev["type"] == "request.created" and ev["request_id"] == rid
        s.close()
    finally:
        await asyncio.to_thread(proc.stop)
        server.stop()
        await server.close_all_connections()
        await here.backend.close()


async def test_this_process_notifications_are_tagged_and_not_read_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    """A commit here wakes this process's bus through ``after_commit``; its NOTIFY carries the
    process's tag so the bus's own LISTEN does not read the log a second time for it, while a
    NOTIFY from any other writer still wakes it."""
    data = tmp_path / "data"
    data.mkdir()
    here, server = await start_backend(postgres_url, data)
    url = make_url(postgres_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    payloads: asyncio.Queue[str] = asyncio.Queue()
    try:
        await conn.add_listener(CHANNEL, lambda *args: payloads.put_nowait(args[3]))
        stream = await Stream.open(here, "alice")  # starts the bus and its LISTEN
        await here.client("alice").create_request(title="tagged")
        assert await asyncio.wait_for(payloads.get(), 30) == PROCESS_TAG
        await stream.event(wait=30)
        bus = here.backend.events
        bus._dirty.clear()
        bus._notified(conn, 0, CHANNEL, PROCESS_TAG)
        assert not bus._dirty.is_set()
        bus._notified(conn, 0, CHANNEL, "")  # another process (or an untagged NOTIFY)
        assert bus._dirty.is_set()
        stream.close()
    finally:
        await conn.close()
        server.stop()
        await server.close_all_connections()
        await here.backend.close()
