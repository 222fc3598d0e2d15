"""Audit CSV export and metrics summary at scale, on PostgreSQL (issue 12).

1. Export: 1,000,000 audit events (a valid hash chain, written with COPY) are streamed through
   ``GET /api/v1/audit?format=csv`` of a real backend on a loopback port. Printed: time,
   rows/s, MB/s, and peak RSS growth of this process (server and client; the client discards
   what it receives) sampled every 5 ms. Baselines in the same run, interleaved round by round
   with the export: the server's bare ``COPY (SELECT ... ORDER BY seq) TO STDOUT`` read by an
   asyncpg client and discarded (the floor), and the same rows through an asyncpg cursor into
   Python's csv module; medians and ratios are printed. Goals: < 30 s, RSS growth < 64 MB.
2. Metrics: 100,000 requests with six events each (created, submitted, agent review, two
   human reviews, a decision) and their review rows in a fresh database, the metrics
   milestones filled in by migration 0006's backfill (timed); ``MetricsService.summary`` is timed
   (best and median of ``--repeat``), and so is ``GET /api/v1/metrics/summary`` in the same
   rounds. Baseline, interleaved: ``SELECT count(*)`` of the requests table. Goal: < 500 ms
   over HTTP.

Usage: python benchmarks/audit_export.py [--events 1000000] [--requests 100000] [--repeat 5]
       [--rounds 3]
       [--pg postgresql://postgres@127.0.0.1:5432/test]  (TREVOR_TEST_DATABASE_URL if set)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import io
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from tornado.httpclient import AsyncHTTPClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from release import PeakRSS  # noqa: E402  (the release benchmark's RSS sampler)

from tests.fixtures.backend import start_backend  # noqa: E402
from trevor_backend.principal import Principal  # noqa: E402
from trevor_backend.services.audit import _canonical, event_hash  # noqa: E402

MB = 1024 * 1024


async def admin_conn(pg: str, database: str | None = None) -> asyncpg.Connection:
    url = make_url(pg)
    return await asyncpg.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        password=url.password,
        database=database or url.database,
    )


async def fresh_database(pg: str) -> tuple[str, str]:
    name = f"trevor_bench_{uuid.uuid4().hex[:10]}"
    conn = await admin_conn(pg)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, make_url(pg).set(database=name).render_as_string(hide_password=False)


async def drop_database(pg: str, name: str) -> None:
    conn = await admin_conn(pg)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


COLUMNS = (
    "seq",
    "created_at",
    "type",
    "actor_id",
    "actor",
    "project_id",
    "request_id",
    "object_id",
    "payload",
    "correlation_id",
    "prev_hash",
    "hash",
)


class Chain:
    """Appends valid events after the database's current head, in COPY batches."""

    def __init__(self, conn: asyncpg.Connection, seq: int, prev: str) -> None:
        self.conn, self.seq, self.prev = conn, seq, prev
        self.rows: list[tuple[Any, ...]] = []

    async def add(
        self,
        type_: str,
        actor: str,
        when: datetime,
        project: str | None,
        request: str | None,
        payload: dict[str, Any],
    ) -> None:
        self.seq += 1
        clean = json.loads(_canonical(payload))
        h = event_hash(
            seq=self.seq,
            created_at=when,
            type=type_,
            actor_id=None,
            actor=actor,
            project_id=project,
            request_id=request,
            object_id=None,
            payload=clean,
            correlation_id=None,
            prev_hash=self.prev,
        )
        self.rows.append(
            (
                self.seq,
                when,
                type_,
                None,
                actor,
                project,
                request,
                None,
                _canonical(clean),
                None,
                self.prev,
                h,
            )
        )
        self.prev = h
        if len(self.rows) >= 20_000:
            await self.flush()

    async def flush(self) -> None:
        if self.rows:
            await self.conn.copy_records_to_table(
                "audit_events", records=self.rows, columns=COLUMNS
            )
            self.rows = []


