"""The admin API of issue 12 on SQLite and PostgreSQL: a project with its members, membership
changes (the role-conflict rule, audited), the audit search and its CSV export (checked
offline, and shown to catch tampering), the metrics summary (checked against an independent
computation from the raw audit events) and the admin filters of the requests list."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sqlalchemy import select

from tests.backend.admin_world import (
    assert_summary_matches,
    build_world,
    expected_metrics,
    raw_events,
)
from tests.fixtures.backend import LiveBackend
from trevor_backend.orm import AuditEvent, utcnow
from trevor_backend.services.audit_export import HEADER, verify_csv


async def test_project_detail_and_member_changes_are_audited(live: LiveBackend) -> None:
    root, alice, carol = live.client("root"), live.client("alice"), live.client("carol")
    detail = await root.get("/api/v1/projects/p1")
    assert detail.status == 200, detail.body
    members = {m["username"]: m["role"] for m in detail.json["members"]}
    assert members == {
        "alice": "researcher",
        "carol": "output_checker",
        "dave": "output_checker",
        "erin": "senior_checker",
    }
    assert detail.json["sdc_params"] == {}
    # Members may read their own project; others get 404 (no leak of its existence).
    assert (await alice.get("/api/v1/projects/p1")).status == 200
    assert (await live.client("bob").get("/api/v1/projects/p1")).status == 404
    assert (await root.get("/api/v1/projects/nope")).status == 404

    added = await root.put("/api/v1/projects/p1/members/bob", {"role": "output_checker"})
    assert added.status == 201 and added.json["created"] is True, added.body
    again = await root.put("/api/v1/projects/p1/members/bob", {"role": "senior_checker"})
    assert again.status == 200 and again.json["role"] == "senior_checker"

    # A researcher of the project cannot be made a checker of it: 409, and nothing changes.
    refused = await root.put("/api/v1/projects/p1/members/alice", {"role": "output_checker"})
    assert refused.status == 409, refused.body
    assert refused.content_type.startswith("application/problem+json")
    assert refused.json["type"].endswith("/role-conflict")
    assert "alice" in refused.json["detail"]
    assert (await alice.get("/api/v1/users/me")).json["memberships"][0]["role"] == "researcher"

    # Only admins change memberships; bad input is a 422 problem.
    assert (
        await carol.put("/api/v1/projects/p1/members/bob", {"role": "researcher"})
    ).status == 403
    bad = await root.put("/api/v1/projects/p1/members/bob", {"role": "boss"})
    assert bad.status == 422 and bad.json["errors"][0]["pointer"] == "/role"
    assert (
        await root.put("/api/v1/projects/p1/members/nobody", {"role": "researcher"})
    ).status == 422

    removed = await root.delete("/api/v1/projects/p1/members/bob")
    assert removed.status == 204
    assert (await root.delete("/api/v1/projects/p1/members/bob")).status == 404

    async with live.backend.ctx.sessions() as session:
        events = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.type.like("membership.%"), AuditEvent.actor == "root")
                .order_by(AuditEvent.seq)
            )
        )
    assert [(e.type, e.payload["user"], e.payload["role"]) for e in events] == [
        ("membership.set", "bob", "output_checker"),
        ("membership.set", "bob", "senior_checker"),
        ("membership.removed", "bob", "senior_checker"),
    ]
    assert all(e.project_id == "p1" for e in events)


async def test_audit_search_filters_pages_and_scopes(live: LiveBackend) -> None:
    w = await build_world(live)
    root, erin = live.client("root"), live.client("erin")
    events = await raw_events(live)

    # Paging newest first through a filter, with no event lost or repeated.
    seen: list[int] = []
    cursor = ""
    while True:
        page = await root.get(f"/api/v1/audit?project=p1&limit=7{cursor}")
        assert page.status == 200, page.body
        seen += [item["seq"] for item in page.json["items"]]
        if page.json["next_cursor"] is None:
            break
        cursor = f"&cursor={page.json['next_cursor']}"
    assert seen == sorted((e.seq for e in events if e.project_id == "p1"), reverse=True)

    by_request = await root.get(f"/api/v1/audit?request={w.rejected}&limit=1000")
    assert [i["seq"] for i in by_request.json["items"]] == sorted(
        (e.seq for e in events if e.request_id == w.rejected), reverse=True
    )
    by_actor = (await root.get("/api/v1/audit?actor=carol&type=review.submitted")).json["items"]
    assert {i["request"] for i in by_actor} == {w.released, w.revised, w.rejected}
    namespace = (await root.get("/api/v1/audit?type=request.*&limit=1000")).json["items"]
    assert namespace and all(i["type"].startswith("request.") for i in namespace)
    middle = events[len(events) // 2].created_at
    window = (
        await root.get(
            "/api/v1/audit?limit=1000&until=" + middle.isoformat().replace("+00:00", "Z")
        )
    ).json["items"]
    assert {i["seq"] for i in window} == {e.seq for e in events if e.created_at < middle}

    # A senior checker sees their projects' events only; other checkers and researchers none.
    assert (await erin.get("/api/v1/audit?project=p1")).status == 200
    erin_all = (await erin.get("/api/v1/audit?limit=1000")).json["items"]
    assert erin_all and {i["project"] for i in erin_all} <= {"p1", "p2"}
    assert all(i["project"] is not None for i in erin_all)
    assert (await live.client("carol").get("/api/v1/audit")).status == 403
    assert (await live.client("alice").get("/api/v1/audit")).status == 403
    assert (await live.client(None).get("/api/v1/audit")).status == 401
    assert (await root.get("/api/v1/audit?since=yesterday")).status == 422
    assert (await root.get("/api/v1/audit?cursor=abc")).status == 422


async def test_audit_csv_export_verifies_offline_and_catches_tampering(
    live: LiveBackend,
) -> None:
    await build_world(live)
    root = live.client("root")
    events = await raw_events(live)
    reply = await root.get("/api/v1/audit?format=csv")
    assert reply.status == 200, reply.body
    assert reply.content_type.startswith("text/csv")
    assert "attachment" in reply.headers["Content-Disposition"]
    text = reply.body.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == HEADER
    # Every event, in chain order, with the hashes exactly as stored.
    assert [(int(r["seq"]), r["prev_hash"], r["hash"]) for r in rows] == [
        (e.seq, e.prev_hash, e.hash) for e in events
    ]
    check = verify_csv(text, complete=True)
    assert check.ok and check.rows == len(events) and check.links == len(events) - 1

    # The same selection through Accept: text/csv.
    negotiated = await root.get("/api/v1/audit", headers={"Accept": "text/csv"})
    assert negotiated.body == reply.body

    # An edited cell, a dropped row or reordered rows are each caught.
    victim = next(r for r in rows if r["type"] == "request.rejected")
    altered = text.replace('""to"": ""REJECTED""', '""to"": ""APPROVED""', 1)
    assert altered != text
    bad = verify_csv(altered)
    assert not bad.ok and bad.bad_seq == int(victim["seq"]) and "altered" in bad.reason
    lines = text.split("\n")
    dropped = "\n".join(lines[:5] + lines[6:])
    assert not verify_csv(dropped, complete=True).ok
    # Reordered rows are caught in any export.
    swapped = "\n".join([*lines[:5], lines[6], lines[5], *lines[7:]])
    assert verify_csv(swapped).reason == "rows out of order"

    # A filtered export checks each row, and the links between neighbours it contains.
    part = (await root.get("/api/v1/audit?format=csv&project=p2")).body.decode()
    part_check = verify_csv(part)
    assert part_check.ok and part_check.rows == sum(1 for e in events if e.project_id == "p2")

    # Senior checkers export their projects; others are refused with a problem, not a file.
    erin = await live.client("erin").get("/api/v1/audit?format=csv&project=p2")
    assert erin.status == 200 and verify_csv(erin.body.decode()).ok
    refused = await live.client("carol").get("/api/v1/audit?format=csv")
    assert refused.status == 403 and refused.content_type.startswith("application/problem+json")


async def test_metrics_summary_equals_independent_computation(live: LiveBackend) -> None:
    w = await build_world(live)
    root = live.client("root")
    events = await raw_events(live)

    reply = await root.get("/api/v1/metrics/summary")
    assert reply.status == 200, reply.body
    summary = reply.json
    assert_summary_matches(summary, expected_metrics(events))
    # The world as built: one release, one request approved after a revision, one rejected.
    assert summary["outcomes"]["decisions"] == 4
    assert summary["time_to_release"]["count"] == 1
    assert summary["revisions"]["max"] == 2
    assert summary["agreement"]["agent_fail_approved"] == 0
    assert [s["id"] for s in summary["stuck"]] == [w.stuck] and summary["stuck_count"] == 1
    assert [p["id"] for p in summary["parked"]] == [w.revised]
    assert summary["parked"][0]["last_error"] == "store unavailable (test)"
    hist = summary["first_review_histogram"]
    assert sum(b["count"] for b in hist) == summary["time_to_first_review"]["count"] == 3
    weekly = summary["weekly"]
    assert sum(wk["approved"] + wk["changes_requested"] + wk["rejected"] for wk in weekly) == 4

    # Per project, and for a window.
    p2 = (await root.get("/api/v1/metrics/summary?project=p2")).json
    assert_summary_matches(p2, expected_metrics(events, project="p2"))
    assert p2["stuck"] == [] and p2["parked"] == []
    # Halfway between two requests' creation: a request row's created_at and its
    # request.created event differ by the moments between them, far less than this gap.
    creations = [e.created_at for e in events if e.type == "request.created"]
    cut = next(e for e in events if e.request_id == w.stuck and e.type == "request.created")
    before = max(t for t in creations if t < cut.created_at)
    since = before + (cut.created_at - before) / 2
    late = (
        await root.get("/api/v1/metrics/summary?since=" + since.isoformat().replace("+00:00", "Z"))
    ).json
    assert_summary_matches(late, expected_metrics(events, since=since))
    assert late["counts"] == {
        "HUMAN_REVIEW": {"egress": 1},
        "SUBMITTED": {"egress": 1},
        "DRAFT": {"egress": 1},
    }

    # Senior checkers read their projects' metrics; nobody else.
    erin = await live.client("erin").get("/api/v1/metrics/summary?project=p1")
    assert erin.status == 200
    assert_summary_matches(erin.json, expected_metrics(events, project="p1"))
    assert (await live.client("carol").get("/api/v1/metrics/summary")).status == 403
    assert (await live.client("alice").get("/api/v1/metrics/summary?project=p1")).status == 403
    assert (
        await root.get("/api/v1/metrics/summary?since=2026-02-01&until=2026-01-01")
    ).status == 422


async def test_admin_filters_of_the_requests_list(live: LiveBackend) -> None:
    w = await build_world(live)
    root = live.client("root")

    async def ids(query: str) -> set[str]:
        reply = await root.get(f"/api/v1/requests?limit=200&{query}")
        assert reply.status == 200, reply.body
        return {r["id"] for r in reply.json["items"]}

    everything = await ids("")
    assert everything == set(w.ids.values())
    assert await ids("stuck=true") == {w.stuck}
    assert await ids("older_than=3d") == {w.stuck}
    assert await ids("older_than=5d") == set()
    assert await ids("status=HUMAN_REVIEW") == {w.stuck}
    assert await ids("status=SUBMITTED") == {w.waiting}
    assert await ids("direction=egress&project=p2") == {w.rejected, w.draft}
    assert await ids("project=p1&status=APPROVED") == {w.revised}
    bad = await root.get("/api/v1/requests?older_than=3days")
    assert bad.status == 422 and bad.json["errors"][0]["pointer"] == "/older_than"
    # The filters narrow what the caller may see; they never widen it.
    bob = {
        r["id"] for r in (await live.client("bob").get("/api/v1/requests?stuck=true")).json["items"]
    }
    assert bob == set()


def _stamp(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def test_window_excludes_everything_before_it(live: LiveBackend) -> None:
    await build_world(live)
    after = (
        await live.client("root").get(f"/api/v1/metrics/summary?since={_stamp(utcnow())}")
    ).json
    assert after["counts"] == {} and after["outcomes"]["decisions"] == 0
    # Stuck and parked describe now, not the window.
    assert after["stuck_count"] == 1 and after["parked_count"] == 1


async def test_export_carries_the_keyed_macs_a_forger_cannot_recompute(live: LiveBackend) -> None:
    """Someone who can rewrite the database or the file recomputes the plain chain after an
    edit; only the keyed MAC, checked with the audit key, tells."""
    from trevor_backend.services import audit

    await live.client("alice").create_request(title="Keyed")
    text = (await live.client("root").get("/api/v1/audit?format=csv")).body.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[-1]["type"] == "request.created" and rows[-1]["mac"] and rows[-1]["key_id"]
    keys = live.app.audit_keys().keys
    assert verify_csv(text, complete=True, keys=keys).ok

    last = rows[-1]
    payload = {**csv_payload(last), "title": "Forged"}
    last["payload"] = audit._canonical(payload)
    last["hash"] = audit.event_hash(
        seq=int(last["seq"]),
        created_at=datetime.fromisoformat(last["created_at"]),
        type=last["type"],
        actor_id=last["actor_id"] or None,
        actor=last["actor"],
        project_id=last["project"] or None,
        request_id=last["request"] or None,
        object_id=last["object"] or None,
        payload=payload,
        correlation_id=last["correlation_id"] or None,
        prev_hash=last["prev_hash"],
    )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    forged = out.getvalue()
    assert verify_csv(forged, complete=True).ok  # the plain chain was recomputed
    caught = verify_csv(forged, complete=True, keys=keys)
    assert not caught.ok and caught.bad_seq == int(last["seq"]) and "MAC" in caught.reason


def csv_payload(row: dict[str, str]) -> dict[str, Any]:
    import json

    return json.loads(row["payload"])
