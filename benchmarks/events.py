"""Live events: transition -> event latency with 200 open streams, and the CPU idle streams use.

A real ``trevor-backend serve`` process (SQLite, and PostgreSQL when ``--pg-url`` or
``TREVOR_TEST_DATABASE_URL`` is set) with the demo world. The benchmark opens ``--streams``
``GET /api/v1/events`` connections as alice, then ``--rounds`` times withdraws one of her draft
requests (a state-machine transition) and records, for every stream, the time from sending the
withdraw to that stream reading the event. Printed: p50/p99/max over all deliveries (goal:
p99 < 100 ms at 200 streams). Then the backend's CPU time over ``--idle`` seconds with the
streams open and nothing happening, against the same interval with no streams (goal: ~0).

    .venv/bin/python benchmarks/events.py [--streams 200] [--rounds 30] [--idle 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
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


class Stream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, token: str) -> Stream:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        auth = f"Authorization: Bearer {token}"
        writer.write(f"GET /api/v1/events HTTP/1.0\r\nHost: x\r\n{auth}\r\n\r\n".encode())
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        await reader.readuntil(b"\n\n")  # retry + connected
        return cls(reader, writer)

    async def until(self, rid: str, kind: str) -> float:
        while True:
            line = await self.reader.readline()
            if not line:
                raise EOFError
            if line.startswith(b"data: "):
                data = json.loads(line[6:])
                if data["request_id"] == rid and data["type"] == kind:
                    return time.perf_counter()


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

    latencies: list[float] = []
    for rid in rids:
        waiters = [asyncio.ensure_future(s.until(rid, "request.withdrawn")) for s in opened]
        t0 = time.perf_counter()
        await http(port, "POST", f"/api/v1/requests/{rid}/withdraw", token, {})
        arrived = await asyncio.wait_for(asyncio.gather(*waiters), 60)
        latencies += [(t - t0) * 1000 for t in arrived]
    for s in opened:
        s.writer.close()
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    print(
        f"  {streams} streams, {rounds} transitions, {len(latencies)} deliveries: "
        f"p50 {statistics.median(latencies):.1f} ms  p99 {p(0.99):.1f} ms  "
        f"max {latencies[-1]:.1f} ms"
        f"  (goal p99 < 100 ms: {'met' if p(0.99) < 100 else 'NOT met'})"
    )
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
