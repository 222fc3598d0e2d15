"""A read API request authenticates and reads in one database session, and on SQLite those
reads run on the event loop instead of handing each call to aiosqlite's thread. Sharing must
never hide a change: a write inside the request ends the sharing, and the next request sees
every change (a revoked token, a removed membership) at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update

from tests.backend.test_query_counts import make_requests, to_human_review
from tests.fixtures.backend import LiveBackend
from trevor_backend import db
from trevor_backend.orm import AirlockRequest, Membership, User


@contextmanager
def checkouts(live: LiveBackend) -> Iterator[list[tuple[Any, int]]]:
    """Connections taken from the backend's pool while the block runs, each with the number
    of calls its driver had handed to aiosqlite's thread when taken (SQLite; else 0)."""
    taken: list[tuple[Any, int]] = []

    def hook(_dbapi: Any, _record: Any, proxy: Any) -> None:
        driver = proxy.driver_connection
        taken.append((driver, getattr(driver, "_sent", 0)))

    pool = live.backend.ctx.engine.sync_engine.pool
    event.listen(pool, "checkout", hook)
    try:
        yield taken
    finally:
        event.remove(pool, "checkout", hook)


@pytest.mark.parametrize("lean", [False, True])
async def test_a_read_request_uses_one_session(live: LiveBackend, lean: bool) -> None:
    """On the model path one ORM session; on the lean read path none (its driver reads)."""
    if not lean:
        live.backend.ctx.reads = None
    assert (live.backend.ctx.reads is not None) == lean
    alice, carol = live.client("alice"), live.client("carol")
    (rid,) = await make_requests(live, 1)
    await to_human_review(live, [rid])
    for client in (alice, carol):  # the tokens' first use may write last_used_at
        assert (await client.get("/api/v1/users/me")).status == 200
    for client, path in (
        (alice, f"/api/v1/requests/{rid}"),
        (alice, "/api/v1/requests?limit=50"),
        (carol, "/api/v1/review-queue?limit=50"),
    ):
        with checkouts(live) as taken:
            reply = await client.get(path)
        assert reply.status == 200, reply.body
        expected = 0 if lean else 1
        assert len(taken) == expected, f"{path}: {len(taken)} sessions, expected {expected}"


async def test_a_write_ends_the_shared_session_so_later_reads_see_it(
    live: LiveBackend,
) -> None:
    (rid,) = await make_requests(live, 1, objects=0)
    sessions = live.backend.ctx.sessions
    title = select(AirlockRequest.title).where(AirlockRequest.id == rid)
    async with sessions.shared_reads():
        async with sessions() as first:
            before = await first.scalar(title)
        async with sessions() as again:
            assert again is first  # shared until something writes
        async with sessions.begin() as write:
            await write.execute(
                update(AirlockRequest).where(AirlockRequest.id == rid).values(title="changed")
            )
        async with sessions() as after:
            assert after is not first
            seen = await after.scalar(title)
    assert (before, seen) == ("r0", "changed")


async def test_tasks_started_by_a_request_do_not_share_its_session(live: LiveBackend) -> None:
    sessions = live.backend.ctx.sessions
    async with sessions.shared_reads():
        async with sessions() as mine:
            pass

        async def child() -> bool:
            async with sessions() as theirs:
                return theirs is mine

        assert await asyncio.create_task(child()) is False


@pytest.mark.parametrize("lean", [False, True])
async def test_revocation_and_membership_changes_reach_the_next_request(
    live: LiveBackend, lean: bool
) -> None:
    if not lean:
        live.backend.ctx.reads = None
    carol = live.client("carol")
    (rid,) = await make_requests(live, 1)
    await to_human_review(live, [rid])
    assert len((await carol.get("/api/v1/review-queue")).json["items"]) == 1
    async with live.backend.ctx.sessions.begin() as s:
        carol_id = await s.scalar(select(User.id).where(User.username == "carol"))
        await s.execute(delete(Membership).where(Membership.user_id == carol_id))
    assert (await carol.get("/api/v1/review-queue")).json["items"] == []
    assert (await carol.get(f"/api/v1/requests/{rid}")).status == 404
    (token,) = (await carol.get("/api/v1/tokens")).json["items"]
    assert (await carol.delete(f"/api/v1/tokens/{token['id']}")).status == 200
    assert (await carol.get("/api/v1/requests?limit=50")).status == 401


async def test_sqlite_request_reads_run_on_the_loop_and_writes_on_the_thread(
    live: LiveBackend,
) -> None:
    engine = live.backend.ctx.engine
    if not db.is_sqlite(engine):
        return  # PostgreSQL's driver has no thread to skip
    sessions = live.backend.ctx.sessions

    async def thread_calls(body: Any) -> int:
        """Calls the body handed to aiosqlite's threads, on every connection it checked out."""
        with checkouts(live) as taken:
            await body()
        assert taken
        return sum(driver._sent - before for driver, before in taken)

    async def request_reads() -> None:
        async with sessions.shared_reads(), sessions() as s:
            await s.scalar(select(User.username).where(User.username == "alice"))

    async def plain_read() -> None:
        async with sessions() as s:
            await s.scalar(select(User.username).where(User.username == "alice"))

    async def write() -> None:
        async with sessions.begin() as s:
            await s.execute(update(User).where(User.username == "alice").values(display_name="A"))

    assert await thread_calls(request_reads) == 0
    assert await thread_calls(plain_read) > 0
    assert await thread_calls(write) > 0
