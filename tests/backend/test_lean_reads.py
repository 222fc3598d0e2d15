"""The lean read path (``trevor_backend.reads``, ``services/lean.py``) answers exactly what the
model path (``requests_out`` and the pydantic models) answers: for every role, a varied world
of requests (each status, both directions, with and without metadata, superseded and
withdrawn objects, agent verdicts, 0..n objects, unicode titles, null submitted_at, equal
timestamps), every page and cursor, and the 401/404/422 problems, on SQLite and PostgreSQL.

Each request is sent twice to the same server, once with the backend's read driver and once
with it switched off (``ctx.reads = None``, the model path), and the answers are compared:
status, content type and JSON. The three forms of the visibility rule (``access.can_view``,
``visible_filter``, ``visible_sql``) are compared on every row too.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.contract import (
    Direction,
    ObjectState,
    RequestStatus,
    ReviewKind,
    Role,
)
from trevor_backend.orm import (
    AirlockRequest,
    ObjectMetadata,
    OutputObject,
    Review,
    User,
    new_id,
)
from trevor_backend.principal import Principal
from trevor_backend.reads import PostgresReads, SqliteReads, sql
from trevor_backend.reads.sql import Sql
from trevor_backend.services import access

ROLES = ("alice", "bob", "carol", "dave", "erin", "root")
#: base64 of "2099-01-01T00:00:00|x", "0001-01-01T00:00:00+14:00|x", "2099-…+00:00|\\x00"
FORGED_CURSORS = (
    "MjA5OS0wMS0wMVQwMDowMDowMHx4",
    "MDAwMS0wMS0wMVQwMDowMDowMCsxNDowMHx4",
    "MjA5OS0wMS0wMVQwMDowMDowMCswMDowMHwA",
)
BASE = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TITLES = ("Résultats — 表 ✓", "plain", 'quotes " and \\ back', "emoji 🎲 tab\t")


def _object(
    rid: str, author: str, n: int, at: datetime, state: ObjectState, **kw: Any
) -> OutputObject:
    return OutputObject(
        id=new_id(),
        request_id=rid,
        logical_id=kw.pop("logical_id", new_id()),
        version=kw.pop("version", 1),
        filename=f"table_{n}.csv",
        media_type="text/csv",
        size=100 + n,
        sha256=f"{n:064x}",
        storage_key=f"k/{n}",
        state=state,
        created_by=author,
        created_at=at,
        **kw,
    )


async def build_world(live: LiveBackend) -> list[str]:
    """Requests of every status and direction in both projects, with varied objects,
    metadata, agent reports and human reviews; returns their ids."""
    ids: list[str] = []
    async with live.backend.ctx.sessions.begin() as s:
        users = {u.username: u.id for u in (await s.scalars(select(User))).all()}
        combos = itertools.product(RequestStatus, Direction, ("p1", "p2"))
        for i, (status, direction, project) in enumerate(combos):
            author = users[
                ("alice" if project == "p1" else "bob") if direction == Direction.EGRESS else "erin"
            ]
            # Equal creation and submission times in pairs, so keyset ties break on the id;
            # some times with microseconds, some without.
            at = BASE + timedelta(minutes=i // 2, microseconds=(i % 3) * 250_001)
            r = AirlockRequest(
                id=new_id(),
                project_id=project,
                direction=direction,
                title=TITLES[i % len(TITLES)],
                description="" if i % 2 else f"line one\nline two ünïcode {i}",
                status=status,
                revision=1 + i % 2,
                created_by=author,
                created_at=at,
                updated_at=at + timedelta(days=i % 3),
                submitted_at=None if status == RequestStatus.DRAFT else at + timedelta(hours=1),
            )
            s.add(r)
            await s.flush()
            ids.append(r.id)
            objects: list[OutputObject] = []
            for n in range(i % 4):  # 0..3 current objects
                o = _object(r.id, author, n, at + timedelta(seconds=n % 2), ObjectState.PENDING)
                if n == 1:
                    o.evidence = {"sha256": o.sha256, "checks": []}
                if n == 2:
                    o.evidence = None  # stored as JSON null: no evidence
                objects.append(o)
                if (i + n) % 2 == 0:
                    s.add(
                        ObjectMetadata(
                            logical_id=o.logical_id,
                            request_id=r.id,
                            title=f"Tábla {n}",
                            description="d",
                            statbarn="Frequencies" if n else None,
                            justification="j",
                            suppression_notes="",
                            tags=["ß", "tag"] if n else [],
                        )
                    )
            if objects and i % 3 == 0:
                # A superseded first version and a withdrawn object: neither is current.
                old = objects[0]
                s.add(
                    _object(
                        r.id,
                        author,
                        9,
                        at,
                        ObjectState.SUPERSEDED,
                        logical_id=old.logical_id,
                        version=0,
                    )
                )
                s.add(_object(r.id, author, 8, at, ObjectState.WITHDRAWN))
            s.add_all(objects)
            await s.flush()
            if objects and i % 2 == 0:
                verdicts = ("pass", "fail", "review")
                for revision in (1, 2):  # the later report is the one that counts
                    report = {
                        "objects": {
                            o.id: {"status": verdicts[(n + revision) % 3]}
                            for n, o in enumerate(objects)
                        }
                    }
                    s.add(
                        Review(
                            request_id=r.id,
                            revision=revision,
                            kind=ReviewKind.AGENT,
                            agent_key=new_id(),
                            report=report if i % 4 else None,
                            created_at=at,
                        )
                    )
            if status == RequestStatus.HUMAN_REVIEW:
                # dave reviewed the current revision (it leaves his queue), carol an earlier one.
                s.add(
                    Review(
                        request_id=r.id,
                        revision=r.revision,
                        reviewer_id=users["dave"],
                        kind=ReviewKind.HUMAN,
                        decision="approve",
                        created_at=at,
                    )
                )
                if r.revision > 1:
                    s.add(
                        Review(
                            request_id=r.id,
                            revision=1,
                            reviewer_id=users["carol"],
                            kind=ReviewKind.HUMAN,
                            decision="approve",
                            created_at=at,
                        )
                    )
    return ids


@asynccontextmanager
async def model_path(live: LiveBackend) -> AsyncIterator[None]:
    """The backend without its read driver: every read through the ORM and the models."""
    ctx = live.backend.ctx
    reads, ctx.reads = ctx.reads, None
    try:
        yield
    finally:
        ctx.reads = reads


async def both(live: LiveBackend, client: Client, path: str) -> tuple[int, Any]:
    """``path`` through the lean path and the model path: the same status, content type and
    JSON; returns them."""
    lean = await client.get(path)
    async with model_path(live):
        model = await client.get(path)
    assert lean.status == model.status, (path, lean.body, model.body)
    assert lean.content_type == model.content_type, path
    assert lean.json == model.json, (path, lean.json, model.json)
    return lean.status, lean.json


async def pages(live: LiveBackend, client: Client, path: str) -> list[str]:
    """Every page of a listing, comparing both paths at each cursor; the ids seen."""
    seen: list[str] = []
    sep = "&" if "?" in path else "?"
    url = path
    while True:
        status, body = await both(live, client, url)
        assert status == 200, body
        seen += [item.get("id") or item["request"]["id"] for item in body["items"]]
        if not body["next_cursor"]:
            return seen
        url = f"{path}{sep}cursor={body['next_cursor']}"


async def test_the_lean_path_is_in_use(live: LiveBackend) -> None:
    """Guards the comparison below: on a file database the driver is there, so the two
    answers do come from two paths."""
    assert live.backend.ctx.reads is not None
    assert live.backend.ctx.reads.dialect == live.backend.ctx.dialect


async def test_lean_json_equals_the_models_for_every_role(live: LiveBackend) -> None:
    ids = await build_world(live)
    missing = new_id()
    for user in ROLES:
        client = live.client(user)
        visible = 0
        for rid in [*ids, missing]:
            status, _ = await both(live, client, f"/api/v1/requests/{rid}")
            assert status in (200, 404)
            visible += status == 200
        assert visible > 0 or user == "dave", user
        listed = await pages(live, client, "/api/v1/requests?limit=7")
        assert len(listed) == visible and len(set(listed)) == visible, user
        for query in (
            "status=HUMAN_REVIEW",
            "direction=ingress&limit=3",
            "project=p2&limit=4",
            "stuck=true&limit=5",
            "older_than=1d&limit=5",
            "status=DRAFT&direction=egress",
        ):
            await pages(live, client, f"/api/v1/requests?{query}")
        await pages(live, client, "/api/v1/review-queue?limit=2")
        await pages(live, client, "/api/v1/review-queue")
        assert (await both(live, client, "/api/v1/requests?cursor=nonsense"))[0] == 422
        # Well-formed cursors that are not ours: a time without its UTC offset, one that
        # leaves datetime's range in UTC, an id with NUL (each a 500 on the model path).
        for forged in FORGED_CURSORS:
            assert (await both(live, client, f"/api/v1/requests?cursor={forged}"))[0] == 422
        # A caller who checks no project has an empty queue, whatever the cursor.
        bad_queue = (await both(live, client, "/api/v1/review-queue?cursor=bm9wZQ"))[0]
        assert bad_queue == (422 if user in ("carol", "dave", "erin") else 200)


async def test_lean_queue_counts_and_verdicts_match(live: LiveBackend) -> None:
    """The queue's own fields (reviews received at the current revision, recommendation,
    verdict counts) are not all exercised by a page of ids alone: spelt out here."""
    await build_world(live)
    _, body = await both(live, live.client("carol"), "/api/v1/review-queue?limit=200")
    assert body["items"], "carol's queue is empty: the world has nothing to compare"
    assert {item["reviews_received"] for item in body["items"]} == {1}
    assert any(item["recommendation"] for item in body["items"])
    assert any(item["verdicts"] != {"pass": 0, "review": 0, "fail": 0} for item in body["items"])
    # dave reviewed every current revision: nothing waits for him.
    _, body = await both(live, live.client("dave"), "/api/v1/review-queue")
    assert body == {"items": [], "next_cursor": None}


async def test_unauthenticated_problems_match(live: LiveBackend) -> None:
    (rid,) = (await build_world(live))[:1]
    for client in (live.client(None), Client(live.url, "trv_not-a-token")):
        for path in (f"/api/v1/requests/{rid}", "/api/v1/requests", "/api/v1/review-queue"):
            status, body = await both(live, client, path)
            assert status == 401 and body["status"] == 401


async def test_revoked_token_is_refused_at_once_on_the_lean_path(live: LiveBackend) -> None:
    bob = live.client("bob")
    assert (await bob.get("/api/v1/requests")).status == 200
    (token,) = (await bob.get("/api/v1/tokens")).json["items"]
    assert (await bob.delete(f"/api/v1/tokens/{token['id']}")).status == 200
    assert live.backend.ctx.reads is not None
    assert (await bob.get("/api/v1/requests")).status == 401


PRINCIPALS = [
    Principal(user_id="u0", name="nobody"),
    Principal(user_id="u1", name="admin", admin=True),
    Principal(user_id="u2", name="r", roles={"p1": Role.RESEARCHER}),
    Principal(user_id="u3", name="c", roles={"p1": Role.OUTPUT_CHECKER}),
    Principal(user_id="u4", name="s", roles={"p1": Role.SENIOR_CHECKER}),
    Principal(user_id="u5", name="mixed", roles={"p1": Role.RESEARCHER, "p2": Role.SENIOR_CHECKER}),
    Principal(
        user_id="u6", name="two", roles={"p1": Role.OUTPUT_CHECKER, "p2": Role.OUTPUT_CHECKER}
    ),
    Principal(user_id=None, name="system"),
]


async def test_the_three_forms_of_visibility_agree(live: LiveBackend) -> None:
    await build_world(live)
    reads = live.backend.ctx.reads
    assert reads is not None
    async with live.backend.ctx.sessions() as s:
        rows = (await s.execute(select(AirlockRequest))).scalars().all()
        for p in PRINCIPALS:
            python = {r.id for r in rows if access.can_view(p, r)}
            orm = set(await s.scalars(select(AirlockRequest.id).where(access.visible_filter(p))))
            q = Sql(reads.dialect)
            text = f"SELECT r.id FROM requests r WHERE {access.visible_sql(p, q)}"
            async with reads.reading() as reader:
                lean = {row[0] for row in await reader.fetch(text, q.args)}
            assert python == orm == lean, p.name
    assert any(access.can_view(p, r) for p in PRINCIPALS[2:] for r in rows)


async def test_sqlite_reads_are_read_only_and_do_not_nest(live: LiveBackend) -> None:
    reads = live.backend.ctx.reads
    if not isinstance(reads, SqliteReads):
        return  # PostgreSQL's reader has no shared connection to protect
    async with reads.reading() as reader:
        assert await reader.fetch("SELECT count(*) FROM users", ()) != []
        try:
            async with reads.reading():
                raise AssertionError("a nested read was allowed")
        except RuntimeError:
            pass
    import sqlite3

    try:
        async with reads.reading() as reader:
            await reader.fetch("DELETE FROM users", ())
        raise AssertionError("the read connection wrote")
    except sqlite3.OperationalError as exc:
        assert "readonly" in str(exc).replace(" ", "").lower()


def test_json_encoding_matches_pydantic() -> None:
    """Timestamps and text as pydantic writes them (the comparison above parses JSON, so
    this pins the bytes: no \\u escapes, compact separators, Z-suffixed UTC)."""
    from trevor_backend.reads import render
    from trevor_backend.schemas import MetadataOut

    meta = MetadataOut(
        title="Tábla ✓ \u202e",
        description='"q"\n',
        statbarn=None,
        justification="",
        suppression_notes="",
        tags=["ß"],
    )
    assert render.dumps(meta.model_dump(mode="json")) == meta.model_dump_json().encode()
    from pydantic import TypeAdapter

    for value in (
        "2026-03-01 12:00:00.000000",
        "2026-03-01 12:00:00.250001",
        # PostgreSQL's text output in UTC: no fraction, or one without trailing zeros
        "2026-03-01 12:00:00+00",
        "2026-03-01 12:00:00.25+00",
        "2026-03-01 12:00:00.000001+00",
        "0987-06-05 04:03:02.0001+00",
    ):
        # SQLite's and PostgreSQL's text and an aware datetime all come out as pydantic's.
        parsed = render.stamp(value)
        expected = TypeAdapter(datetime).dump_json(parsed)
        assert render.dumps(render.iso(value)) == expected
        assert render.dumps(render.iso(parsed)) == expected


async def test_sqlite_one_request_reads_by_index_only(live: LiveBackend) -> None:
    """The one-request statement looks every table up by index: a join SQLite materialises
    (it did, for a parenthesised LEFT JOIN) scans every object of every request per read."""
    reads = live.backend.ctx.reads
    if not isinstance(reads, SqliteReads):
        return  # PostgreSQL plans by statistics; benchmarks/api.py measures it
    (rid,) = (await build_world(live))[:1]
    text = sql.one_request(True, "?1")
    async with reads.reading() as reader:
        plan = [str(row[-1]) for row in await reader.fetch("EXPLAIN QUERY PLAN " + text, (rid,))]
    assert not [step for step in plan if step.startswith(("SCAN", "MATERIALIZE"))], plan


async def test_an_authenticator_that_authenticates_its_own_way_keeps_it(live: LiveBackend) -> None:
    """OIDC and JupyterHub subclass the token authenticator and override ``authenticate``:
    on the lean path they must still be asked, not bypassed by the token statement."""
    from tornado.httputil import HTTPServerRequest

    from trevor_backend.auth import TokenAuthenticator

    asked: list[str] = []

    class OwnWay(TokenAuthenticator):
        async def authenticate(self, request: HTTPServerRequest, session: Any) -> Principal:
            asked.append(request.path)
            return Principal(user_id="someone", name="someone", roles={"p1": Role.RESEARCHER})

    own = OwnWay()
    own.sessions = live.backend.ctx.sessions
    live.backend.authenticator = own
    reply = await live.client(None).get("/api/v1/requests")  # no token at all
    assert reply.status == 200 and asked == ["/api/v1/requests"]


async def test_the_ends_of_the_calendar_render_alike(live: LiveBackend) -> None:
    """datetime.min and max (PostgreSQL stores them as -infinity and infinity through asyncpg)
    and the fractions PostgreSQL's text output shortens (none, trailing zeros, one
    microsecond, a year before 1000) come out as the models write them, in pages and
    cursors."""
    instants = [
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(987, 6, 5, 4, 3, 2, 100, tzinfo=UTC),
    ]
    async with live.backend.ctx.sessions.begin() as s:
        alice = await s.scalar(select(User.id).where(User.username == "alice"))
        assert alice is not None
        ids = []
        for at in instants:
            r = AirlockRequest(
                id=new_id(),
                project_id="p1",
                title="edge",
                created_by=alice,
                created_at=at,
                updated_at=at,
                submitted_at=at,
                status=RequestStatus.SUBMITTED,
            )
            s.add(r)
            ids.append(r.id)
    alice_client = live.client("alice")
    for rid in ids:
        status, body = await both(live, alice_client, f"/api/v1/requests/{rid}")
        assert status == 200 and body["created_at"] is not None
    assert set(ids) <= set(await pages(live, alice_client, "/api/v1/requests?limit=1"))


async def test_a_database_in_another_time_zone_and_date_style_reads_alike(
    live: LiveBackend,
) -> None:
    """The lean path reads PostgreSQL's text output of timestamps, which follows the
    session's time zone and date style: a database set to others (+05:30, ``SQL, DMY``) must
    still give the models' JSON, in pages, cursors and one request."""
    import asyncpg

    from trevor_backend.reads import make_reads

    if not isinstance(live.backend.ctx.reads, PostgresReads):
        return  # SQLite holds SQLAlchemy's own text, whatever the session
    ids = await build_world(live)
    conn = await asyncpg.connect(**live.backend.ctx.reads._connect)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Asia/Kolkata'")
        await conn.execute(f"ALTER DATABASE \"{name}\" SET datestyle TO 'SQL, DMY'")
    finally:
        await conn.close()
    # New connections take the database's settings; the old pool's may predate them.
    old = live.backend.ctx.reads
    live.backend.ctx.reads = make_reads(live.app.database_url)
    try:
        async with live.backend.ctx.reads.reading() as reader:
            (row,) = await reader.fetch("SELECT now()::text, current_setting('timezone')", ())
        assert row[0].endswith("+00") and row[1] == "UTC"
        conn = await asyncpg.connect(**old._connect | {"server_settings": {}})
        try:  # the database's own default did change
            assert await conn.fetchval("SELECT current_setting('timezone')") == "Asia/Kolkata"
        finally:
            await conn.close()
        for user in ("alice", "carol", "root"):
            client = live.client(user)
            await pages(live, client, "/api/v1/requests?limit=2")
            for rid in ids:
                await both(live, client, f"/api/v1/requests/{rid}")
        await pages(live, live.client("carol"), "/api/v1/review-queue?limit=1")
    finally:
        await live.backend.ctx.reads.close()
        live.backend.ctx.reads = old


