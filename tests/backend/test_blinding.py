"""Checkers stay blinded to researchers on every surface a researcher can read (issue 10,
item 1): the request's audit log, live events, notifications and their emails, the request,
its reviews, previews, reports and the released RO-Crate.

Checked the way a curious researcher would: every byte alice receives is searched for the
checkers' usernames, display names, e-mail addresses and user ids, for the ids of the reviews
behind "checker 1" / "checker 2", and for the private comment and its statistics.
"""

from __future__ import annotations

import io
import json
import urllib.parse
import zipfile
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from tests.backend.review_support import PASSING, add_table, run_agent
from tests.backend.test_events import Stream
from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.demo import DEMO_WORLD
from trevor_backend.orm import AuditEvent, Notification, Review, User
from trevor_backend.services.notifications.channels import NotificationView, render_email
from trevor_backend.services.release_job import ReleaseJob

CHECKERS = ("carol", "dave")
PRIVATE = "private remark about the south cell"


async def secrets_of(live: LiveBackend, rid: str, *, review_ids: bool = True) -> list[str]:
    """Every string that would identify a checker or reveal private review detail (review ids
    too, except where the reviews API itself shows them beside their pseudonyms)."""
    found: list[str] = [PRIVATE, "content_sha256", '"comments"']
    for u in DEMO_WORLD["users"]:
        if u["username"] in CHECKERS:
            found += [u["username"], u["display_name"], u["email"]]
    async with live.backend.ctx.sessions() as s:
        found += list(await s.scalars(select(User.id).where(User.username.in_(CHECKERS))))
        if review_ids:
            found += list(
                await s.scalars(
                    select(Review.id).where(Review.request_id == rid, Review.kind == "human")
                )
            )
    return found


def assert_blind(surface: str, data: bytes | str, secrets: list[str]) -> None:
    text = data.decode() if isinstance(data, bytes) else data
    for secret in secrets:
        at = text.find(secret)
        assert at < 0, f"{surface} reveals {secret!r}: ...{text[max(0, at - 80) : at + 40]}..."


async def review(live: LiveBackend, rid: str, checker: str, comment_visibility: str) -> None:
    req = (await live.client(checker).get(f"/api/v1/requests/{rid}")).json
    body = {
        "decision": "approve",
        "summary": "fine",
        "objects": [
            {
                "object_id": o["id"],
                "decision": "approve",
                "comment": PRIVATE if comment_visibility == "private" else "public remark",
                "visibility": comment_visibility,
            }
            for o in req["objects"]
        ],
    }
    reply = await live.client(checker).post(f"/api/v1/requests/{rid}/reviews", body)
    assert reply.status in (200, 201), reply.body


