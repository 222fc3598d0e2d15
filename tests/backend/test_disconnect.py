"""Work stops when the client disconnects: the handler's task is cancelled from
``on_connection_close``, so a request whose client has gone runs no more queries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import ClassVar
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tests.fixtures.backend import LiveBackend
from trevor_backend.handlers.base import BaseHandler
from trevor_backend.web import make_app


class Probe:
    started: asyncio.Event
    cancelled: asyncio.Event
    queries: int


class SlowListHandler(BaseHandler):
    """Stands in for a slow read: queries the database until it is cancelled (test only)."""

    probe: ClassVar[Probe]

    async def get(self) -> None:
        probe = self.probe
        probe.started.set()
        try:
            while True:
                async with self.ctx.sessions() as session:
                    await session.execute(select(1))
                probe.queries += 1
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            probe.cancelled.set()
            raise


@pytest.fixture
async def slow_server(live: LiveBackend) -> AsyncIterator[tuple[str, Probe]]:
    probe = Probe()
    probe.started, probe.cancelled, probe.queries = asyncio.Event(), asyncio.Event(), 0
    SlowListHandler.probe = probe
    app = make_app(live.backend)
    app.add_handlers(r".*", [(r"/test/slow", SlowListHandler)])
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_sockets([sock])
    try:
        yield f"http://127.0.0.1:{port}", probe
    finally:
        server.stop()
        await server.close_all_connections()


async def abandon(url: str, token: str, probe: Probe) -> None:
    """Send GET /test/slow and hang up once the handler has started."""
    host = urlsplit(url)
    _reader, writer = await asyncio.open_connection(host.hostname, host.port)
    writer.write(
        (
            f"GET /test/slow HTTP/1.1\r\nHost: {host.netloc}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    await asyncio.wait_for(probe.started.wait(), timeout=60)
    writer.close()  # the client gives up
    await writer.wait_closed()


async def test_a_disconnected_clients_request_is_cancelled(
    live: LiveBackend, slow_server: tuple[str, Probe]
) -> None:
    url, probe = slow_server
    await abandon(url, live.tokens["alice"], probe)
    await asyncio.wait_for(probe.cancelled.wait(), timeout=60)
    stopped_at = probe.queries
    # The backend goes on serving others, and the cancelled work does not resume.
    assert (await live.client("alice").get("/api/v1/users/me")).status == 200
    assert probe.queries == stopped_at


async def test_a_client_that_stays_gets_its_answer(live: LiveBackend) -> None:
    """Cancelling is for gone clients only: ordinary requests complete (and a request that
    finished before the client closed is not disturbed)."""
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    got = await alice.get(f"/api/v1/requests/{rid}")
    assert got.status == 200 and got.json["id"] == rid


async def test_cancelled_work_is_logged_as_499_not_as_a_server_error(
    live: LiveBackend, slow_server: tuple[str, Probe]
) -> None:
    """Tornado answers a cancelled handler task with a 500 nobody receives; the access log and
    the metrics record the client's disconnect as 499 (nginx's "client closed request"), so a
    load test's or a browser's abandoned requests do not show as server errors."""
    url, probe = slow_server
    logged: list[logging.LogRecord] = []
    arrived = asyncio.Event()

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "/test/slow" in record.getMessage():
                logged.append(record)
                arrived.set()

    access, catch = logging.getLogger("tornado.access"), Catch(logging.DEBUG)
    level = access.level
    access.addHandler(catch)
    access.setLevel(logging.DEBUG)
    try:
        await abandon(url, live.tokens["alice"], probe)
        await asyncio.wait_for(arrived.wait(), timeout=60)
    finally:
        access.removeHandler(catch)
        access.setLevel(level)
    (line,) = logged
    assert line.getMessage().startswith("499 GET /test/slow"), line.getMessage()
    assert line.levelno == logging.INFO
    counted = {
        (s.labels["handler"], s.labels["status"])
        for metric in live.backend.metrics.registry.collect()
        for s in metric.samples
        if metric.name == "trevor_http_requests" and s.value
    }
    assert ("SlowListHandler", "499") in counted
    assert ("SlowListHandler", "500") not in counted
