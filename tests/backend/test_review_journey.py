"""The whole egress review journey through the API, with three real users: alice (researcher),
carol and dave (checkers), on every database under test.

submit → agent report → carol asks for changes on one table (public comment) and approves the
other (private comment) → dave approves → CHANGES_REQUESTED, alice sees the public comment and
not the private one → version 2 → resubmit → agent again → both approve → APPROVED; the audit
log holds every step and ``trevor-backend audit verify`` passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest
from sqlalchemy import select
from traitlets.config import Config

from tests.backend.review_support import (
    FAILING,
    PASSING,
    add_table,
    agent_reviews,
    approve_all,
    audit_types,
    current,
    run_agent,
)
from tests.fixtures.backend import LiveBackend
from tests.fixtures.smtp import SMTPServer
from trevor_backend.orm import AuditEvent
from trevor_backend.services.notifications.channels import EmailNotifier
from trevor_backend.services.notifications.outbox import DispatchJob, OutboxJob

PUBLIC = "South/female has 3 people: suppress or merge that cell."
PRIVATE = "Checked this against the project's protocol; note for dave only."


@pytest.fixture
def backend_traits(smtp_server: SMTPServer) -> dict[str, Any]:
    """Email on: the journey ends by checking what each person was sent."""
    return {
        "notifier_classes": [EmailNotifier],
        "config": Config({"EmailNotifier": Config(smtp_server.traits())}),
    }


async def test_review_journey(live: LiveBackend, smtp_server: SMTPServer) -> None:
    alice, carol, dave = live.client("alice"), live.client("carol"), live.client("dave")

    # --- the researcher submits two tables -------------------------------------------------
    rid = (await alice.create_request(title="Admissions by region and sex"))["id"]
    a1 = await add_table(alice, rid, FAILING, "admissions.csv", title="Admissions")
    b1 = await add_table(alice, rid, PASSING, "discharges.csv", title="Discharges")
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).json["status"] == "SUBMITTED"

    # Before the agent has run there is no report, and nothing to review.
    pending = await carol.get(f"/api/v1/requests/{rid}/report")
    assert pending.status == 200 and pending.json["available"] is False
    assert (await carol.get("/api/v1/review-queue")).json["items"] == []

    # --- the agent ---------------------------------------------------------------------------
    assert await run_agent(live) == 1
    req = await current(alice, rid)
    assert req["status"] == "HUMAN_REVIEW"
    assert {o["id"]: o["verdict"] for o in req["objects"]} == {a1["id"]: "fail", b1["id"]: "pass"}
    report = (await carol.get(f"/api/v1/requests/{rid}/report")).json
    assert report["available"] and report["revision"] == 1
    assert report["recommendation"] == "fail"
    failing = report["report"]["objects"][a1["id"]]
    assert failing["status"] == "fail" and failing["statbarn"] == "Frequencies"
    assert [f["rule"] for f in failing["findings"] if f["status"] == "fail"] == ["threshold"]
    assert failing["suppression"] is not None
    assert report["report"]["objects"][b1["id"]]["status"] == "pass"
    # The researcher may read the agent's report of their own request.
    assert (await alice.get(f"/api/v1/requests/{rid}/report")).json["recommendation"] == "fail"

    queue = (await carol.get("/api/v1/review-queue")).json["items"]
    assert [q["request"]["id"] for q in queue] == [rid]
    assert queue[0]["recommendation"] == "fail"
    assert queue[0]["verdicts"] == {"pass": 1, "review": 0, "fail": 1}
    assert queue[0]["reviews_received"] == 0 and queue[0]["reviews_required"] == 2

    # --- carol: changes to A (public comment), approves B (private comment) -----------------
    carol_review = {
        "decision": "changes_requested",
        "summary": "One cell below threshold.",
        "objects": [
            {
                "object_id": a1["id"],
                "decision": "changes_requested",
                "comment": PUBLIC,
                "visibility": "public",
            },
            {
                "object_id": b1["id"],
                "decision": "approve",
                "comment": PRIVATE,
                "visibility": "private",
            },
        ],
    }
    posted = await carol.post(f"/api/v1/requests/{rid}/reviews", carol_review)
    assert posted.status == 201, posted.body
    assert posted.json["decided"] is False
    assert posted.json["request"]["status"] == "HUMAN_REVIEW"
    assert (await carol.get("/api/v1/review-queue")).json["items"] == []

    # Blinded: dave cannot see carol's review until he submits his own; alice sees nothing yet.
    blind = (await dave.get(f"/api/v1/requests/{rid}/reviews")).json
    assert blind["items"] == [] and blind["hidden"] == 1
    assert PRIVATE not in json.dumps(blind) and PUBLIC not in json.dumps(blind)
    early = (await alice.get(f"/api/v1/requests/{rid}/reviews")).json
    assert early["items"] == [] and early["hidden"] == 1
    dq = (await dave.get("/api/v1/review-queue")).json["items"]
    assert [q["request"]["id"] for q in dq] == [rid] and dq[0]["reviews_received"] == 1

    # --- dave approves: the round is decided -----------------------------------------------
    decided = await dave.post(f"/api/v1/requests/{rid}/reviews", approve_all([a1, b1]))
    assert decided.status == 201, decided.body
    assert decided.json["decided"] is True
    assert decided.json["request"]["status"] == "CHANGES_REQUESTED"
    states = {o["id"]: o["state"] for o in decided.json["request"]["objects"]}
    assert states == {a1["id"]: "changes_requested", b1["id"]: "approved"}

    # dave now sees carol's review, private comment included.
    seen_by_dave = (await dave.get(f"/api/v1/requests/{rid}/reviews")).json
    assert seen_by_dave["hidden"] == 0 and len(seen_by_dave["items"]) == 2
    assert PRIVATE in json.dumps(seen_by_dave)

    # alice sees both decisions, carol's public comment, and never the private one.
    seen_by_alice = await alice.get(f"/api/v1/requests/{rid}/reviews")
    assert seen_by_alice.status == 200
    assert PRIVATE not in seen_by_alice.body.decode()
    items = seen_by_alice.json["items"]
    assert [i["decision"] for i in items] == ["changes_requested", "approve"]
    assert {i["reviewer"] for i in items} == {"checker 1", "checker 2"}  # checkers anonymised
    carols = items[0]["objects"]
    assert {d["object_id"]: d["comment"] for d in carols} == {a1["id"]: PUBLIC, b1["id"]: None}

    # --- version 2 of the failing table, resubmit -------------------------------------------
    a2 = await add_table(alice, rid, PASSING, "admissions.csv", replaces=a1["id"])
    assert a2["version"] == 2 and a2["logical_id"] == a1["logical_id"]
    assert a2["metadata"]["title"] == "Admissions"

    lineage = (await alice.get(f"/api/v1/requests/{rid}/objects/{a2['id']}/lineage")).json
    assert [v["object"]["version"] for v in lineage["versions"]] == [1, 2]
    v1 = lineage["versions"][0]
    assert v1["object"]["state"] == "superseded" and v1["agent"]["status"] == "fail"
    assert [(r["decision"], r["comment"]) for r in v1["reviews"]] == [
        ("changes_requested", PUBLIC),
        ("approve", ""),
    ]
    (diff,) = lineage["diffs"]
    assert diff["older"] == a1["id"] and diff["newer"] == a2["id"] and diff["key"] == "first_column"
    assert diff["cells_changed"] == [{"row": "south", "column": "f", "old": "3", "new": "12"}]

    resubmitted = await alice.post(f"/api/v1/requests/{rid}/resubmit")
    assert resubmitted.status == 200, resubmitted.body
    assert resubmitted.json["status"] == "SUBMITTED" and resubmitted.json["revision"] == 2
    assert {o["state"] for o in resubmitted.json["objects"]} == {"pending"}

    assert await run_agent(live) == 1
    report2 = (await carol.get(f"/api/v1/requests/{rid}/report")).json
    assert report2["revision"] == 2 and report2["recommendation"] == "pass"
    assert set(report2["report"]["objects"]) == {a2["id"], b1["id"]}
    assert await agent_reviews(live, rid) == {rid: 2}  # one per revision

    # Round 2 is blinded afresh: dave's round-1 view does not reveal carol's round-2 review.
    objects2 = (await current(carol, rid))["objects"]
    assert (
        await carol.post(f"/api/v1/requests/{rid}/reviews", approve_all(objects2))
    ).status == 201
    round2 = (await dave.get(f"/api/v1/requests/{rid}/reviews")).json
    assert [i["revision"] for i in round2["items"]] == [1, 1] and round2["hidden"] == 1
    final = await dave.post(f"/api/v1/requests/{rid}/reviews", approve_all(objects2))
    assert final.status == 201, final.body
    assert final.json["request"]["status"] == "APPROVED"
    assert {o["state"] for o in final.json["request"]["objects"]} == {"approved"}

    # --- the audit log holds every step ------------------------------------------------------
    types = await audit_types(live, rid)
    steps = [t for t in types if t != "object.viewed"]
    assert steps == [
        "request.created",
        "object.uploaded",
        "object.metadata_updated",
        "object.evidence_attached",
        "object.uploaded",
        "object.metadata_updated",
        "object.evidence_attached",
        "request.submitted",
        "request.agent_review_started",
        "request.agent_review_completed",
        "review.submitted",
        "review.submitted",
        "request.changes_requested",
        "object.replaced",
        "object.evidence_attached",
        "request.resubmitted",
        "request.agent_review_started",
        "request.agent_review_completed",
        "review.submitted",
        "review.submitted",
        "request.approved",
    ]
    async with live.backend.ctx.sessions() as s:
        payloads = json.dumps(
            list(await s.scalars(select(AuditEvent.payload).where(AuditEvent.request_id == rid)))
        )
    assert PRIVATE not in payloads  # the log proves what was reviewed without holding it

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trevor_backend.app",
        "audit",
        "verify",
        env=os.environ
        | {"TREVOR_DATA_DIR": str(live.data_dir), "TREVOR_DATABASE_URL": live.app.database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "audit log intact" in out.decode()

    # --- the emails each step sent, through the outbox to a real SMTP server --------------
    ctx = live.backend.ctx
    assert await DispatchJob().run_once(ctx) > 0
    while await OutboxJob().run_once(ctx):
        pass
    mail: dict[str, list[str]] = {}
    for rcpts, msg in smtp_server.messages:
        assert msg.get_content_type() == "multipart/alternative"
        assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
        for rcpt in rcpts:
            mail.setdefault(rcpt, []).append(msg["Subject"])
    title = "Admissions by region and sex"
    # Nobody is told about their own action (alice submitting, dave deciding); both rounds
    # reach every checker of p1 (erin is its senior checker).
    assert mail == {
        "alice@example.org": [
            f"[trevor] Automatic check finished: {title}",
            f"[trevor] Changes requested: {title}",
            f"[trevor] Automatic check finished: {title}",
            f"[trevor] Approved: {title}",
        ],
        **{
            f"{checker}@example.org": [f"[trevor] Review needed: {title}"] * 2
            for checker in ("carol", "dave", "erin")
        },
    }