def test_verdicts_keep_each_objects_status_and_survive_other_shapes() -> None:
    """Both paths read an agent report's verdicts with ``render.verdicts``: each object's
    non-empty status; a report of another shape than our agent's gives no verdicts instead of
    an error on every read of its request. Expected values written from that rule."""
    import orjson

    from trevor_backend.reads import render

    findings = [{"rule": "threshold", "cells": [[f"r{i}", "c"] for i in range(50)]}]
    cases: list[tuple[Any, dict[str, str]]] = [
        (
            {"objects": {"a": {"status": "pass", "findings": findings}, "b": {"status": "fail"}}},
            {"a": "pass", "b": "fail"},
        ),
        ({"objects": {"a": {"status": ""}, "b": {"findings": []}, "c": 3}}, {}),
        ({"objects": [{"status": "fail"}]}, {}),
        ({"objects": "pass"}, {}),
        ({"summary": "no objects member"}, {}),
        (["not", "a", "mapping"], {}),
        (None, {}),
    ]
    for report, expected in cases:
        assert render.verdicts(report) == expected, report  # the model path: parsed JSON
        text = orjson.dumps(report).decode()
        assert render.verdicts(text) == expected, text  # the lean path: the column's text


async def test_a_report_of_another_shape_is_no_500(live: LiveBackend) -> None:
    """An agent report whose ``objects`` is a list was a 500 on both paths, for the request,
    the list and the queue; now its request reads with no verdicts."""
    async with live.backend.ctx.sessions.begin() as s:
        alice = await s.scalar(select(User.id).where(User.username == "alice"))
        assert alice is not None
        r = AirlockRequest(
            id=new_id(),
            project_id="p1",
            title="odd report",
            created_by=alice,
            status=RequestStatus.HUMAN_REVIEW,
            submitted_at=datetime.now(UTC),
        )
        s.add(r)
        s.add(_object(r.id, alice, 1, datetime.now(UTC), ObjectState.PENDING))
        await s.flush()
        s.add(
            Review(
                request_id=r.id,
                revision=r.revision,
                kind=ReviewKind.AGENT,
                agent_key=new_id(),
                report={"objects": [{"status": "fail"}]},
            )
        )
    status, body = await both(live, live.client("alice"), f"/api/v1/requests/{r.id}")
    assert status == 200
    assert [o["verdict"] for o in body["objects"]] == [None]
    status, body = await both(live, live.client("alice"), "/api/v1/requests")
    assert status == 200 and r.id in [item["id"] for item in body["items"]]
    status, body = await both(live, live.client("carol"), "/api/v1/review-queue")
    assert status == 200
    (item,) = [i for i in body["items"] if i["request"]["id"] == r.id]
    assert item["recommendation"] is None
