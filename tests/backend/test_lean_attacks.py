"""Adversarial checks of the lean read path (issue 10): what an attacker or a careless client
can send to ``GET /api/v1/requests/{rid}``, ``GET /api/v1/requests`` and
``GET /api/v1/review-queue``, and who sees what when memberships, roles and tokens change
under it, on SQLite and PostgreSQL.

Each answer is checked against facts set up by the test (who is a member of what, which ids
exist), not only against the model path, and wherever the model path can answer it is asked
too: the lean path must give the same status and body.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import delete, select, update

from tests.backend.test_lean_reads import build_world, model_path, pages
from tests.fixtures.backend import Client, LiveBackend, start_backend
from trevor_backend.contract import Direction, RequestStatus, Role
from trevor_backend.orm import AirlockRequest, APIToken, Membership, User, new_id


def _cursor(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.urlsafe_b64encode(raw).decode()


async def _user_ids(live: LiveBackend) -> dict[str, str]:
    async with live.backend.ctx.sessions() as s:
        return {u.username: u.id for u in (await s.scalars(select(User))).all()}


@pytest.fixture
async def second(live: LiveBackend, tmp_path: Path) -> AsyncIterator[LiveBackend]:
    """Another backend process's worth of state on the same database (a second replica)."""
    data = tmp_path / "second"
    data.mkdir()
    lb, server = await start_backend(live.app.database_url, data)
    async with AsyncExitStack() as stack:
        # Run last-in first: stop listening, drop connections, close the backend.
        stack.push_async_callback(lb.backend.close)
        stack.push_async_callback(server.close_all_connections)
        stack.callback(server.stop)
        yield lb


# --- input ------------------------------------------------------------------------------

HOSTILE_TEXT = (
    "p1' OR '1'='1",
    "p1'--",
    'p1"; DROP TABLE requests; --',
    # Tornado's get_query_argument turns NUL into a space and strips: "x" on both paths.
    "x\x00",
    "%",
    "_",
    "表 ✓ \u202e",
    "'" * 2000,
    "?1",
    "$1",
    "p1) OR (1=1",
)
HOSTILE_CURSORS = (
    "nonsense",
    "%%%",
    "=",
    # As long as fits Tornado's 64 KiB header limit (longer: the connection is refused).
    "a" * 40_000,
    _cursor("2099-01-01T00:00:00+00:00|x' OR '1'='1"),
    _cursor("2099-01-01T00:00:00+00:00|x') OR 1=1 --"),
    _cursor("2099-01-01T00:00:00+00:00|表"),
    _cursor("2099-01-01T00:00:00+00:00"),
    _cursor("|"),
    _cursor(b"\xff\xfe|x"),
    _cursor("9999-12-31T23:59:59.999999+00:00|zzzz"),
    _cursor("0001-01-01T00:00:00+00:00|"),
    _cursor("2026-03-01T12:00:00+05:30|x"),
    _cursor("2099-01-01T00:00:00+00:00|" + "z" * 20_000),
)


async def _same_and_safe(live: LiveBackend, user: str, path: str) -> tuple[int, object]:
    """``path`` answers the same on both paths and never 5xx; a 4xx is problem+json."""
    client = live.client(user)
    lean = await client.get(path)
    async with model_path(live):
        model = await client.get(path)
    assert lean.status < 500, (path, lean.status, lean.body[:300])
    assert (lean.status, lean.json) == (model.status, model.json), (path, lean.body[:300])
    if lean.status >= 400:
        assert lean.content_type.startswith("application/problem+json"), path
    return lean.status, lean.json


