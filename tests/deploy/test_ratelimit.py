"""Rate limits per caller and per route, with RateLimit-* headers; and the limit shared by
replicas: two backend processes on one PostgreSQL allow together no more than the limit of
writes. Reads are limited in each process's memory and write nothing."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from traitlets import TraitError

from tests.backend.test_reconciler_processes import demo_tokens
from tests.fixtures.backend import Client, LiveBackend, start_backend
from tests.fixtures.processes import BackendProcess
from trevor_backend.app import TrevorBackend
from trevor_backend.orm import RateBucket

PROBLEM = "application/problem+json"
# So slow a refill that nothing refills while a test runs; the bounds still allow for it.
TRICKLE = 0.01


@pytest.fixture
async def limited(database_url: str, data_dir: Path) -> AsyncIterator[LiveBackend]:
    """A live backend whose limiter keeps its buckets in the database, as replicas share them."""
    lb, server = await start_backend(database_url, data_dir)
    lb.app.rate_limit_store = "database"
    lb.app.rate_limit, lb.app.rate_burst = TRICKLE, 5
    lb.app.rate_limit_callers = {"erin": {"rate": TRICKLE, "burst": 1}}
    lb.app.rate_limit_routes = {"POST /api/v1/requests": {"rate": TRICKLE, "burst": 2}}
    lb.backend.rate_limiter = lb.app.make_rate_limiter(lb.backend.ctx)
    try:
        yield lb
    finally:
        server.stop()
        await server.close_all_connections()
        await lb.backend.close()


async def test_caller_limit_headers_and_refusal(limited: LiveBackend) -> None:
    alice = limited.client("alice")
    remaining = []
    for _ in range(5):
        reply = await alice.get("/api/v1/users/me")
        assert reply.status == 200, reply.body
        assert reply.headers["RateLimit-Limit"] == "5"
        assert reply.headers["RateLimit-Policy"] == f"5;w={math.ceil(5 / TRICKLE)}"
        remaining.append(int(reply.headers["RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    refused = await alice.get("/api/v1/users/me")
    assert refused.status == 429 and refused.content_type.startswith(PROBLEM)
    assert refused.json["status"] == 429 and "retry in" in refused.json["detail"]
    # One token comes back after 1/rate seconds (minus the little refilled meanwhile).
    assert 0 < int(refused.headers["Retry-After"]) <= math.ceil(1 / TRICKLE)
    assert refused.headers["RateLimit-Remaining"] == "0"
    # Another caller has a bucket of their own; public routes are never limited.
    assert (await limited.client("bob").get("/api/v1/users/me")).status == 200
    assert (await limited.client(None).get("/health")).status == 200


async def test_per_caller_override(limited: LiveBackend) -> None:
    erin = limited.client("erin")
    first = await erin.get("/api/v1/users/me")
    assert first.status == 200 and first.headers["RateLimit-Limit"] == "1"
    assert (await erin.get("/api/v1/users/me")).status == 429


async def test_route_limit_is_per_caller_and_leaves_other_routes(limited: LiveBackend) -> None:
    alice, bob = limited.client("alice"), limited.client("bob")
    for _ in range(2):
        made = await alice.post("/api/v1/requests", {"project": "p1", "title": "t"})
        assert made.status == 201, made.body
    third = await alice.post("/api/v1/requests", {"project": "p1", "title": "t"})
    assert third.status == 429 and "Retry-After" in third.headers
    assert third.headers["RateLimit-Limit"] == "2"
    # The refused create cost no token of alice's general bucket, which writes share (reads
    # count in memory): 5 - 2 creates - this withdrawal = 2 left.
    withdrawn = await alice.post(f"/api/v1/requests/{made.json['id']}/withdraw")
    assert withdrawn.status == 200, withdrawn.body
    assert withdrawn.headers["RateLimit-Remaining"] == "2"
    listed = await alice.get("/api/v1/requests")
    assert listed.status == 200 and len(listed.json["items"]) == 2
    made = await bob.post("/api/v1/requests", {"project": "p2", "title": "t"})
    assert made.status == 201, made.body


@pytest.mark.parametrize(
    ("trait", "value", "named"),
    [
        ("rate_limit_routes", {"/api/v1/requests": {"rate": 1, "burst": 2}}, "/api/v1/requests"),
        ("rate_limit_routes", {"GET /api/v1/requests": {"rate": 0, "burst": 2}}, "rate"),
        ("rate_limit_callers", {"alice": {"rate": 1, "burst": 0}}, "burst"),
        ("rate_limit_callers", {"alice": 5}, "alice"),
    ],
)
def test_bad_limits_fail_at_start_naming_the_entry(trait: str, value: Any, named: str) -> None:
    with pytest.raises(TraitError, match=named):
        TrevorBackend(**{trait: value})


async def test_two_replicas_share_one_limit(tmp_path: Path, postgres_url: str) -> None:
    burst = 12
    tokens = await demo_tokens(tmp_path, postgres_url)  # migrated before either process starts
    args = [
        f"--TrevorBackend.rate_limit={TRICKLE}",
        f"--TrevorBackend.rate_burst={burst}",
        "--TrevorBackend.reconciler_enabled=False",
    ]
    procs = [BackendProcess(tmp_path, postgres_url, args=args).start() for _ in range(2)]
    try:
        clients = [Client(p.url, tokens["alice"]) for p in procs]
        started = time.monotonic()
        # Both replicas at once, as a load balancer spreads one caller's requests.
        new = {"project": "p1", "title": "t"}
        replies = await asyncio.gather(
            *(clients[i % 2].post("/api/v1/requests", new) for i in range(4 * burst))
        )
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            p.stop()
    codes = [r.status for r in replies]
    assert set(codes) == {201, 429}, codes
    allowed = codes.count(201)
    # Per-process buckets would allow 2 x burst; shared ones the burst plus what refilled.
    assert burst <= allowed <= burst + math.floor(elapsed * TRICKLE) + 1, (allowed, elapsed)
    # Each replica answered some of both: neither held the whole limit to itself.
    by_replica = [[r.status for r in replies[i::2]] for i in range(2)]
    assert all(201 in c for c in by_replica), by_replica


async def test_reads_are_limited_in_memory_and_write_nothing(limited: LiveBackend) -> None:
    statements: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = limited.backend.ctx.engine.sync_engine
    alice = limited.client("alice")
    assert (await alice.get("/api/v1/users/me")).status == 200  # first use: last_used_at
    event.listen(engine, "before_cursor_execute", hook)
    try:
        codes = [(await alice.get("/api/v1/users/me")).status for _ in range(5)]
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    assert codes == [200, 200, 200, 200, 429]
    assert not [s for s in statements if "rate_buckets" in s], statements
    # A write still takes its token from the shared bucket in the database.
    made = await alice.post("/api/v1/requests", {"project": "p1", "title": "t"})
    assert made.status == 201, made.body
    async with limited.backend.ctx.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(RateBucket)) >= 1