async def chain_head(conn: asyncpg.Connection) -> Chain:
    row = await conn.fetchrow("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    return Chain(conn, row["seq"], row["hash"])


async def export_benchmark(pg: str, events: int, rounds: int) -> None:
    name, url = await fresh_database(pg)
    data = Path(tempfile.mkdtemp(prefix="trevor-bench-"))
    lb, server = await start_backend(url, data)
    try:
        conn = await admin_conn(pg, name)
        t0 = time.perf_counter()
        chain = await chain_head(conn)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for i in range(events):
            await chain.add(
                "object.viewed",
                "alice",
                start + timedelta(seconds=i),
                "p1",
                f"{i // 10:032x}",
                {"as": "content", "n": i},
            )
        await chain.flush()
        await conn.execute("ANALYZE audit_events")
        total = await conn.fetchval("SELECT count(*) FROM audit_events")
        print(f"setup: {total} audit events written in {time.perf_counter() - t0:.1f} s")

        select_all = f"SELECT {', '.join(COLUMNS)} FROM audit_events ORDER BY seq"

        async def cursor_baseline() -> float:
            """The same rows, the same order, through an asyncpg cursor into csv, to nowhere."""
            t0 = time.perf_counter()
            sink = io.StringIO()
            out = csv.writer(sink)
            n = 0
            async with conn.transaction():
                async for rec in conn.cursor(select_all, prefetch=5000):
                    out.writerow(rec)
                    n += 1
                    if n % 5000 == 0:
                        sink.seek(0)
                        sink.truncate()
            return time.perf_counter() - t0

        async def copy_baseline() -> float:
            """The floor: the server's COPY of the same rows, read by a bare client, discarded."""

            async def discard(_: bytes) -> None:
                return None

            t0 = time.perf_counter()
            await conn.copy_from_query(select_all, output=discard, format="csv")
            return time.perf_counter() - t0

        received = {"bytes": 0, "lines": 0}

        def on_chunk(chunk: bytes) -> None:
            received["bytes"] += len(chunk)
            received["lines"] += chunk.count(b"\n")

        async def export() -> tuple[float, float]:
            received.update(bytes=0, lines=0)
            with PeakRSS() as rss:
                t0 = time.perf_counter()
                # Its own client: the shared one refuses bodies over 100 MB even when streamed.
                client = AsyncHTTPClient(force_instance=True, max_body_size=1 << 40)
                reply = await client.fetch(
                    f"{lb.url}/api/v1/audit?format=csv",
                    headers={"Authorization": f"Bearer {lb.tokens['root']}"},
                    streaming_callback=on_chunk,
                    request_timeout=3600,
                )
                elapsed = time.perf_counter() - t0
                client.close()
            assert reply.code == 200
            return elapsed, rss.growth

        # Interleaved rounds, so a change in the machine's load hits all three alike.
        runs: dict[str, list[float]] = {"export": [], "copy": [], "cursor": []}
        growth: list[float] = []
        for _ in range(rounds):
            elapsed, grown = await export()
            runs["export"].append(elapsed)
            growth.append(grown)
            runs["copy"].append(await copy_baseline())
            runs["cursor"].append(await cursor_baseline())
        await conn.close()

        med = {k: statistics.median(v) for k, v in runs.items()}
        rows = received["lines"] - 1
        elapsed = med["export"]
        print(
            f"export: {rows} rows, {received['bytes'] / MB:.1f} MB; median {elapsed:.1f} s of "
            f"{rounds} (best {min(runs['export']):.1f} s; {rows / elapsed:,.0f} rows/s, "
            f"{received['bytes'] / MB / elapsed:.1f} MB/s); "
            f"goal < 30 s: {'met' if elapsed < 30 else 'MISSED'}"
        )
        print(
            f"export: peak RSS growth {max(growth) / MB:.1f} MB (worst of {rounds}); "
            f"goal < 64 MB: {'met' if max(growth) < 64 * MB else 'MISSED'}"
        )
        print(
            f"baseline bare COPY of the same rows: median {med['copy']:.1f} s; "
            f"export / COPY = {elapsed / med['copy']:.2f}"
        )
        print(
            f"baseline asyncpg cursor -> csv, same rows: median {med['cursor']:.1f} s; "
            f"export / cursor = {elapsed / med['cursor']:.2f}"
        )
    finally:
        server.stop()
        await lb.backend.close()
        await drop_database(pg, name)


def milestone_backfill() -> Any:
    path = ROOT / "backend/trevor_backend/alembic/versions/0006_request_milestones.py"
    spec = importlib.util.spec_from_file_location("migration_0006", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.backfill


async def metrics_benchmark(pg: str, requests: int, repeat: int) -> None:
    name, url = await fresh_database(pg)
    data = Path(tempfile.mkdtemp(prefix="trevor-bench-"))
    lb, server = await start_backend(url, data)
    try:
        conn = await admin_conn(pg, name)
        users = dict(await conn.fetch("SELECT username, id FROM users"))
        alice = users["alice"]
        reviews: list[tuple[Any, ...]] = []
        t0 = time.perf_counter()
        chain = await chain_head(conn)
        start = datetime(2026, 1, 5, tzinfo=UTC)
        outcomes = ("approved", "changes_requested", "rejected")
        recs = ("pass", "review", "fail")
        rows = []
        for i in range(requests):
            rid = f"{i:032x}"
            project = "p1" if i % 3 else "p2"
            created = start + timedelta(minutes=i)
            outcome = outcomes[i % 3] if i % 10 else None  # every tenth still waiting
            status = (outcome or "human_review").upper()
            rows.append(
                (
                    rid,
                    project,
                    "egress",
                    f"request {i}",
                    "",
                    status,
                    1,
                    alice,
                    created,
                    created,
                    created,
                    0,
                )
            )
            await chain.add(
                "request.created",
                "alice",
                created,
                project,
                rid,
                {"direction": "egress", "title": f"request {i}"},
            )
            sub = created + timedelta(seconds=30)
            await chain.add(
                "request.submitted",
                "alice",
                sub,
                project,
                rid,
                {"from": "DRAFT", "to": "SUBMITTED", "revision": 1},
            )
            await chain.add(
                "request.agent_review_completed",
                "agent",
                sub + timedelta(seconds=5),
                project,
                rid,
                {
                    "from": "AGENT_REVIEW",
                    "to": "HUMAN_REVIEW",
                    "revision": 1,
                    "recommendation": recs[i % 3],
                },
            )
            await chain.add(
                "review.submitted",
                "carol",
                sub + timedelta(hours=1 + i % 50),
                project,
                rid,
                {"revision": 1},
            )
            # The reviews themselves, as the review service stores them with their events.
            reviews.append((uuid.uuid4().hex, rid, 1, users["carol"], "human", "approve", "", sub))
            if outcome:
                await chain.add(
                    "review.submitted",
                    "dave",
                    sub + timedelta(hours=2 + i % 50),
                    project,
                    rid,
                    {"revision": 1},
                )
                reviews.append(
                    (uuid.uuid4().hex, rid, 1, users["dave"], "human", "approve", "", sub)
                )
                await chain.add(
                    f"request.{outcome}",
                    "dave",
                    sub + timedelta(hours=2 + i % 50),
                    project,
                    rid,
                    {"from": "HUMAN_REVIEW", "to": outcome.upper(), "revision": 1},
                )
            if len(rows) >= 10_000:
                await conn.copy_records_to_table(
                    "requests",
                    records=rows,
                    columns=(
                        "id",
                        "project_id",
                        "direction",
                        "title",
                        "description",
                        "status",
                        "revision",
                        "created_by",
                        "created_at",
                        "updated_at",
                        "submitted_at",
                        "attempts",
                    ),
                )
                rows = []
        if rows:
            await conn.copy_records_to_table(
                "requests",
                records=rows,
                columns=(
                    "id",
                    "project_id",
                    "direction",
                    "title",
                    "description",
                    "status",
                    "revision",
                    "created_by",
                    "created_at",
                    "updated_at",
                    "submitted_at",
                    "attempts",
                ),
            )
        await chain.flush()
        await conn.copy_records_to_table(
            "reviews",
            records=reviews,
            columns=(
                "id",
                "request_id",
                "revision",
                "reviewer_id",
                "kind",
                "decision",
                "summary",
                "created_at",
            ),
        )
        n_events = await conn.fetchval("SELECT count(*) FROM audit_events")
        print(
            f"setup: {requests} requests, {n_events} audit events "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        # The milestones the state machine would have kept, filled in as an upgrade of a
        # deployment with this history would: by migration 0006's backfill.
        t0 = time.perf_counter()
        async with lb.backend.ctx.engine.begin() as sa_conn:
            await sa_conn.run_sync(milestone_backfill())
        print(f"migration 0006 backfill of {requests} requests: {time.perf_counter() - t0:.1f} s")
        await conn.execute("ANALYZE")

        root = Principal(user_id=None, name="bench", admin=True)
        times, floor, over_http = [], [], []
        # Interleaved with the summary (in-process and over HTTP, the answer an admin waits
        # for): one scan of the requests table, the least any summary of them could read.
        for _ in range(repeat):
            t0 = time.perf_counter()
            summary = await lb.backend.metrics_summary.summary(root)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reply = await AsyncHTTPClient().fetch(
                f"{lb.url}/api/v1/metrics/summary",
                headers={"Authorization": f"Bearer {lb.tokens['root']}"},
                request_timeout=600,
            )
            over_http.append(time.perf_counter() - t0)
            assert reply.code == 200
            t0 = time.perf_counter()
            await conn.fetchval("SELECT count(*) FROM requests")
            floor.append(time.perf_counter() - t0)
        await conn.close()
        baseline = statistics.median(floor)
        best, median = min(times), statistics.median(times)
        http = statistics.median(over_http)
        print(
            f"metrics summary over {requests} requests: best {best * 1000:.0f} ms, median "
            f"{median * 1000:.0f} ms of {repeat}; over HTTP median {http * 1000:.0f} ms "
            f"(best {min(over_http) * 1000:.0f} ms); goal < 500 ms over HTTP: "
            f"{'met' if http < 0.5 else 'MISSED'}"
        )
        print(
            f"baseline SELECT count(*) of {requests} requests: median {baseline * 1000:.0f} ms; "
            f"summary / baseline = {median / baseline:.1f}"
        )
        print(
            f"  (decisions {summary.outcomes.decisions}, first-review median "
            f"{summary.time_to_first_review.median_seconds:.0f} s, checkers "
            f"{[(c.checker, c.reviews) for c in summary.checkers]})"
        )
    finally:
        server.stop()
        await lb.backend.close()
        await drop_database(pg, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved export rounds")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "TREVOR_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--only", choices=("export", "metrics"), default=None)
    args = parser.parse_args()
    # The backend's own warnings and errors (a failed export says why here).
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.only in (None, "export"):
        asyncio.run(export_benchmark(args.pg, args.events, args.rounds))
    if args.only in (None, "metrics"):
        asyncio.run(metrics_benchmark(args.pg, args.requests, args.repeat))


if __name__ == "__main__":
    main()