async def test_hostile_filters_are_values_not_sql(live: LiveBackend) -> None:
    ids = set(await build_world(live))
    for text in HOSTILE_TEXT:
        q = quote(text, safe="")
        for path in (
            f"/api/v1/requests?project={q}",
            f"/api/v1/requests?status={q}",
            f"/api/v1/requests?direction={q}",
            f"/api/v1/requests/{q}",
        ):
            for user in ("alice", "root"):
                status, body = await _same_and_safe(live, user, path)
                if "project=" in path:
                    # Nothing is in a project with such a name: no clause was rewritten.
                    assert status == 200 and body == {"items": [], "next_cursor": None}, path
                else:
                    assert status in (404, 422), (path, status)
    # The filters still filter: an admin's p1 listing is p1's requests only.
    listed = await pages(live, live.client("root"), "/api/v1/requests?project=p1&limit=200")
    async with live.backend.ctx.sessions() as s:
        p1 = set(
            await s.scalars(select(AirlockRequest.id).where(AirlockRequest.project_id == "p1"))
        )
    assert set(listed) == p1 and p1 < ids


async def test_hostile_cursors_limits_and_durations(live: LiveBackend) -> None:
    await build_world(live)
    for cursor in HOSTILE_CURSORS:
        for base in ("/api/v1/requests", "/api/v1/review-queue"):
            for user in ("alice", "carol", "root"):
                await _same_and_safe(live, user, f"{base}?cursor={quote(cursor, safe='')}")
    for limit in ("-1", "0", "201", "1e3", "%205", "%D9%A3", str(2**64), "", "1.0", "0x10"):
        for base in ("/api/v1/requests", "/api/v1/review-queue"):
            await _same_and_safe(live, "carol", f"{base}?limit={limit}")
    for older in ("99999w", "0", "-1", "1.5h", "1e9", "9" * 10, "12x", "%00", "3d%00"):
        await _same_and_safe(live, "root", f"/api/v1/requests?older_than={quote(older)}")


# --- who sees what ------------------------------------------------------------------------


async def _lean_get(live: LiveBackend, client_user: str, path: str) -> tuple[int, object]:
    assert live.backend.ctx.reads is not None
    reply = await live.client(client_user).get(path)
    return reply.status, reply.json


async def _ids_listed(live: LiveBackend, user: str, query: str = "") -> set[str]:
    status, body = await _lean_get(live, user, f"/api/v1/requests?limit=200{query}")
    assert status == 200, body
    assert isinstance(body, dict) and body["next_cursor"] is None
    return {item["id"] for item in body["items"]}


async def _facts(live: LiveBackend) -> list[AirlockRequest]:
    async with live.backend.ctx.sessions() as s:
        return list((await s.scalars(select(AirlockRequest))).all())


async def test_each_role_sees_exactly_its_rule(live: LiveBackend) -> None:
    """Written out from the rules in docs (not from access.py): researchers their projects'
    requests except ingress before approval; checkers their projects' non-drafts, senior
    checkers also ingress drafts; admins all; nobody else anything."""
    await build_world(live)
    rows = await _facts(live)
    later = (RequestStatus.APPROVED, RequestStatus.RELEASED)
    expected = {
        "alice": {
            r.id
            for r in rows
            if r.project_id == "p1" and (r.direction == Direction.EGRESS or r.status in later)
        },
        "bob": {
            r.id
            for r in rows
            if r.project_id == "p2" and (r.direction == Direction.EGRESS or r.status in later)
        },
        "carol": {r.id for r in rows if r.status != RequestStatus.DRAFT},
        "dave": {r.id for r in rows if r.project_id == "p1" and r.status != RequestStatus.DRAFT},
        "erin": {
            r.id
            for r in rows
            if r.status != RequestStatus.DRAFT or r.direction == Direction.INGRESS
        },
        "root": {r.id for r in rows},
    }
    for user, ids in expected.items():
        assert await _ids_listed(live, user) == ids, user
        for r in rows:
            status, _ = await _lean_get(live, user, f"/api/v1/requests/{r.id}")
            assert status == (200 if r.id in ids else 404), (user, r.status, r.direction)
        queue = await _lean_get(live, user, "/api/v1/review-queue?limit=200")
        queued = {item["request"]["id"] for item in queue[1]["items"]}  # type: ignore[index]
        assert all(r.status == RequestStatus.HUMAN_REVIEW for r in rows if r.id in queued), user
        assert queued <= ids, user
        if user in ("alice", "bob", "root"):
            assert queued == set(), user


