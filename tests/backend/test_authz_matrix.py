"""Every endpoint by every kind of caller, with the status code each must get.

alice is the researcher of project p1 and the request's author; bob a researcher of p2;
carol a checker of p1; root the admin. Each cell acts on a fresh request, so a mutating
call in one cell cannot change the outcome of another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from tests.fixtures.backend import Client, LiveBackend

ROLES = (None, "alice", "bob", "carol", "root")
OBJ_BYTES = b"region,count\nnorth,12\n"


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {rid} and {oid} are filled in per cell
    expect: dict[str | None, int]
    body: Any = None
    raw: bytes | None = None
    submitted: bool = False  # act on a SUBMITTED request rather than a DRAFT


def expect(anon: int, alice: int, bob: int, carol: int, root: int) -> dict[str | None, int]:
    return dict(zip(ROLES, (anon, alice, bob, carol, root), strict=True))


EVIDENCE = {"evidence": {"sha256": hashlib.sha256(OBJ_BYTES).hexdigest(), "kind": "table"}}
REVIEW = {"decision": "approve", "summary": "", "objects": []}
SLOT = {"filename": "in.csv", "size": 2, "sha256": hashlib.sha256(b"x\n").hexdigest()}
ACK = {"sha256": hashlib.sha256(OBJ_BYTES).hexdigest()}
R = "/api/v1/requests/{rid}"
OBJ = R + "/objects/{oid}"

CASES = [
    Case("GET", "/health", expect(200, 200, 200, 200, 200)),
    Case("GET", "/ready", expect(200, 200, 200, 200, 200)),
    Case("GET", "/metrics", expect(200, 200, 200, 200, 200)),
    # Where to start: links, the OpenAPI document and the human API reference, for anyone.
    Case("GET", "/api/v1/", expect(200, 200, 200, 200, 200)),
    Case("GET", "/api/v1", expect(200, 200, 200, 200, 200)),
    Case("GET", "/api/v1/openapi.json", expect(200, 200, 200, 200, 200)),
    Case("GET", "/api/v1/docs", expect(200, 200, 200, 200, 200)),
    Case("GET", "/api/v1/docs/{asset}", expect(200, 200, 200, 200, 200)),
    Case("GET", "/api/v1/users/me", expect(401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/projects", expect(401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/statbarns", expect(401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/requests", expect(401, 200, 200, 200, 200)),
    Case(
        "POST", "/api/v1/requests", expect(401, 201, 422, 403, 403), {"project": "p1", "title": "t"}
    ),
    Case("GET", R, expect(401, 200, 404, 404, 200)),
    Case("GET", R, expect(401, 200, 404, 200, 200), submitted=True),
    Case("POST", R + "/submit", expect(401, 200, 404, 404, 403)),
    Case("POST", R + "/resubmit", expect(401, 409, 404, 404, 409)),
    Case("POST", R + "/withdraw", expect(401, 200, 404, 404, 200)),
    Case("POST", R + "/withdraw", expect(401, 200, 404, 403, 200), submitted=True),
    Case("GET", R + "/audit", expect(401, 200, 404, 404, 200)),
    Case("GET", R + "/audit", expect(401, 200, 404, 200, 200), submitted=True),
    Case("POST", R + "/objects?filename=new.csv", expect(401, 201, 404, 404, 403), raw=b"x\n"),
    Case(
        "POST",
        R + "/objects?filename=new.csv",
        expect(401, 409, 404, 403, 403),
        raw=b"x\n",
        submitted=True,
    ),
    Case("GET", OBJ, expect(401, 200, 404, 404, 200)),
    Case("GET", OBJ, expect(401, 200, 404, 200, 200), submitted=True),
    Case("DELETE", OBJ, expect(401, 200, 404, 404, 403)),
    Case("GET", OBJ + "/content", expect(401, 200, 404, 404, 200)),
    Case("GET", OBJ + "/content", expect(401, 200, 404, 200, 200), submitted=True),
    Case("GET", OBJ + "/preview", expect(401, 200, 404, 404, 200)),
    Case("GET", OBJ + "/preview", expect(401, 200, 404, 200, 200), submitted=True),
    # {nid} is a notification of alice, written for each cell.
    Case("GET", "/api/v1/notifications?unread=1", expect(401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/events?follow=0", expect(401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/notifications/unread-count", expect(401, 200, 200, 200, 200)),
    Case("PATCH", "/api/v1/notifications/{nid}", expect(401, 200, 404, 404, 404), {"read": True}),
    Case("GET", "/api/v1/tokens", expect(401, 200, 200, 200, 200)),
    Case("GET", "/api/v1/tokens?user=alice", expect(401, 200, 200, 200, 200)),
    Case("DELETE", "/api/v1/tokens/{tid}", expect(401, 200, 404, 404, 200)),
    Case("PUT", OBJ + "/metadata", expect(401, 200, 404, 404, 403), {"title": "x"}),
    Case("PUT", OBJ + "/metadata", expect(401, 409, 404, 403, 403), {"title": "x"}, submitted=True),
    Case("POST", OBJ + "/evidence", expect(401, 200, 404, 404, 403), EVIDENCE),
    # Release (tests/backend/test_release.py covers released requests): a draft has none.
    Case("GET", R + "/release", expect(401, 409, 404, 404, 409)),
    Case("GET", R + "/release", expect(401, 409, 404, 409, 409), submitted=True),
    Case("POST", R + "/release/refresh", expect(401, 409, 404, 404, 409)),
    Case("POST", R + "/release/retry", expect(401, 403, 404, 404, 409)),
    Case("POST", R + "/release/retry", expect(401, 403, 404, 403, 409), submitted=True),
    # Signed links need no account; without a valid signature everyone gets 403.
    Case("GET", "/releases/{rid}/download", expect(403, 403, 403, 403, 403)),
    # Ingress (tests/backend/test_ingress*.py cover ingress requests): on an egress request the
    # author is told to upload directly (409); nobody else may touch it.
    Case("POST", R + "/uploads", expect(401, 409, 404, 404, 403), SLOT),
    Case("POST", R + "/uploads/{oid}/finalize", expect(401, 409, 404, 404, 403)),
    Case("PUT", "/uploads/{oid}", expect(403, 403, 403, 403, 403), raw=b"x\n"),
    Case("GET", "/api/v1/deliveries", expect(401, 200, 200, 200, 200)),
    Case("POST", "/api/v1/deliveries/{oid}/ack", expect(401, 404, 404, 404, 404), ACK),
    # Review workflow (tests/backend/test_review_*.py cover requests in HUMAN_REVIEW).
    Case("GET", "/api/v1/review-queue", expect(401, 200, 200, 200, 200)),
    Case("GET", R + "/reviews", expect(401, 200, 404, 404, 200)),
    Case("GET", R + "/reviews", expect(401, 200, 404, 200, 200), submitted=True),
    Case("POST", R + "/reviews", expect(401, 403, 404, 404, 403), REVIEW),
    Case("POST", R + "/reviews", expect(401, 403, 404, 409, 403), REVIEW, submitted=True),
    Case("GET", R + "/report", expect(401, 200, 404, 404, 200)),
    Case("GET", R + "/report", expect(401, 200, 404, 200, 200), submitted=True),
    Case("GET", OBJ + "/lineage", expect(401, 200, 404, 404, 200)),
    Case("GET", OBJ + "/lineage", expect(401, 200, 404, 200, 200), submitted=True),
    Case("GET", OBJ + "/source", expect(401, 200, 404, 404, 200)),
    Case("GET", OBJ + "/source", expect(401, 200, 404, 200, 200), submitted=True),
    # Admin API (tests/backend/test_admin_api.py covers the behaviour); {pid} is p1, where
    # dave is an output checker.
    Case("GET", "/api/v1/projects/{pid}", expect(401, 200, 404, 200, 200)),
    Case(
        "PUT",
        "/api/v1/projects/{pid}/members/{username}",
        expect(401, 403, 403, 403, 200),
        {"role": "senior_checker"},
    ),
    Case("DELETE", "/api/v1/projects/{pid}/members/{username}", expect(401, 403, 403, 403, 204)),
    Case("GET", "/api/v1/audit", expect(401, 403, 403, 403, 200)),
    Case("GET", "/api/v1/audit?format=csv", expect(401, 403, 403, 403, 200)),
    Case("GET", "/api/v1/metrics/summary", expect(401, 403, 403, 403, 200)),
]


async def _fresh_request(alice: Client, submitted: bool) -> tuple[str, str]:
    rid = (await alice.create_request())["id"]
    obj = await alice.described_object(rid, OBJ_BYTES)
    if submitted:
        assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
    return rid, obj["id"]


async def _token_of_alice(live: LiveBackend) -> str:
    """A second token of alice's (her client keeps working when a case revokes this one)."""
    from sqlalchemy import select

    from trevor_backend.auth import create_token
    from trevor_backend.orm import APIToken, User

    async with live.backend.ctx.sessions.begin() as session:
        user = await session.scalar(select(User).where(User.username == "alice"))
        assert user is not None
        secret = await create_token(session, user, note="matrix")
        token = await session.scalar(select(APIToken).where(APIToken.prefix == secret[:8]))
        assert token is not None
        return token.id


