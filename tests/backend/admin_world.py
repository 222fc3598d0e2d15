"""A small TRE's worth of history for the admin API and dashboard tests, made through the real
API, agent and release job: requests in two projects that were released, sent back and
revised, rejected, left waiting (stuck) and parked; plus an independent computation of the
metrics from the raw audit events, to check ``GET /api/v1/metrics/summary`` against."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select, update

from tests.backend.review_support import FAILING, PASSING, add_table, run_agent
from tests.fixtures.backend import LiveBackend
from trevor_backend.orm import AirlockRequest, AuditEvent, utcnow
from trevor_backend.services.release_job import ReleaseJob

WAITING = {"SUBMITTED", "AGENT_REVIEW", "HUMAN_REVIEW"}
DECISIONS = {
    "request.approved": "approved",
    "request.changes_requested": "changes_requested",
    "request.rejected": "rejected",
}


@dataclass
class World:
    released: str = ""
    revised: str = ""  # changes requested, resubmitted, approved; then parked
    rejected: str = ""  # project p2
    stuck: str = ""  # waiting in HUMAN_REVIEW past the SLA
    waiting: str = ""  # waiting, within the SLA
    draft: str = ""  # project p2
    ids: dict[str, str] = field(default_factory=dict)


async def _review(live: LiveBackend, checker: str, rid: str, decision: str) -> None:
    req = (await live.client(checker).get(f"/api/v1/requests/{rid}")).json
    assert req["status"] == "HUMAN_REVIEW", req["status"]
    per_object = "approve" if decision == "approve" else decision
    body = {
        "decision": decision,
        "summary": f"{decision} by {checker}",
        "objects": [
            {"object_id": o["id"], "decision": per_object, "comment": "see the small cells"}
            for o in req["objects"]
        ],
    }
    reply = await live.client(checker).post(f"/api/v1/requests/{rid}/reviews", body)
    assert reply.status in (200, 201), reply.body


async def _submitted(live: LiveBackend, user: str, project: str, title: str, cells: Any) -> str:
    client = live.client(user)
    rid = (await client.create_request(project=project, title=title))["id"]
    await add_table(client, rid, cells, title=f"{title} table")
    reply = await client.post(f"/api/v1/requests/{rid}/submit")
    assert reply.status == 200, reply.body
    return rid


async def build_world(live: LiveBackend) -> World:
    w = World()
    w.released = await _submitted(live, "alice", "p1", "Admissions by region", PASSING)
    w.revised = await _submitted(live, "alice", "p1", "Length of stay", FAILING)
    w.rejected = await _submitted(live, "bob", "p2", "Prescribing by practice", FAILING)
    await run_agent(live)
    for checker in ("carol", "dave"):
        await _review(live, checker, w.released, "approve")
    await _review(live, "carol", w.revised, "changes_requested")
    await _review(live, "dave", w.revised, "approve")
    await _review(live, "carol", w.rejected, "reject")
    await _review(live, "erin", w.rejected, "reject")
    assert await ReleaseJob().run_once(live.backend.ctx) == 1

    # The researcher revises the table and resubmits; the second round approves it.
    alice = live.client("alice")
    req = (await alice.get(f"/api/v1/requests/{w.revised}")).json
    await add_table(alice, w.revised, PASSING, replaces=req["objects"][0]["id"])
    assert (await alice.post(f"/api/v1/requests/{w.revised}/resubmit")).status == 200
    w.stuck = await _submitted(
        live, "alice", "p1", "Readmissions <script>alert(1)</script>", PASSING
    )
    await run_agent(live)
    for checker in ("carol", "dave"):
        await _review(live, checker, w.revised, "approve")
    w.waiting = await _submitted(live, "alice", "p1", "Outpatient visits", PASSING)
    w.draft = (await live.client("bob").create_request(project="p2", title="Draft in p2"))["id"]

    async with live.backend.ctx.sessions.begin() as session:
        # Parked: the release job gave up on the approved request (as after repeated store
        # failures; test_release.py covers how it gets there).
        await session.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id == w.revised)
            .values(
                attempts=live.backend.ctx.settings.release_max_attempts,
                last_error="store unavailable (test)",
            )
        )
        # Stuck: waiting in human review for four days (updated_at is the state's start).
        await session.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id == w.stuck)
            .values(updated_at=utcnow() - timedelta(days=4))
        )
    w.ids = {
        "released": w.released,
        "revised": w.revised,
        "rejected": w.rejected,
        "stuck": w.stuck,
        "waiting": w.waiting,
        "draft": w.draft,
    }
    return w


# --- the independent computation ------------------------------------------------------------


def nearest_rank(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.array(values), q * 100, method="inverted_cdf"))


async def raw_events(live: LiveBackend) -> list[AuditEvent]:
    async with live.backend.ctx.sessions() as session:
        return list(await session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def expected_metrics(
    events: list[AuditEvent],
    project: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The summary's figures, from nothing but the audit events."""
    created = {
        e.request_id: e
        for e in events
        if e.type == "request.created"
        and (project is None or e.project_id == project)
        and (since is None or e.created_at >= since)
        and (until is None or e.created_at < until)
    }
    mine = [e for e in events if e.request_id in created]
    state: dict[str, str] = {rid: "DRAFT" for rid in created}
    first: dict[str, dict[str, datetime]] = defaultdict(dict)
    reviews: Counter[str] = Counter()
    reviewed: dict[str, set[str]] = defaultdict(set)
    outcomes: Counter[str] = Counter()
    resubmits: Counter[str] = Counter()
    agent: dict[tuple[str, int], str] = {}
    decided: dict[tuple[str, int], str] = {}
    for e in mine:
        rid = e.request_id
        assert rid is not None
        if isinstance(e.payload.get("to"), str):
            state[rid] = e.payload["to"]
        kind = {
            "request.submitted": "submitted",
            "review.submitted": "review",
            "release.created": "release",
            "ingress.delivered": "release",
        }.get(e.type) or ("decision" if e.type in DECISIONS else None)
        if kind and kind not in first[rid]:
            first[rid][kind] = e.created_at
        if e.type == "review.submitted":
            reviews[e.actor] += 1
            reviewed[e.actor].add(rid)
        if e.type in DECISIONS:
            outcomes[DECISIONS[e.type]] += 1
            decided[(rid, e.payload["revision"])] = DECISIONS[e.type]
        if e.type == "request.resubmitted":
            resubmits[rid] += 1
        if e.type == "request.agent_review_completed":
            agent[(rid, e.payload["revision"])] = e.payload["recommendation"]

    def times(kind: str) -> dict[str, Any]:
        values = [
            (f[kind] - f["submitted"]).total_seconds()
            for f in first.values()
            if "submitted" in f and kind in f
        ]
        return {
            "count": len(values),
            "median_seconds": nearest_rank(values, 0.5),
            "p90_seconds": nearest_rank(values, 0.9),
        }

    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for rid, st in state.items():
        direction = created[rid].payload["direction"]
        counts[st][direction] = counts[st].get(direction, 0) + 1
    total = sum(outcomes.values())
    submitted = [rid for rid in created if "submitted" in first[rid]]
    revisions = [1 + resubmits[rid] for rid in submitted]
    matrix: dict[str, dict[str, int]] = defaultdict(dict)
    for key, rec in agent.items():
        if key in decided:
            matrix[rec][decided[key]] = matrix[rec].get(decided[key], 0) + 1
    return {
        "counts": dict(counts),
        "time_to_first_review": times("review"),
        "time_to_decision": times("decision"),
        "time_to_release": times("release"),
        "checkers": {a: (n, len(reviewed[a])) for a, n in reviews.items()},
        "outcomes": {k: outcomes.get(k, 0) for k in DECISIONS.values()} | {"decisions": total},
        "revisions": {
            "requests": len(revisions),
            "mean": sum(revisions) / len(revisions) if revisions else None,
            "max": max(revisions, default=None),
        },
        "matrix": dict(matrix),
    }


