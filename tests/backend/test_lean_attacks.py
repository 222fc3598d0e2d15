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
from trevor_backend.orm import AirlockRequest, APIToken, Membership, Review, User, new_id


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
    # Forged cursors that were a 500 or another page before 9bb6697 (found here):
    _cursor("2099-01-01T00:00:00|x"),  # no UTC offset
    _cursor("0001-01-01T00:00:00+14:00|x"),  # before year 1 in UTC
    _cursor("9999-12-31T23:59:59-14:00|x"),  # after 9999 in UTC
    _cursor("2099-01-01T00:00:00+00:00|\x00"),  # NUL: PostgreSQL refuses it in text
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


# --- blinding -----------------------------------------------------------------------------


async def test_a_researcher_reads_no_checker_or_review_detail(live: LiveBackend) -> None:
    """build_world gives p1's requests human reviews by carol and dave and agent reports:
    nothing alice reads through the three lean GETs names them or carries a review's id."""
    await build_world(live)
    from trevor_backend.demo import DEMO_WORLD

    users = await _user_ids(live)
    secrets: list[str] = ['"reviews_received"', '"reviewer', '"comments"', '"private']
    for u in DEMO_WORLD["users"]:
        if u["username"] in ("carol", "dave"):
            secrets += [u["username"], u["display_name"], u["email"], users[u["username"]]]
    async with live.backend.ctx.sessions() as s:
        secrets += list(await s.scalars(select(Review.id)))
    alice = live.client("alice")
    listing = await alice.get("/api/v1/requests?limit=200")
    assert listing.status == 200 and listing.json["items"]
    bodies = [listing.body, (await alice.get("/api/v1/review-queue")).body]
    reviewed = 0
    for item in listing.json["items"]:
        one = await alice.get(f"/api/v1/requests/{item['id']}")
        assert one.status == 200
        bodies.append(one.body)
        reviewed += item["status"] == RequestStatus.HUMAN_REVIEW
    assert reviewed, "alice sees no reviewed request: nothing was checked"
    for body in bodies:
        text = body.decode()
        assert not [s for s in secrets if s in text], text[:200]


# --- JSON of edge values ------------------------------------------------------------------


