"""List, queue and detail endpoints run a constant number of SQL statements per page: the
count (taken with a SQLAlchemy ``before_cursor_execute`` hook on the backend's engine, and the
lean read driver's statement listeners) is the same for a page of 2 requests as for a page of
12, and for 1 object as for 6, on the lean read path and on the model path. An N+1 loop fails
these tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, update

from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.orm import AirlockRequest, utcnow


@pytest.fixture(params=["lean", "model"], autouse=True)
def read_path(request: pytest.FixtureRequest, live: LiveBackend) -> str:
    """Each test on the lean read path and on the model path (no read driver)."""
    if request.param == "model":
        live.backend.ctx.reads = None
    else:
        assert live.backend.ctx.reads is not None
    return str(request.param)


@contextmanager
def counting(live: LiveBackend) -> Iterator[list[str]]:
    statements: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = live.backend.ctx.engine.sync_engine
    reads = live.backend.ctx.reads
    event.listen(engine, "before_cursor_execute", hook)
    if reads is not None:
        reads.listeners.append(statements.append)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", hook)
        if reads is not None:
            reads.listeners.remove(statements.append)


async def queries_for(live: LiveBackend, client: Client, path: str) -> int:
    # A token's first use schedules its (throttled) last-used update: do that first and let
    # it finish, so only the statements of the request under test are counted.
    assert (await client.get("/api/v1/users/me")).status == 200
    await live.backend.authenticator.drain()
    with counting(live) as statements:
        reply = await client.get(path)
        assert reply.status == 200, reply.body
    # SQLite's explicit BEGINs are transaction control, not queries.
    return len([s for s in statements if not s.lstrip().upper().startswith("BEGIN")])


async def make_requests(live: LiveBackend, n: int, objects: int = 2) -> list[str]:
    alice = live.client("alice")
    ids = []
    for i in range(n):
        rid = (await alice.create_request(title=f"r{i}"))["id"]
        for j in range(objects):
            await alice.described_object(rid, f"a,b\n{i},{j}\n".encode(), f"t{j}.csv")
        ids.append(rid)
    return ids


async def to_human_review(live: LiveBackend, ids: list[str]) -> None:
    async with live.backend.ctx.sessions.begin() as s:
        await s.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id.in_(ids))
            .values(status="HUMAN_REVIEW", submitted_at=utcnow())
        )


async def test_request_list_and_queue_pages_cost_the_same_at_any_size(
    live: LiveBackend, read_path: str
) -> None:
    alice, carol = live.client("alice"), live.client("carol")
    first = await make_requests(live, 2)
    await to_human_review(live, first)
    small_list = await queries_for(live, alice, "/api/v1/requests?limit=50")
    small_queue = await queries_for(live, carol, "/api/v1/review-queue?limit=50")

    more = await make_requests(live, 10)
    await to_human_review(live, more)
    assert len((await alice.get("/api/v1/requests?limit=50")).json["items"]) == 12
    assert len((await carol.get("/api/v1/review-queue?limit=50")).json["items"]) == 12
    big_list = await queries_for(live, alice, "/api/v1/requests?limit=50")
    big_queue = await queries_for(live, carol, "/api/v1/review-queue?limit=50")

    assert big_list == small_list, "the request list runs queries per row (N+1)"
    assert big_queue == small_queue, "the review queue runs queries per row (N+1)"
    if read_path == "lean":
        # Authentication, and the page with its objects (authors, verdicts and the queue's
        # review counts are subqueries of it, the objects joined to it).
        assert (small_list, small_queue) == (2, 2)
    else:
        # Authentication (2) + page (1) + authors, objects, verdicts (3); the queue adds one
        # grouped count of reviews received.
        assert small_list <= 6 and small_queue <= 7, (small_list, small_queue)


async def test_request_detail_cost_does_not_grow_with_objects(
    live: LiveBackend, read_path: str
) -> None:
    alice = live.client("alice")
    (none,) = await make_requests(live, 1, objects=0)
    (one,) = await make_requests(live, 1, objects=1)
    (six,) = await make_requests(live, 1, objects=6)
    counts = {await queries_for(live, alice, f"/api/v1/requests/{rid}") for rid in (none, one, six)}
    assert len(counts) == 1, counts
    if read_path == "lean":
        # Authentication, then the request with its objects joined: two round trips.
        assert counts == {2}


async def test_review_queue_pages_follow_the_cursor_oldest_first(live: LiveBackend) -> None:
    carol = live.client("carol")
    ids = await make_requests(live, 5, objects=1)
    for rid in ids:  # one at a time, so submission times differ and order is known
        await to_human_review(live, [rid])
    seen: list[str] = []
    path = "/api/v1/review-queue?limit=2"
    pages = 0
    while True:
        page = (await carol.get(path)).json
        pages += 1
        assert len(page["items"]) <= 2
        seen += [item["request"]["id"] for item in page["items"]]
        if not page["next_cursor"]:
            break
        path = f"/api/v1/review-queue?limit=2&cursor={page['next_cursor']}"
    assert seen == ids and pages == 3
    first = (await carol.get("/api/v1/review-queue?limit=2")).json["items"][0]
    # The existing fields of a queue item are all still there.
    assert set(first) >= {
        "request",
        "recommendation",
        "verdicts",
        "reviews_received",
        "reviews_required",
    }
    bad = await carol.get("/api/v1/review-queue?cursor=nonsense")
    assert bad.status == 422
