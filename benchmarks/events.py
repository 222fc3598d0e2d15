"""Live events: transition -> event latency with 200 open streams, and the CPU idle streams use.

A real ``trevor-backend serve`` process (SQLite, and PostgreSQL when ``--pg-url`` or
``TREVOR_TEST_DATABASE_URL`` is set) with the demo world. The benchmark opens ``--streams``
``GET /api/v1/events`` connections as alice, then ``--rounds`` times withdraws one of her draft
requests (a state-machine transition) and records, for every stream, when the event arrived.
Printed, over all deliveries (p50/p99/max):

* from the transition: the event's ``created_at`` (stamped by the backend inside the
  transition's transaction, same machine clock) to its arrival — the goal, p99 < 100 ms at
  200 streams;
* from sending the withdraw request, which adds the API call's own work before the
  transition (authentication, loading the request), shown beside it with the withdraw's
  response time as the baseline measured in the same rounds.

Arrival times are taken as bytes come off each socket (an ``asyncio.Protocol``); parsing
happens afterwards, so the client's own work on 200 streams does not delay the last ones.
Then the backend's CPU time over ``--idle`` seconds with the streams open and nothing
happening, against the same interval with no streams (goal: ~0).

    .venv/bin/python benchmarks/events.py [--streams 200] [--rounds 30] [--idle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.api import pg_admin, prepare
from tests.fixtures.processes import BackendProcess


async def http(port: int, method: str, path: str, token: str, body: dict | None = None) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode() if body is not None else b""
    writer.write(
        (
            f"{method} {path} HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    assert status < 300, raw[:500]
    return json.loads(payload)


class Stream(asyncio.Protocol):
    """One event stream: stamps each chunk as it arrives, parses on demand."""

    def __init__(self) -> None:
        self.buf = bytearray()
        #: (buffer length after the chunk, perf_counter, wall clock) per chunk received
        self.arrivals: list[tuple[int, float, float]] = []
        self.parsed = 0
        self.more = asyncio.Event()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.arrivals.append((len(self.buf) + len(data), time.perf_counter(), time.time()))
        self.buf += data
        self.more.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.more.set()

    @classmethod
    async def open(cls, port: int, token: str) -> Stream:
        loop = asyncio.get_running_loop()
        _, stream = await loop.create_connection(cls, "127.0.0.1", port)
        assert stream.transport is not None
        auth = f"Authorization: Bearer {token}"
        stream.transport.write(f"GET /api/v1/events HTTP/1.0\r\nHost: x\r\n{auth}\r\n\r\n".encode())
        while b"connected at" not in stream.buf:
            await stream.wait()
        stream.parsed = stream.buf.index(b"connected at")
        return stream

    async def wait(self) -> None:
        if self.transport is None or self.transport.is_closing():
            raise EOFError
        self.more.clear()
        await self.more.wait()

    async def until(self, rid: str, kind: str) -> tuple[float, float, float]:
        """(arrival perf_counter, arrival wall clock, the event's created_at) of the event."""
        while True:
            end = self.buf.find(b"\n\n", self.parsed)
            if end < 0:
                await self.wait()
                continue
            frame = bytes(self.buf[self.parsed : end])
            self.parsed = end + 2
            for line in frame.split(b"\n"):
                if line.startswith(b"data: "):
                    data = json.loads(line[6:])
                    if data["request_id"] == rid and data["type"] == kind:
                        got = next(a for a in self.arrivals if a[0] >= end + 2)
                        created = datetime.fromisoformat(data["created_at"]).timestamp()
                        return got[1], got[2], created

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def percentiles(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
    return f"p50 {values[len(values) // 2]:6.1f} ms  p99 {p99:6.1f} ms  max {values[-1]:6.1f} ms"


async def measure(port: int, pid: int, token: str, streams: int, rounds: int, idle: float) -> None:
    proc = psutil.Process(pid)

    def cpu() -> float:
        t = proc.cpu_times()
        return t.user + t.system

    base0 = cpu()
    await asyncio.sleep(idle)
    no_streams = cpu() - base0

    rids = [
        (await http(port, "POST", "/api/v1/requests", token, {"project": "p1", "title": f"e{i}"}))[
            "id"
        ]
        for i in range(rounds)
    ]
    opened = await asyncio.gather(*(Stream.open(port, token) for _ in range(streams)))
    await asyncio.sleep(1.0)
    c0 = cpu()
    await asyncio.sleep(idle)
    idle_cpu = cpu() - c0

    from_transition: list[float] = []
    from_request: list[float] = []
    responses: list[float] = []
    for rid in rids:
        waiters = [asyncio.ensure_future(s.until(rid, "request.withdrawn")) for s in opened]
        t0 = time.perf_counter()
        await http(port, "POST", f"/api/v1/requests/{rid}/withdraw", token, {})
        responses.append((time.perf_counter() - t0) * 1000)
        arrived = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        from_request += [(perf - t0) * 1000 for perf, _, _ in arrived]
        from_transition += [(wall - created) * 1000 for _, wall, created in arrived]
    for s in opened:
        s.close()
    p99 = sorted(from_transition)[min(len(from_transition) - 1, int(0.99 * len(from_transition)))]
    print(f"  {streams} streams, {rounds} transitions, {len(from_transition)} deliveries")
    print(
        f"  transition -> client     {percentiles(from_transition)}"
        f"  (goal p99 < 100 ms: {'met' if p99 < 100 else 'NOT met'})"
    )
    print(f"  withdraw sent -> client  {percentiles(from_request)}")
    print(f"  withdraw response        {percentiles(responses)}  (baseline: the API call)")
    print(
        f"  backend CPU over {idle:.0f} s idle: {no_streams * 1000:.0f} ms with no streams, "
        f"{idle_cpu * 1000:.0f} ms with {streams} open streams"
    )


def run(label: str, database_url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="trevor-events-") as tmp:
        data = Path(tmp)
        tokens = asyncio.run(prepare(database_url, data))
        proc = BackendProcess(
            data,
            database_url,
            args=[
                "--TrevorBackend.rate_limit=0",
                "--TrevorBackend.reconciler_enabled=False",
                "--TrevorBackend.log_level=WARN",
            ],
        ).start(120)
        try:
            print(f"{label}:", flush=True)
            assert proc.proc is not None
            asyncio.run(
                measure(
                    proc.port, proc.proc.pid, tokens["alice"], args.streams, args.rounds, args.idle
                )
            )
        finally:
            proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--pg-url", default=os.environ.get("TREVOR_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trevor-events-db-") as tmp:
        run("SQLite", f"sqlite:///{tmp}/trevor.sqlite", args)
    if args.pg_url:
        from sqlalchemy.engine import make_url

        name = f"trevor_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(pg_admin(args.pg_url, f'CREATE DATABASE "{name}"'))
        try:
            url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
            run("PostgreSQL", url, args)
        finally:
            asyncio.run(pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