async def test_edge_values_render_as_the_models_do(live: LiveBackend) -> None:
    """Timestamps at the ends of the calendar, with and without microseconds, empty and
    very long unicode text, control characters, big revisions: the same bytes on both
    paths, one request and every page of the list and the queue (cursors through them)."""
    users = await _user_ids(live)
    # datetime.min/max are -infinity/infinity on PostgreSQL (asyncpg's mapping): rendered
    # null by the lean path before 441ded3.
    stamps = [
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 999_999, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 100_000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_998, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    titles = [
        "",
        "🎲" * 500,
        "a\u2028b\u2029c\x01\x1f\x7f",
        "</script><!--",
        "e\u0301 \ufb01 \U0001d518",
    ]
    ids = []
    async with live.backend.ctx.sessions.begin() as s:
        for i, at in enumerate(stamps):
            r = AirlockRequest(
                id=new_id(),
                project_id="p1",
                direction=Direction.EGRESS,
                title=titles[i % len(titles)],
                description="" if i % 2 else "\\" * 10_000 + '"',
                status=RequestStatus.HUMAN_REVIEW,
                revision=2**31 - 1 if i == 0 else 1,
                created_by=users["alice"],
                created_at=at,
                updated_at=stamps[-1 - i],
                submitted_at=at,
            )
            s.add(r)
            ids.append(r.id)
    for user in ("alice", "carol", "root"):
        client = live.client(user)
        for rid in ids:
            lean = await client.get(f"/api/v1/requests/{rid}")
            async with model_path(live):
                model = await client.get(f"/api/v1/requests/{rid}")
            assert lean.status == 200 and lean.body == model.body, (
                lean.body[:300],
                model.body[:300],
            )
        listed = await pages(live, client, "/api/v1/requests?limit=1")
        assert set(ids) <= set(listed) and len(listed) == len(set(listed))
        for path in ("/api/v1/requests?limit=200", "/api/v1/review-queue?limit=200"):
            lean = await client.get(path)
            async with model_path(live):
                model = await client.get(path)
            assert lean.status == 200 and lean.body == model.body, path
    queued = await pages(live, live.client("carol"), "/api/v1/review-queue?limit=1")
    assert set(ids) <= set(queued) and len(queued) == len(set(queued))


# --- resources ----------------------------------------------------------------------------


async def _backends_on(database: str, condition: str = "TRUE") -> int:
    """Connections to ``database`` (other than this query's own) meeting ``condition``, as
    pg_stat_activity counts them."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL

    assert PG_URL
    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, database=url.database
    )
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
            f" AND pid <> pg_backend_pid() AND {condition}",
            database,
        )
        return count
    finally:
        await conn.close()


async def test_closing_the_backend_closes_its_read_connections(
    database_url: str, tmp_path: Path
) -> None:
    """Many concurrent lean reads open connections (the whole asyncpg pool, the SQLite read
    connection); after close none is left: counted by PostgreSQL itself."""
    import asyncio

    from sqlalchemy.engine import make_url

    from trevor_backend.reads import SqliteReads

    data = tmp_path / "data"
    data.mkdir()
    lb, server = await start_backend(database_url, data, read_pool_size=4)
    try:
        clients = [lb.client(u) for u in ("alice", "bob", "carol", "dave", "erin", "root")]
        replies = await asyncio.gather(
            *(
                c.get(path)
                for c in clients * 5
                for path in ("/api/v1/requests", "/api/v1/review-queue")
            )
        )
        assert {r.status for r in replies} == {200}
        reads = lb.backend.ctx.reads
        assert reads is not None
        if isinstance(reads, SqliteReads):
            conn = reads.connection()
        else:
            assert await _backends_on(make_url(database_url).database or "") > 0
    finally:
        server.stop()
        await server.close_all_connections()
        await lb.backend.close()
    if isinstance(reads, SqliteReads):
        import sqlite3

        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute("SELECT 1")  # closed
        # A read still running at shutdown gets no new connection (it would never be closed).
        with pytest.raises(RuntimeError, match="closed"):
            reads.connection()
    else:
        await _until_no_backends(make_url(database_url).database or "")


async def _until_no_backends(database: str) -> None:
    """A closed connection's server process ends a moment after the client's Terminate:
    wait for the legal state (none left) rather than sample once."""
    import asyncio

    left = -1
    for _ in range(200):
        left = await _backends_on(database)
        if left == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{left} connections to {database} left after close")


async def test_clients_that_hang_up_mid_read_leave_no_transaction_open(live: LiveBackend) -> None:
    """Clients send the three GETs and hang up at once (the handler's task is cancelled
    wherever it is); afterwards no read transaction is left open, and a following read
    sees a request committed after the hang-ups."""
    import asyncio

    from sqlalchemy.engine import make_url

    from trevor_backend.reads import SqliteReads

    await build_world(live)
    host, port = live.url.removeprefix("http://").split(":")
    token = live.tokens["root"]

    async def hang_up(path: str, wait: float) -> None:
        _, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        await writer.drain()
        if wait:
            await asyncio.sleep(wait)
        writer.transport.abort()  # a reset, not a polite close

    rid = (await live.client("root").get("/api/v1/requests?limit=1")).json["items"][0]["id"]
    paths = (
        "/api/v1/requests?limit=200",
        "/api/v1/review-queue?limit=200",
        f"/api/v1/requests/{rid}",
    )
    await asyncio.gather(
        *(hang_up(path, wait) for path in paths for wait in (0, 0.0005, 0.002, 0.01) * 5)
    )
    created = await live.client("alice").create_request(title="after the hang-ups")
    # Served in order on the one loop: by now every hung-up read has ended or been cancelled.
    for _ in range(3):
        listed = await live.client("root").get("/api/v1/requests?limit=1")
        assert listed.status == 200 and listed.json["items"][0]["id"] == created["id"]
        one = await live.client("alice").get(f"/api/v1/requests/{created['id']}")
        assert one.status == 200
    reads = live.backend.ctx.reads
    if isinstance(reads, SqliteReads):
        assert not reads.connection().in_transaction
    else:
        database = make_url(live.app.database_url).database
        assert await _backends_on(database or "", "state LIKE 'idle in transaction%'") == 0


async def test_pages_under_concurrent_inserts_and_transitions(live: LiveBackend) -> None:
    """Between pages, new requests arrive and listed ones change state: the pages that
    follow never repeat an item and never skip one that existed from the first page on
    (keyset on created_at, which no transition changes)."""
    await build_world(live)
    root = live.client("root")
    alice = live.client("alice")
    before = {r.id for r in await _facts(live)}
    seen: list[str] = []
    url = "/api/v1/requests?limit=3"
    page_no = transitions = 0
    while True:
        reply = await root.get(url)
        assert reply.status == 200
        seen += [item["id"] for item in reply.json["items"]]
        page_no += 1
        # A new request (newest of all: before the cursor) and a withdrawal of a listed one.
        await alice.create_request(title=f"arrived after page {page_no}")
        mine = [i for i in reply.json["items"] if "withdraw" in i["actions"]]
        if mine:
            withdrawn = await root.post(f"/api/v1/requests/{mine[0]['id']}/withdraw")
            assert withdrawn.status == 200, withdrawn.body
            transitions += 1
        if not reply.json["next_cursor"]:
            break
        url = f"/api/v1/requests?limit=3&cursor={reply.json['next_cursor']}"
    assert len(seen) == len(set(seen))
    assert before <= set(seen)
    assert transitions > 1


async def test_cursors_of_others_and_of_the_other_listing_widen_nothing(live: LiveBackend) -> None:
    """A cursor is a position, not a grant: root's cursors given to alice and dave, and the
    list's cursors given to the queue, return only what the caller may see, as the model
    path does."""
    await build_world(live)
    root = live.client("root")
    cursors: list[str] = []
    url = "/api/v1/requests?limit=4"
    while True:
        body = (await root.get(url)).json
        if not body["next_cursor"]:
            break
        cursors.append(body["next_cursor"])
        url = f"/api/v1/requests?limit=4&cursor={body['next_cursor']}"
    assert len(cursors) > 3
    for user in ("alice", "dave"):
        visible = await _ids_listed(live, user)
        _, queue = await _same_and_safe(live, user, "/api/v1/review-queue?limit=200")
        queued = {item["request"]["id"] for item in queue["items"]}  # type: ignore[index]
        for cursor in cursors:
            for extra in ("", "&project=p2", "&direction=ingress", "&status=DRAFT"):
                _, page = await _same_and_safe(
                    live, user, f"/api/v1/requests?limit=200&cursor={cursor}{extra}"
                )
                assert {i["id"] for i in page["items"]} <= visible  # type: ignore[index]
            _, page = await _same_and_safe(live, user, f"/api/v1/review-queue?cursor={cursor}")
            assert {i["request"]["id"] for i in page["items"]} <= queued  # type: ignore[index]


async def test_granting_and_revoking_admin_applies_to_the_next_read(
    live: LiveBackend, second: LiveBackend
) -> None:
    await build_world(live)
    everything = {r.id for r in await _facts(live)}
    users = await _user_ids(live)
    own = await _ids_listed(live, "bob")
    assert own < everything
    for admin, ids in ((True, everything), (False, own)):
        async with live.backend.ctx.sessions.begin() as s:
            await s.execute(update(User).where(User.id == users["bob"]).values(admin=admin))
        for lb in (live, second):
            assert await _ids_listed(lb, "bob") == ids, (admin, lb.url)
            hidden = next(iter(everything - own))
            status, _ = await _lean_get(lb, "bob", f"/api/v1/requests/{hidden}")
            assert status == (200 if admin else 404)


async def test_odd_credentials_and_flags_answer_as_the_model_path(live: LiveBackend) -> None:
    rid = (await live.client("alice").create_request(title="t"))["id"]
    alice = live.tokens["alice"]
    tokens = [
        "x" * 20_000,
        alice + " ",
        " " + alice,
        alice[:-1],
        alice.upper(),
        alice + "\u00ff",
        "trv_' OR '1'='1",
        "%s",
        "?1",
    ]
    paths = ("/api/v1/requests", "/api/v1/review-queue", f"/api/v1/requests/{rid}")
    for token in tokens:
        client = Client(live.url, token)
        for path in paths:
            lean = await client.get(path)
            async with model_path(live):
                model = await client.get(path)
            assert (lean.status, lean.json) == (model.status, model.json), (token[:20], path)
            # Surrounding spaces are stripped from the header; everything else is refused.
            assert lean.status == (200 if token.strip() == alice else 401), (token[:20], path)
    for flag in ("yes", "1", "true", "TRUE", "false", "0", "%00", "maybe", "t" * 1000):
        await _same_and_safe(live, "root", f"/api/v1/requests?stuck={flag}")


async def test_a_huge_older_than_is_422_on_both_paths(live: LiveBackend) -> None:
    """A duration past what a date can subtract (about 739,000 days) raised OverflowError, a 500
    on both paths; durations are bounded at a hundred years and refused beyond it."""
    for older in ("999999999w", "999999999d", "99999999d", "36501d"):
        status, _ = await _same_and_safe(live, "root", f"/api/v1/requests?older_than={older}")
        assert status == 422, older
    status, _ = await _same_and_safe(live, "root", "/api/v1/requests?older_than=36500d")
    assert status == 200


def test_the_lean_pool_connects_as_the_engine_does() -> None:
    """The lean pool took only host, port, user, password and database from the URL, so
    ``?ssl=require`` was dropped (asyncpg's default ``prefer`` falls back to plain text) and a
    ``host=`` socket directory was lost; it now reads the URL as SQLAlchemy's dialect does."""
    from trevor_backend.reads import make_reads
    from trevor_backend.reads.driver import PostgresReads

    reads = make_reads(
        "postgresql://trevor:pw@db.internal:5432/trevor"
        "?ssl=require&host=/run/pg&prepared_statement_cache_size=0"
    )
    assert isinstance(reads, PostgresReads)
    assert reads._connect == {
        "host": "/run/pg",
        "port": 5432,
        "user": "trevor",
        "password": "pw",
        "database": "trevor",
        "ssl": "require",
        # the lean statements read timestamps as text in this time zone and style
        "server_settings": {"timezone": "UTC", "datestyle": "ISO"},
    }