async def _notification_of_alice(live: LiveBackend) -> str:
    from sqlalchemy import select

    from trevor_backend.orm import Notification, User

    async with live.backend.ctx.sessions.begin() as session:
        uid = await session.scalar(select(User.id).where(User.username == "alice"))
        note = Notification(user_id=uid, event_type="approved", payload={})
        session.add(note)
        await session.flush()
        return note.id


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[f"{c.method} {c.path}{' (submitted)' if c.submitted else ''}" for c in CASES],
)
async def test_authorisation_matrix(live: LiveBackend, case: Case) -> None:
    alice = live.client("alice")
    got: dict[str | None, int] = {}
    for role in ROLES:
        rid, oid = await _fresh_request(alice, case.submitted)
        nid = await _notification_of_alice(live) if "{nid}" in case.path else ""
        tid = await _token_of_alice(live) if "{tid}" in case.path else ""
        path = case.path.format(
            pid="p1", username="dave", rid=rid, oid=oid, nid=nid, tid=tid, asset="init.js"
        )
        client = live.client(role)
        if case.raw is not None:
            reply = await client.request(case.method, path, body=case.raw)
        else:
            reply = await client.request(case.method, path, case.body)
        got[role] = reply.status
        if reply.status >= 400:
            assert reply.content_type.startswith("application/problem+json"), (role, reply.body)
    assert got == case.expect


def test_matrix_covers_every_route() -> None:
    """A new route must be added to the matrix above."""
    from trevor_backend.web import api_routes

    covered = {
        c.path.split("?")[0]
        .replace("{rid}", "(?P<rid>[A-Za-z0-9_-]+)")
        .replace("{oid}", "(?P<oid>[A-Za-z0-9_-]+)")
        .replace("{nid}", "(?P<nid>[A-Za-z0-9_-]+)")
        .replace("{tid}", "(?P<token_id>[A-Za-z0-9_-]+)")
        .replace("{pid}", "(?P<pid>[A-Za-z0-9_-]+)")
        .replace("{username}", "(?P<username>[^/]+)")
        .replace("{asset}", "(?P<asset>[A-Za-z0-9._-]+)")
        for c in CASES
    }
    missing = [pattern for pattern, _ in api_routes() if pattern not in covered]
    assert missing == []