async def reviewed_and_released(live: LiveBackend) -> tuple[str, str]:
    """A request alice wrote, read and reviewed by carol (public comment) and dave (private
    comment), approved and released: every kind of checker activity is in its audit log."""
    alice = live.client("alice")
    rid = (await alice.create_request(title="Admissions"))["id"]
    oid = (await add_table(alice, rid, PASSING))["id"]
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
    await run_agent(live)
    for checker in CHECKERS:
        c = live.client(checker)
        assert (await c.get(f"/api/v1/requests/{rid}/objects/{oid}/content")).status == 200
        assert (await c.get(f"/api/v1/requests/{rid}/objects/{oid}/preview")).status == 200
    await review(live, rid, "carol", "public")
    await review(live, rid, "dave", "private")
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["status"] == "APPROVED"
    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    assert (await alice.get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"
    return rid, oid


async def download_crate(live: LiveBackend, alice: Client, rid: str) -> dict[str, bytes]:
    url = (await alice.get(f"/api/v1/requests/{rid}/release")).json["url"]
    parts = urllib.parse.urlsplit(url)
    got = await Client(live.url, None).get(f"{parts.path}?{parts.query}")
    assert got.status == 200, got.body[:200]
    with zipfile.ZipFile(io.BytesIO(got.body)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


async def test_researcher_surfaces_show_checkers_only_by_pseudonym(live: LiveBackend) -> None:
    live.backend.ctx.settings = replace(live.backend.ctx.settings, events_poll_interval=0.05)
    rid, oid = await reviewed_and_released(live)
    secrets = await secrets_of(live, rid)
    alice = live.client("alice")

    # The reviews API is the reference for the pseudonyms.
    reviews = await alice.get(f"/api/v1/requests/{rid}/reviews")
    assert_blind("reviews", reviews.body, await secrets_of(live, rid, review_ids=False))
    assert [r["reviewer"] for r in reviews.json["items"]] == ["checker 1", "checker 2"]

    # 1. The request's audit log.
    audit = await alice.get(f"/api/v1/requests/{rid}/audit?limit=1000")
    assert audit.status == 200
    assert_blind("audit log", audit.body, secrets)
    by_type = {e["type"]: e for e in audit.json["items"]}
    submitted = [e for e in audit.json["items"] if e["type"] == "review.submitted"]
    assert [e["actor"] for e in submitted] == ["checker 1", "checker 2"]
    assert all(set(e["payload"]) <= {"revision", "objects", "reviewer_number"} for e in submitted)
    assert by_type["request.approved"]["actor"] == "checker 2"
    viewed = [e for e in audit.json["items"] if e["type"] == "object.viewed"]
    assert len(viewed) == 4 and {e["actor"] for e in viewed} == {"checker"}
    assert by_type["request.created"]["actor"] == "alice"
    # Checkers and admins still see who did what.
    for who in ("carol", "root"):
        full = (await live.client(who).get(f"/api/v1/requests/{rid}/audit?limit=1000")).json
        assert {"carol", "dave"} <= {e["actor"] for e in full["items"]}, who

    # 2. Live events, replayed from the start of the log.
    async with live.backend.ctx.sessions() as s:
        last = await s.scalar(
            select(AuditEvent.seq)
            .where(AuditEvent.request_id == rid)
            .order_by(AuditEvent.seq.desc())
        )
    stream = await Stream.open(live, "alice", last_id=0)
    events: list[dict[str, Any]] = []
    while not events or events[-1]["seq"] < last:
        events.append(await stream.event())
    stream.close()
    assert_blind("live events", json.dumps(events), secrets)
    assert [e["actor"] for e in events if e["type"] == "review.submitted"] == [
        "checker 1",
        "checker 2",
    ]

    # 3. Notifications, and the e-mails rendered from them.
    notes = await alice.get("/api/v1/notifications")
    assert notes.status == 200 and notes.json["items"]
    assert_blind("notifications", notes.body, secrets)
    async with live.backend.ctx.sessions() as s:
        rows = list(
            await s.scalars(select(Notification).join(User).where(User.username == "alice"))
        )
    assert rows
    for n in rows:
        view = NotificationView(
            id=n.id,
            event_type=n.event_type,
            created_at=n.created_at.isoformat(),
            payload=n.payload,
            username="alice",
            display_name="Alice Researcher",
            email="alice@example.org",
            request_id=n.request_id,
            project_id="p1",
            request_url=f"{live.url}/r/{rid}",
        )
        assert_blind(f"e-mail {n.event_type}", "\n".join(render_email(view)), secrets)

    # 4. The request, its reviews, report, lineage and preview.
    for path in (
        f"/api/v1/requests/{rid}",
        f"/api/v1/requests/{rid}/report",
        f"/api/v1/requests/{rid}/objects/{oid}",
        f"/api/v1/requests/{rid}/objects/{oid}/lineage",
        f"/api/v1/requests/{rid}/objects/{oid}/preview",
        "/api/v1/requests?limit=50",
    ):
        reply = await alice.get(path)
        assert reply.status == 200, (path, reply.body)
        assert_blind(path, reply.body, secrets)

    # 5. The released crate names checkers by the same pseudonyms.
    crate = await download_crate(live, alice, rid)
    for name, data in crate.items():
        if not name.startswith("data/"):
            assert_blind(f"crate {name}", data, secrets)
    meta = json.loads(crate["ro-crate-metadata.json"])
    people = {e["name"] for e in meta["@graph"] if e["@type"] == "Person"}
    assert people == {"Alice Researcher", "checker 1", "checker 2"}
    assert "checker 1" in crate["ro-crate-preview.html"].decode()


async def test_operator_may_name_checkers_in_the_crate(live: LiveBackend) -> None:
    live.backend.ctx.settings = replace(live.backend.ctx.settings, crate_names_checkers=True)
    rid, _ = await reviewed_and_released(live)
    crate = await download_crate(live, live.client("alice"), rid)
    meta = json.loads(crate["ro-crate-metadata.json"])
    people = {e["name"] for e in meta["@graph"] if e["@type"] == "Person"}
    assert people == {"Alice Researcher", "Carol Checker", "Dave Checker"}
    # Private comments stay out even then.
    assert PRIVATE not in crate["ro-crate-metadata.json"].decode()
