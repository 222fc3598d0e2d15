"""Release of approved egress requests: the RO-Crate zip, signed download links, refusal of
tampered objects, expiry warnings and stuck-request alerts (docs/release.md).

The release job runs here exactly as the reconciler runs it (``ReleaseJob().run_once(ctx)``)
against the live backend's database and local object store.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from tests.backend.review_support import run_agent
from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.orm import (
    AirlockRequest,
    AuditEvent,
    Notification,
    OutputObject,
    ReleaseRecord,
    User,
    utcnow,
)
from trevor_backend.sdc import statbarns
from trevor_backend.services import signing
from trevor_backend.services.release_job import ReleaseJob
from trevor_backend.services.sla import ExpiryWarningJob, StuckRequestJob

TABLE = b"region,count\nnorth,12\nsouth,30\n"
FIGURE = bytes(range(256)) * 40


async def user_id(live: LiveBackend, username: str) -> str:
    async with live.backend.ctx.sessions() as session:
        uid = await session.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return uid


async def objects_of(session: Any, rid: str) -> list[OutputObject]:
    return list(
        await session.scalars(
            select(OutputObject)
            .where(OutputObject.request_id == rid)
            .order_by(OutputObject.created_at, OutputObject.id)
        )
    )


async def approve(live: LiveBackend, rid: str) -> None:
    """Take a SUBMITTED request through the real review flow to APPROVED: the agent review
    (the reconciler's job), then two checkers approve — carol with a public comment on every
    object, dave with a private one (which must never reach a release)."""
    await run_agent(live)
    req = (await live.client("alice").get(f"/api/v1/requests/{rid}")).json
    assert req["status"] == "HUMAN_REVIEW", req["status"]
    for checker, visibility in (("carol", "public"), ("dave", "private")):
        body = {
            "decision": "approve",
            "summary": f"approved by {checker}",
            "objects": [
                {
                    "object_id": o["id"],
                    "decision": "approve",
                    "comment": f"{visibility} note",
                    "visibility": visibility,
                }
                for o in req["objects"]
            ],
        }
        reply = await live.client(checker).post(f"/api/v1/requests/{rid}/reviews", body)
        assert reply.status in (200, 201), reply.body
    status = (await live.client("alice").get(f"/api/v1/requests/{rid}")).json["status"]
    assert status == "APPROVED", status


async def notifications(live: LiveBackend, username: str, rid: str) -> list[Notification]:
    uid = await user_id(live, username)
    async with live.backend.ctx.sessions() as session:
        return list(
            await session.scalars(
                select(Notification)
                .where(Notification.user_id == uid, Notification.request_id == rid)
                .order_by(Notification.created_at)
            )
        )


async def release_of(live: LiveBackend, rid: str) -> ReleaseRecord | None:
    async with live.backend.ctx.sessions() as session:
        return await session.scalar(select(ReleaseRecord).where(ReleaseRecord.request_id == rid))


async def approved_request(live: LiveBackend, title: str = "Admissions by region") -> str:
    alice = live.client("alice")
    rid = (await alice.create_request(title=title))["id"]
    await alice.described_object(rid, TABLE, "table 1.csv")
    up = await alice.upload(rid, FIGURE, "figure.png")
    assert up.status == 201, up.body
    meta = await alice.put(
        f"/api/v1/requests/{rid}/objects/{up.json['id']}/metadata",
        {
            "title": "Figure <b>1</b>",
            "description": "Histogram of <script>alert(1)</script> stays",
            "statbarn": "Shape",
            "justification": "for the paper",
            "suppression_notes": "bins under 10 merged",
        },
    )
    assert meta.status == 200, meta.body
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
    await approve(live, rid)
    return rid


async def audit_events(live: LiveBackend, rid: str, type_: str) -> list[AuditEvent]:
    async with live.backend.ctx.sessions() as session:
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.request_id == rid, AuditEvent.type == type_)
                .order_by(AuditEvent.seq)
            )
        )


async def download(url: str, live: LiveBackend) -> Any:
    """Fetch a signed link as an outsider would: no token."""
    path = url[len(live.app.public_url) :] if url.startswith(live.app.public_url) else url
    parts = urllib.parse.urlsplit(path)
    return await Client(live.url, None).get(f"{parts.path}?{parts.query}")


async def test_released_crate_is_a_valid_ro_crate(live: LiveBackend, tmp_path: Path) -> None:
    rid = await approved_request(live)
    assert await ReleaseJob().run_once(live.backend.ctx) == 1

    alice = live.client("alice")
    req = (await alice.get(f"/api/v1/requests/{rid}")).json
    assert req["status"] == "RELEASED"
    info = await alice.get(f"/api/v1/requests/{rid}/release")
    assert info.status == 200, info.body
    rel = info.json
    assert rel["url_kind"] == "signed" and rel["url"].startswith(live.app.public_url)

    got = await download(rel["url"], live)
    assert got.status == 200, got.body
    assert got.headers["Content-Type"] == "application/zip"
    assert hashlib.sha256(got.body).hexdigest() == rel["sha256"]
    assert len(got.body) == rel["size"]

    path = tmp_path / "release.zip"
    path.write_bytes(got.body)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every member's CRC holds
        names = set(zf.namelist())
        meta = json.loads(zf.read("ro-crate-metadata.json"))
        preview = zf.read("ro-crate-preview.html").decode()
        contents = {n: zf.read(n) for n in names}
    assert names == {
        "ro-crate-metadata.json",
        "ro-crate-preview.html",
        "data/table 1.csv",
        "data/figure.png",
    }

    # The reference library parses the crate (root, descriptor, data entities linked from
    # hasPart, files present in the zip) without errors.
    from rocrate.rocrate import ROCrate

    parsed = ROCrate(str(path))
    assert parsed.name == "Admissions by region"
    files = {e.id: e for e in parsed.data_entities}
    assert set(files) == {"data/table%201.csv", "data/figure.png"}

    graph = {e["@id"]: e for e in meta["@graph"]}
    assert graph["ro-crate-metadata.json"]["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.1"}
    root = graph["./"]
    assert root["@type"] == "Dataset" and root["identifier"] == rid
    for key in ("name", "description", "datePublished", "license"):
        assert root[key], key
    assert {p["@id"] for p in root["hasPart"]} == set(files)
    for entity_id in files:
        entity = graph[entity_id]
        data = contents[urllib.parse.unquote(entity_id)]
        assert entity["sha256"] == hashlib.sha256(data).hexdigest()
        assert entity["contentSize"] == str(len(data))
        assert entity["@type"] == "File" and entity["encodingFormat"]
    fig = graph["data/figure.png"]
    assert fig["statbarn"] == {"@id": statbarns.get("Shape").uri}
    assert fig["justification"] == "for the paper"
    assert fig["suppressionNotes"] == "bins under 10 merged"
    assert graph[fig["statbarn"]["@id"]]["@type"] == "DefinedTerm"
    people = [e for e in meta["@graph"] if e["@type"] == "Person"]
    assert any(p["name"] == "Alice Researcher" for p in people)
    # Checkers appear by the pseudonyms researchers know them by (crate_names_checkers off).
    assert {p["name"] for p in people} == {"Alice Researcher", "checker 1", "checker 2"}
    assessments = [e for e in meta["@graph"] if e["@type"] == "AssessAction"]
    assert len(assessments) == 3  # the agent and two checkers
    [agent] = [a for a in assessments if a["agent"] == {"@id": "#trevor"}]
    assert agent["decision"].startswith("recommends ")
    assert "verdict " in agent["result"] and "recommendation" in agent["description"]
    assert graph["#release"]["@type"] == "CreateAction"
    # Private checker comments never leave the TRE.
    assert "private note" not in json.dumps(meta) and "private note" not in preview
    assert "public note" in json.dumps(meta)

    # The preview is escaped HTML: user text cannot inject markup.
    assert "<script>alert(1)</script>" not in preview
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in preview

    # The download was counted and audited; the release itself too.
    again = (await alice.get(f"/api/v1/requests/{rid}/release")).json
    assert again["downloads"] == 1
    [created] = await audit_events(live, rid, "release.created")
    assert created.payload["crate_sha256"] == rel["sha256"]
    assert len(await audit_events(live, rid, "release.downloaded")) == 1
    assert "released" in [n.event_type for n in await notifications(live, "alice", rid)]


async def test_tampered_object_is_refused_and_not_retried(live: LiveBackend) -> None:
    rid = await approved_request(live)
    async with live.backend.ctx.sessions() as session:
        obj = (await objects_of(session, rid))[0]
        key, expected = obj.storage_key, obj.sha256
    # Someone with store access changes approved bytes after the checkers saw them.
    await live.backend.ctx.store.put_bytes(key, TABLE.replace(b"12", b"2"))

    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    root = live.client("root")
    req = (await root.get(f"/api/v1/requests/{rid}")).json
    assert req["status"] == "APPROVED"
    [failed] = await audit_events(live, rid, "release.failed")
    assert failed.payload["expected_sha256"] == expected
    assert failed.payload["actual_sha256"] != expected
    assert "does not match" in failed.payload["reason"]
    assert failed.payload["retry"] is False
    admin_notes = await notifications(live, "root", rid)
    assert [n.event_type for n in admin_notes] == ["release_failed"]
    assert "does not match" in admin_notes[0].payload["reason"]
    # Nothing was released: no record, no crate in the store, no link.
    assert await release_of(live, rid) is None
    assert [k async for k in live.backend.ctx.store.list_keys("releases/")] == []
    missing = await live.client("alice").get(f"/api/v1/requests/{rid}/release")
    assert missing.status == 409 and missing.json["current_state"] == "APPROVED"
    assert "does not match" in missing.json["last_error"]

    # Parked: further passes leave it alone (no loop, no notification storm).
    assert await ReleaseJob().run_once(live.backend.ctx) == 0
    assert len(await notifications(live, "root", rid)) == 1

    # Only an admin may put it back in the queue; once the bytes are restored it releases.
    assert (await live.client("alice").post(f"/api/v1/requests/{rid}/release/retry")).status == 403
    await live.backend.ctx.store.put_bytes(key, TABLE)
    retry = await root.post(f"/api/v1/requests/{rid}/release/retry")
    assert retry.status == 202, retry.body
    assert retry.json["attempts"] == 0
    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    assert (await root.get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"


async def test_release_waits_for_every_object_to_be_approved(live: LiveBackend) -> None:
    rid = await approved_request(live)
    async with live.backend.ctx.sessions.begin() as session:
        (await objects_of(session, rid))[1].state = "rejected"
    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    [failed] = await audit_events(live, rid, "release.failed")
    assert "not every object is approved" in failed.payload["reason"]
    assert await release_of(live, rid) is None
    assert (await live.client("root").get(f"/api/v1/requests/{rid}")).json["status"] == "APPROVED"


async def test_crashed_release_is_redone(live: LiveBackend) -> None:
    rid = await approved_request(live)
    # A worker claimed it, moved it to RELEASING and died: its lease has run out.
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id == rid)
            .values(
                status="RELEASING",
                lease_owner="dead-worker",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                attempts=1,
            )
        )
    # A half-written crate of the dead worker is in the store.
    await live.backend.ctx.store.put_bytes(f"releases/p1/{rid}/dead.zip", b"partial")
    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    assert (await live.client("alice").get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"
    record = await release_of(live, rid)
    assert record is not None
    assert [k async for k in live.backend.ctx.store.list_keys(f"releases/p1/{rid}/")] == [
        record.crate_key
    ]


async def test_expired_and_altered_links_are_refused_refresh_works(live: LiveBackend) -> None:
    rid = await approved_request(live)
    await ReleaseJob().run_once(live.backend.ctx)
    alice = live.client("alice")
    url = (await alice.get(f"/api/v1/requests/{rid}/release")).json["url"]
    assert (await download(url, live)).status == 200

    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    altered = [
        {
            **query,
            "signature": ("0" if query["signature"][0] != "0" else "1") + query["signature"][1:],
        },
        {**query, "expires": str(int(query["expires"]) + 3600)},
        {"expires": query["expires"]},
        {},
    ]
    for q in altered:
        got = await Client(live.url, None).get(f"{parts.path}?{urllib.parse.urlencode(q)}")
        assert got.status == 403, (q, got.body)
        assert got.content_type.startswith("application/problem+json")
    # The same signature on another request's path is refused too.
    other = await approved_request(live, "Other")
    got = await Client(live.url, None).get(f"/releases/{other}/download?{parts.query}")
    assert got.status == 403

    # A correctly signed link whose time has passed is refused.
    past = utcnow() - timedelta(seconds=5)
    secret = live.backend.ctx.settings.secret_key
    expired = signing.signed_url(
        live.url, f"/releases/{rid}/download", secret, signing.DOWNLOAD, rid, past
    )
    got = await Client(live.url, None).get(expired[len(live.url) :])
    assert got.status == 403 and "expired" in got.json["detail"]

    # Once the record's expiry has passed, GET gives no URL; refresh issues a working one.
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            update(ReleaseRecord).where(ReleaseRecord.request_id == rid).values(url_expires_at=past)
        )
    stale = (await alice.get(f"/api/v1/requests/{rid}/release")).json
    assert stale["url"] is None
    fresh = await alice.post(f"/api/v1/requests/{rid}/release/refresh")
    assert fresh.status == 200, fresh.body
    assert fresh.json["url"]
    assert fresh.json["expires_at"] > (utcnow() + timedelta(days=6)).isoformat()
    assert (await download(fresh.json["url"], live)).status == 200
    assert len(await audit_events(live, rid, "release.url_refreshed")) == 1
    # Who may refresh: the project's researchers and admins; a checker may look, not refresh.
    assert (await live.client("carol").get(f"/api/v1/requests/{rid}/release")).status == 200
    assert (
        await live.client("carol").post(f"/api/v1/requests/{rid}/release/refresh")
    ).status == 403
    assert (await live.client("bob").post(f"/api/v1/requests/{rid}/release/refresh")).status == 404
    assert (await live.client("root").post(f"/api/v1/requests/{rid}/release/refresh")).status == 200


async def test_expiry_warning_is_sent_once_per_link(live: LiveBackend) -> None:
    rid = await approved_request(live)
    await ReleaseJob().run_once(live.backend.ctx)
    job = ExpiryWarningJob()
    assert await job.run_once(live.backend.ctx) == 0  # 7 days left: not yet

    soon = utcnow() + timedelta(hours=2)
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            update(ReleaseRecord).where(ReleaseRecord.request_id == rid).values(url_expires_at=soon)
        )
    assert await job.run_once(live.backend.ctx) == 1
    assert await job.run_once(live.backend.ctx) == 0
    warned = [n for n in await notifications(live, "alice", rid) if n.event_type == "url_expiring"]
    assert len(warned) == 1
    # A refreshed link is warned about again when it, in turn, nears expiry.
    await live.client("alice").post(f"/api/v1/requests/{rid}/release/refresh")
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            update(ReleaseRecord).where(ReleaseRecord.request_id == rid).values(url_expires_at=soon)
        )
    assert await job.run_once(live.backend.ctx) == 1


async def test_stuck_requests_alert_admins_once_per_state(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    await alice.described_object(rid)
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
    job = StuckRequestJob()
    assert await job.run_once(live.backend.ctx) == 0  # just submitted

    async def age(days: int) -> None:
        async with live.backend.ctx.sessions.begin() as session:
            await session.execute(
                update(AirlockRequest)
                .where(AirlockRequest.id == rid)
                .values(updated_at=utcnow() - timedelta(days=days))
            )

    await age(4)
    assert await job.run_once(live.backend.ctx) == 1
    assert await job.run_once(live.backend.ctx) == 0
    notes = await notifications(live, "root", rid)
    assert [n.event_type for n in notes] == ["request_stuck"]
    assert notes[0].payload["status"] == "SUBMITTED"
    assert len(await audit_events(live, rid, "request.stuck")) == 1
    # Moving on (a transition) and getting stuck again alerts again; a draft never does.
    await age(-1)  # the request changed after the alert
    await age(5)
    async with live.backend.ctx.sessions.begin() as session:
        r = await session.get(AirlockRequest, rid)
        assert r is not None
        r.stuck_alerted_at = utcnow() - timedelta(days=6)
    assert await job.run_once(live.backend.ctx) == 1
    draft = (await alice.create_request())["id"]
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id == draft)
            .values(updated_at=utcnow() - timedelta(days=30))
        )
    assert await job.run_once(live.backend.ctx) == 0


async def test_the_reconciler_releases_approved_requests(live: LiveBackend) -> None:
    """The jobs as configured (``reconciler_jobs``) do the release in a normal pass."""
    from trevor_backend.jobs import Reconciler, build_jobs

    rid = await approved_request(live)
    jobs = build_jobs(live.app.reconciler_jobs, parent=live.app)
    names = {type(j).__name__ for j in jobs}
    assert {"ReleaseJob", "ExpiryWarningJob", "StuckRequestJob"} <= names
    await Reconciler(live.backend.ctx, jobs, app=live.app).run_until_idle()
    assert (await live.client("alice").get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"
    assert (await live.client("alice").get(f"/api/v1/requests/{rid}/release")).status == 200


async def test_store_failures_are_retried_with_backoff_then_parked(live: LiveBackend) -> None:
    rid = await approved_request(live)
    # A real store fault: the release area cannot be created (a file is in the way), so the
    # crate cannot be committed.
    blocker = Path(live.backend.ctx.store.root) / "releases"
    blocker.write_bytes(b"not a directory")
    job = ReleaseJob()
    assert await job.run_once(live.backend.ctx) == 1
    async with live.backend.ctx.sessions() as session:
        r = await session.get(AirlockRequest, rid)
        assert r is not None
        assert r.status == "APPROVED" and r.attempts == 1
        assert r.last_error and r.last_error.startswith("packaging failed")
        assert r.lease_owner is None and r.lease_expires_at > utcnow()  # backing off
    [failed] = await audit_events(live, rid, "release.failed")
    assert failed.payload["retry"] is True
    assert await notifications(live, "root", rid) == []  # a transient failure: no alarm yet
    assert await job.run_once(live.backend.ctx) == 0  # not before the back-off ends

    async def backoff_over() -> None:
        async with live.backend.ctx.sessions.begin() as session:
            await session.execute(
                update(AirlockRequest)
                .where(AirlockRequest.id == rid)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )

    # The last allowed attempt fails too: parked, and the admins hear of it.
    await backoff_over()
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            update(AirlockRequest).where(AirlockRequest.id == rid).values(attempts=2)
        )
    assert await job.run_once(live.backend.ctx) == 1
    assert [n.event_type for n in await notifications(live, "root", rid)] == ["release_failed"]
    await backoff_over()
    assert await job.run_once(live.backend.ctx) == 0  # parked

    # The operator fixes the disk and an admin retries: it releases.
    blocker.unlink()
    assert (await live.client("root").post(f"/api/v1/requests/{rid}/release/retry")).status == 202
    assert await job.run_once(live.backend.ctx) == 1
    assert (await live.client("alice").get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"
