"""Hostile input (issue 10, items 2-4): every bad request gets a 4xx problem+json and changes
nothing — non-ASCII digits in signed links, deep JSON, out-of-range integers, oversized
bodies, unsupported methods, and file names that hide or disguise what they are."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.backend.test_bad_input import snapshot
from tests.fixtures.backend import LiveBackend, Reply

LIMIT = 64 * 1024


@pytest.fixture
def backend_traits() -> dict[str, Any]:
    return {"max_body_size": LIMIT}


def assert_problem(reply: Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.content_type.startswith("application/problem+json"), reply.content_type
    problem = reply.json
    assert problem["status"] == status and problem["title"] and problem["detail"]
    return problem


# Each is a value str.isdigit() or int() would accept in some way but that is no plain
# ASCII number: superscript three, Arabic-Indic digits, an underscore, a sign, a space,
# a full-width digit, and one that is simply too long.
BAD_EXPIRES = ["%C2%B3", "%D9%A1%D9%A2", "1_000", "+5", "%201", "%EF%BC%91", "9" * 13]


async def test_signed_links_refuse_non_ascii_digits(live: LiveBackend) -> None:
    anon = live.client(None)
    sig = "0" * 64
    for expires in BAD_EXPIRES:
        query = f"expires={expires}&signature={sig}"
        down = await anon.get(f"/releases/r1/download?{query}")
        assert_problem(down, 403)
        up = await anon.request("PUT", f"/uploads/o1?{query}", body=b"x")
        assert_problem(up, 403)
    # A signature that is not 64 hex digits (here: non-ASCII) is refused the same way.
    odd = await anon.get("/releases/r1/download?expires=99999999999&signature=%C3%A9")
    assert_problem(odd, 403)


async def test_deep_json_is_422_and_changes_nothing(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    oid = (await alice.described_object(rid))["id"]
    before = await snapshot(live)
    meta = f"/api/v1/requests/{rid}/objects/{oid}/metadata"

    # Deeper than Python's parser can recurse: today a RecursionError and a 500.
    abyss = b"[" * 20_000 + b"]" * 20_000
    assert_problem(await alice.request("PUT", meta, body=abyss), 422)
    # Parseable, but past the depth limit, inside a field that takes free-form JSON.
    deep: Any = 1
    for _ in range(200):
        deep = {"a": deep}
    evidence = f"/api/v1/requests/{rid}/objects/{oid}/evidence"
    assert_problem(await alice.post(evidence, {"evidence": deep}), 422)
    assert_problem(await alice.post("/api/v1/requests", {"project": "p1", "title": deep}), 422)

    assert await snapshot(live) == before


async def test_out_of_range_integers_in_queries_are_422(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    huge = str(10**30)
    for path in [
        f"/api/v1/requests/{rid}/audit?after={huge}",
        f"/api/v1/requests/{rid}/audit?limit={huge}",
        f"/api/v1/requests/{rid}/audit?after=-1",
        f"/api/v1/requests/{rid}/audit?after=%D9%A1",
        f"/api/v1/requests/{rid}/audit?after=1_0",
        f"/api/v1/requests/{rid}/report?revision={huge}",
        f"/api/v1/requests?limit={huge}",
        f"/api/v1/events?last_event_id={huge}",
    ]:
        problem = assert_problem(await alice.get(path), 422)
        assert problem["errors"], path
    # The largest value in range is fine.
    ok = await alice.get(f"/api/v1/requests/{rid}/audit?after={2**63 - 1}")
    assert ok.status == 200 and ok.json["items"] == []


async def test_oversized_json_bodies_are_413_and_change_nothing(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    oid = (await alice.described_object(rid))["id"]
    before = await snapshot(live)
    meta = f"/api/v1/requests/{rid}/objects/{oid}/metadata"
    big = json.dumps({"title": "x" * (LIMIT + 10)}).encode()

    # Declared length over the limit.
    assert_problem(await alice.request("PUT", meta, body=big), 413)

    # Chunked (no Content-Length): the limit is found while streaming.
    async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
        await write(b'{"title": "')
        for _ in range(8):
            await write(b"y" * (LIMIT // 4))
        await write(b'"}')

    assert_problem(await alice.request("PUT", meta, body_producer=produce), 413)
    assert await snapshot(live) == before

    # Under the limit still works on the same server.
    ok = await alice.put(meta, {"title": "fine"})
    assert ok.status == 200, ok.body


async def test_unsupported_method_is_405_with_allow(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    cases = {
        "/api/v1/requests": ("DELETE", {"GET", "POST"}),
        f"/api/v1/requests/{rid}": ("PATCH", {"GET"}),
        f"/api/v1/requests/{rid}/submit": ("GET", {"POST"}),
        "/health": ("PROPFIND", {"GET"}),
    }
    for path, (method, allowed) in cases.items():
        reply = await alice.request(method, path, body=b"" if method != "GET" else None)
        assert_problem(reply, 405)
        assert {m.strip() for m in reply.headers["Allow"].split(",")} == allowed, path


# Each class of name the issue lists, with a word its reason must contain.
BAD_NAMES: list[tuple[str, str]] = [
    ("invoice\u202etxt.exe", "bidirectional"),
    ("a\u2066b.csv", "bidirectional"),
    ("zero\u200bwidth.csv", "format"),
    ("\ufeffbom.csv", "format"),
    ("soft\u00adhyphen.csv", "format"),
    ("bell\x07.csv", "C0"),
    ("tab\t.csv", "C0"),
    ("next\x85line.csv", "C1"),
    ("nul\x00.csv", "NUL"),
    ("table.csv\x00", "NUL"),
    (" lead.csv", "whitespace"),
    ("trail.csv ", "whitespace"),
    ("trail.csv\u00a0", "whitespace"),
    (".hidden.csv", "dot"),
    ("trail.csv.", "dot"),
    ("..", "dot"),
    ("line\u2028sep.csv", "separator"),
    ("cafe\u0301.csv", "NFC"),
]


async def test_refused_file_names_say_why_and_change_nothing(live: LiveBackend) -> None:
    alice, root = live.client("alice"), live.client("root")
    rid = (await alice.create_request())["id"]
    ingress = await root.post(
        "/api/v1/requests", {"project": "p1", "title": "In", "direction": "ingress"}
    )
    assert ingress.status == 201, ingress.body
    before = await snapshot(live)
    for name, reason in BAD_NAMES:
        qs = urllib.parse.quote(name, safe="")
        reply = await alice.post(f"/api/v1/requests/{rid}/objects?filename={qs}", body=b"a,b\n")
        problem = assert_problem(reply, 422)
        [error] = [e for e in problem["errors"] if e["pointer"] == "/filename"]
        assert reason in error["detail"], (name, error)
        slot = await root.post(
            f"/api/v1/requests/{ingress.json['id']}/uploads",
            {"filename": name, "size": 4, "sha256": "0" * 64},
        )
        problem = assert_problem(slot, 422)
        assert any(reason in e["detail"] for e in problem["errors"]), (name, problem)
    assert await snapshot(live) == before
    # Names that are merely unusual are kept exactly as sent.
    for name in ("Tabelle Ü 1.csv", "表1.csv", "a..b.csv", "résumé (v2).md"):
        up = await alice.upload(rid, b"a,b\n", name)
        assert up.status == 201 and up.json["filename"] == name, up.body