def assert_summary_matches(summary: dict[str, Any], expected: dict[str, Any]) -> None:
    assert summary["counts"] == expected["counts"]
    for key in ("time_to_first_review", "time_to_decision", "time_to_release"):
        got, want = summary[key], expected[key]
        assert got["count"] == want["count"], key
        for q in ("median_seconds", "p90_seconds"):
            if want[q] is None:
                assert got[q] is None, (key, q)
            else:
                assert math.isclose(got[q], want[q], abs_tol=0.01), (key, q, got[q], want[q])
    assert {c["checker"]: (c["reviews"], c["requests"]) for c in summary["checkers"]} == expected[
        "checkers"
    ]
    outcomes = summary["outcomes"]
    assert {k: outcomes[k] for k in expected["outcomes"]} == expected["outcomes"]
    if expected["outcomes"]["decisions"]:
        assert math.isclose(
            outcomes["approval_rate"],
            expected["outcomes"]["approved"] / expected["outcomes"]["decisions"],
            abs_tol=1e-4,
        )
    rev = summary["revisions"]
    assert rev["requests"] == expected["revisions"]["requests"]
    assert rev["max"] == expected["revisions"]["max"]
    if expected["revisions"]["mean"] is not None:
        assert math.isclose(rev["mean"], expected["revisions"]["mean"], abs_tol=1e-4)
    assert summary["agreement"]["matrix"] == expected["matrix"]
