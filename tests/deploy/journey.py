"""The operator's smoke journey over plain HTTP against any running backend: a researcher
creates a request and uploads a table, two checkers approve, the backend's own reconciler
reviews and releases it, and the crate downloads with the table's bytes inside."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
import zipfile
from dataclasses import dataclass
from typing import Any

from tests.fixtures.backend import Client

TABLE = b"region,admissions\nnorth,120\nsouth,310\n"


async def wait_status(client: Client, rid: str, wanted: str, limit: float = 180) -> dict[str, Any]:
    """Poll until the request reaches ``wanted``; fail on a state it can no longer leave."""
    deadline = time.monotonic() + limit
    seen = None
    while time.monotonic() < deadline:
        reply = await client.get(f"/api/v1/requests/{rid}")
        assert reply.status == 200, reply.body
        seen = reply.json["status"]
        if seen == wanted:
            return reply.json
        assert seen not in ("REJECTED", "WITHDRAWN", "CHANGES_REQUESTED"), seen
        await asyncio.sleep(0.3)
    raise AssertionError(f"request {rid} still {seen}, waited for {wanted}")


@dataclass
class Released:
    rid: str
    object_sha256: str
    crate: bytes


async def release_journey(clients: dict[str, Client], title: str) -> Released:
    alice = clients["alice"]
    req = await alice.create_request(title=title)
    rid = req["id"]
    up = await alice.upload(rid, TABLE, "admissions.csv")
    assert up.status == 201, up.body
    assert up.json["sha256"] == hashlib.sha256(TABLE).hexdigest()
    meta = await alice.put(
        f"/api/v1/requests/{rid}/objects/{up.json['id']}/metadata",
        {"title": "Admissions", "statbarn": "Frequencies", "justification": "for the paper"},
    )
    assert meta.status == 200, meta.body
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200

    # The agent review is the backend's reconciler's work: nothing here runs it.
    current = await wait_status(alice, rid, "HUMAN_REVIEW")
    for checker in ("carol", "dave"):
        body = {
            "decision": "approve",
            "summary": f"approved by {checker}",
            "objects": [{"object_id": o["id"], "decision": "approve"} for o in current["objects"]],
        }
        reply = await clients[checker].post(f"/api/v1/requests/{rid}/reviews", body)
        assert reply.status in (200, 201), reply.body
    await wait_status(alice, rid, "RELEASED")

    info = await alice.get(f"/api/v1/requests/{rid}/release")
    assert info.status == 200, info.body
    # The link (the backend's signed one, or S3's presigned one) is the credential: fetched
    # without a token, as a browser would.
    got = await Client("", None).get(info.json["url"])
    assert got.status == 200, got.body[:500]
    assert hashlib.sha256(got.body).hexdigest() == info.json["sha256"]
    with zipfile.ZipFile(io.BytesIO(got.body)) as crate:
        assert TABLE in [crate.read(n) for n in crate.namelist()], crate.namelist()
    return Released(rid, hashlib.sha256(TABLE).hexdigest(), got.body)
