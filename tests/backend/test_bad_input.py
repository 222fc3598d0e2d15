"""Bad input gets problem+json with field pointers and changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.fixtures.backend import Client, LiveBackend, Reply
from trevor_backend.orm import AuditEvent, ObjectMetadata, OutputObject


@pytest.fixture
def backend_traits() -> dict[str, Any]:
    return {"max_upload_size": 1024 * 1024}


async def snapshot(live: LiveBackend) -> tuple[Any, ...]:
    async with live.backend.ctx.sessions() as s:
        objects = await s.scalar(select(func.count()).select_from(OutputObject))
        events = await s.scalar(select(func.count()).select_from(AuditEvent))
        metas = [
            (m.title, m.statbarn, m.justification)
            for m in await s.scalars(select(ObjectMetadata).order_by(ObjectMetadata.logical_id))
        ]
    stored = sorted(
        p.relative_to(live.data_dir).as_posix()
        for p in (live.data_dir / "objects").rglob("*")
        if p.is_file() and ".tmp" not in p.parts
    )
    return objects, events, metas, stored


Scenario = Callable[[Client, str, str], Awaitable[Reply]]


async def unknown_statbarn(c: Client, rid: str, oid: str) -> Reply:
    return await c.put(f"/api/v1/requests/{rid}/objects/{oid}/metadata", {"statbarn": "Nope"})


async def empty_filename(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(f"/api/v1/requests/{rid}/objects?filename=", body=b"data")


async def path_filename(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(f"/api/v1/requests/{rid}/objects?filename=../x", body=b"data")


async def dotdot_filename(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(f"/api/v1/requests/{rid}/objects?filename=..", body=b"data")


async def oversize_declared(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(f"/api/v1/requests/{rid}/objects?filename=big.bin", body=b"x" * (2 << 20))


async def oversize_streamed(c: Client, rid: str, oid: str) -> Reply:
    # Chunked transfer: no Content-Length, so the limit is enforced while streaming.
    async def produce(write: Callable[[bytes], Awaitable[None]]) -> None:
        for _ in range(40):
            await write(b"y" * 65536)

    return await c.request(
        "POST", f"/api/v1/requests/{rid}/objects?filename=big.bin", body_producer=produce
    )


async def wrong_sha256(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(
        f"/api/v1/requests/{rid}/objects?filename=t.csv",
        body=b"a,b\n",
        headers={"X-Trevor-Sha256": hashlib.sha256(b"other").hexdigest()},
    )


async def malformed_sha256(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(
        f"/api/v1/requests/{rid}/objects?filename=t.csv",
        body=b"a,b\n",
        headers={"X-Trevor-Sha256": "not-hex"},
    )


async def malformed_json(c: Client, rid: str, oid: str) -> Reply:
    return await c.request(
        "PUT", f"/api/v1/requests/{rid}/objects/{oid}/metadata", body=b'{"title": "x",'
    )


async def json_not_object(c: Client, rid: str, oid: str) -> Reply:
    return await c.put(f"/api/v1/requests/{rid}/objects/{oid}/metadata", [1, 2])


async def unknown_field(c: Client, rid: str, oid: str) -> Reply:
    return await c.put(f"/api/v1/requests/{rid}/objects/{oid}/metadata", {"colour": "red"})


async def blank_title_request(c: Client, rid: str, oid: str) -> Reply:
    return await c.post("/api/v1/requests", {"project": "p1", "title": "   "})


async def bad_direction(c: Client, rid: str, oid: str) -> Reply:
    return await c.post("/api/v1/requests", {"project": "p1", "title": "t", "direction": "up"})


async def evidence_for_other_file(c: Client, rid: str, oid: str) -> Reply:
    return await c.post(
        f"/api/v1/requests/{rid}/objects/{oid}/evidence", {"evidence": {"sha256": "0" * 64}}
    )


CASES: list[tuple[Scenario, int, str | None]] = [
    (unknown_statbarn, 422, "/statbarn"),
    (empty_filename, 422, "/filename"),
    (path_filename, 422, "/filename"),
    (dotdot_filename, 422, "/filename"),
    (oversize_declared, 413, None),
    (oversize_streamed, 413, None),
    (wrong_sha256, 422, "/headers/X-Trevor-Sha256"),
    (malformed_sha256, 422, "/headers/X-Trevor-Sha256"),
    (malformed_json, 400, None),
    (json_not_object, 422, ""),
    (unknown_field, 422, "/colour"),
    (blank_title_request, 422, "/title"),
    (bad_direction, 422, "/direction"),
    (evidence_for_other_file, 422, "/evidence/sha256"),
]


@pytest.mark.parametrize(
    ("scenario", "status", "pointer"), CASES, ids=[c[0].__name__ for c in CASES]
)
async def test_bad_input_is_refused_and_changes_nothing(
    live: LiveBackend, scenario: Scenario, status: int, pointer: str | None
) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    oid = (await alice.described_object(rid))["id"]
    before = await snapshot(live)

    reply = await scenario(alice, rid, oid)

    assert reply.status == status, reply.body
    assert reply.content_type.startswith("application/problem+json")
    problem = reply.json
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if pointer is not None:
        assert pointer in [e["pointer"] for e in problem["errors"]]
    assert await snapshot(live) == before

    # The request still works normally afterwards.
    ok = await alice.upload(rid, b"fine\n", "after.csv")
    assert ok.status == 201
