"""The job framework's lease primitives on real request rows: a live lease keeps others out,
only the owner renews or gives back, a back-off keeps the owner, and concurrent claimers take
different rows (on PostgreSQL without waiting for each other: SKIP LOCKED)."""

from __future__ import annotations

import asyncio

from tests.backend.test_reconciler import submitted
from tests.fixtures.backend import LiveBackend
from trevor_backend.contract import RequestStatus
from trevor_backend.jobs import JobContext, claim, give_back, renew
from trevor_backend.orm import AirlockRequest

SUBMITTED = [AirlockRequest.status == RequestStatus.SUBMITTED.value]


async def lease_of(live: LiveBackend, rid: str) -> tuple[str | None, object, int]:
    async with live.backend.ctx.sessions() as s:
        r = await s.get(AirlockRequest, rid)
        assert r is not None
        return r.lease_owner, r.lease_expires_at, r.attempts


async def test_only_the_owner_renews_or_gives_back(live: LiveBackend) -> None:
    (rid,) = await submitted(live)
    a = JobContext.of(live.backend.ctx, owner="a", lease_seconds=60)
    b = JobContext.of(live.backend.ctx, owner="b", lease_seconds=60)
    async with live.backend.ctx.sessions.begin() as s:
        assert await claim(s, a, AirlockRequest, SUBMITTED) == [rid]
    async with live.backend.ctx.sessions.begin() as s:
        assert await claim(s, b, AirlockRequest, SUBMITTED) == []
    owner, claimed_until, attempts = await lease_of(live, rid)
    assert owner == "a" and attempts == 1

    assert not await renew(b, AirlockRequest, rid)
    assert not await give_back(b, AirlockRequest, rid, last_error="not mine")
    assert await lease_of(live, rid) == ("a", claimed_until, 1)

    assert await renew(a, AirlockRequest, rid)
    # A back-off keeps the lease (and its owner) for the delay; the error is recorded.
    assert await give_back(a, AirlockRequest, rid, retry_in=30, last_error="store down")
    owner, until, _ = await lease_of(live, rid)
    assert owner == "a" and until is not None
    async with live.backend.ctx.sessions.begin() as s:
        assert await claim(s, b, AirlockRequest, SUBMITTED) == []
    assert await give_back(a, AirlockRequest, rid)
    assert (await lease_of(live, rid))[:2] == (None, None)
    async with live.backend.ctx.sessions.begin() as s:
        assert await claim(s, b, AirlockRequest, SUBMITTED, count_attempt=False) == [rid]
    owner, _, attempts = await lease_of(live, rid)
    assert owner == "b" and attempts == 1  # this claim did not count an attempt


async def test_concurrent_claimers_take_different_rows(live: LiveBackend) -> None:
    await submitted(live, 2)
    ctx = live.backend.ctx
    a = JobContext.of(ctx, owner="a")
    b = JobContext.of(ctx, owner="b")

    async def claim_one(job: JobContext) -> list[str]:
        async with ctx.sessions.begin() as s:
            return await claim(s, job, AirlockRequest, SUBMITTED, limit=1)

    async with ctx.sessions.begin() as s:
        first = await claim(s, a, AirlockRequest, SUBMITTED, limit=1)
        other = asyncio.create_task(claim_one(b))
        if ctx.dialect == "postgresql":
            # The row under the first claimer's uncommitted UPDATE is skipped, not waited on.
            second = await asyncio.wait_for(other, 60)
            assert s.in_transaction()  # the first claim is still uncommitted
    if ctx.dialect != "postgresql":
        # SQLite serialises writers: the second claim runs once the first has committed.
        second = await other
    assert len(first) == 1 and len(second) == 1 and first != second