async def test_a_removed_member_sees_nothing_at_once_on_every_process(
    live: LiveBackend, second: LiveBackend
) -> None:
    rid = (await live.client("alice").create_request(title="mine"))["id"]
    users = await _user_ids(live)
    for lb in (live, second):
        assert (await _lean_get(lb, "alice", f"/api/v1/requests/{rid}"))[0] == 200
        assert rid in await _ids_listed(lb, "alice")
    # Warm both processes' connections (the SQLite read snapshot, the asyncpg pool) first,
    # then remove the membership through a third path: a plain ORM write.
    async with live.backend.ctx.sessions.begin() as s:
        await s.execute(
            delete(Membership).where(
                Membership.user_id == users["alice"], Membership.project_id == "p1"
            )
        )
    for lb in (live, second):
        assert (await _lean_get(lb, "alice", f"/api/v1/requests/{rid}"))[0] == 404
        assert await _ids_listed(lb, "alice") == set()
        assert await _ids_listed(lb, "alice", "&project=p1") == set()
        status, body = await _lean_get(lb, "alice", "/api/v1/review-queue")
        assert (status, body) == (200, {"items": [], "next_cursor": None})


async def test_a_role_change_applies_to_the_next_read(
    live: LiveBackend, second: LiveBackend
) -> None:
    """alice becomes an output checker of p1, then loses it: each next read, on either
    process, follows the role of that moment (no principal kept between requests)."""
    await build_world(live)
    rows = await _facts(live)
    users = await _user_ids(live)
    p1 = [r for r in rows if r.project_id == "p1"]
    as_researcher = {
        r.id
        for r in p1
        if r.direction == Direction.EGRESS
        or r.status in (RequestStatus.APPROVED, RequestStatus.RELEASED)
    }
    as_checker = {r.id for r in p1 if r.status != RequestStatus.DRAFT}
    waiting_for_alice = {
        r.id
        for r in p1
        if r.status == RequestStatus.HUMAN_REVIEW and r.created_by != users["alice"]
    }
    assert waiting_for_alice

    async def set_role(role: Role) -> None:
        async with live.backend.ctx.sessions.begin() as s:
            await s.execute(
                update(Membership)
                .where(Membership.user_id == users["alice"], Membership.project_id == "p1")
                .values(role=role)
            )

    for role, ids in (
        (Role.OUTPUT_CHECKER, as_checker),
        (Role.RESEARCHER, as_researcher),
        (Role.OUTPUT_CHECKER, as_checker),
    ):
        await set_role(role)
        for lb in (live, second):
            assert await _ids_listed(lb, "alice") == ids, (role, lb.url)
            _, queue = await _lean_get(lb, "alice", "/api/v1/review-queue?limit=200")
            queued = {item["request"]["id"] for item in queue["items"]}  # type: ignore[index]
            # Reviews by someone else (dave) do not take a request off alice's queue.
            assert queued == (waiting_for_alice if role == Role.OUTPUT_CHECKER else set())


async def test_revoked_and_expired_tokens_are_refused_at_once_on_every_process(
    live: LiveBackend, second: LiveBackend
) -> None:
    paths = ("/api/v1/requests", "/api/v1/review-queue", f"/api/v1/requests/{new_id()}")
    # Each process's tokens, sent to each process: the database decides, not a cache.
    callers = [
        Client(lb.url, issuer.tokens[user])
        for lb in (live, second)
        for issuer in (live, second)
        for user in ("carol", "bob")
    ]
    for client in callers:
        for path in paths:
            assert (await client.get(path)).status in (200, 404), (client.base_url, path)
    users = await _user_ids(live)
    async with live.backend.ctx.sessions.begin() as s:
        # carol's tokens expired a second ago; bob's are deleted (revoked).
        await s.execute(
            update(APIToken)
            .where(APIToken.user_id == users["carol"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.execute(delete(APIToken).where(APIToken.user_id == users["bob"]))
    for client in callers:
        for path in paths:
            reply = await client.get(path)
            assert reply.status == 401 and reply.json["status"] == 401, (client.base_url, path)
    # Others are unaffected.
    assert (await second.client("dave").get("/api/v1/requests")).status == 200
