"""The rules of human review, each refusal with its own test: one review per checker per
revision, researchers never review, checkers of other projects cannot see the request, the agent
never counts, bad reviews are refused with pointers and change nothing, blinding, the queue, and
two final reviews racing for the decision."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

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
from tests.fixtures.backend import Client, LiveBackend

PROBLEM = "application/problem+json"
DECISION_EVENTS = {"request.approved", "request.changes_requested", "request.rejected"}


async def in_human_review(
    live: LiveBackend, author: str = "alice", project: str = "p1", tables: int = 2
) -> tuple[str, list[dict[str, Any]]]:
    """A request with ``tables`` described tables, submitted and reviewed by the agent."""
    client = live.client(author)
    rid = (await client.create_request(project=project))["id"]
    for i in range(tables):
        await add_table(client, rid, PASSING if i else FAILING, f"t{i}.csv", title=f"T{i}")
    assert (await client.post(f"/api/v1/requests/{rid}/submit")).status == 200
    assert await run_agent(live) >= 1
    req = await current(client, rid)
    assert req["status"] == "HUMAN_REVIEW"
    return rid, req["objects"]


def reject_all(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "decision": "reject",
        "summary": "no",
        "objects": [
            {"object_id": o["id"], "decision": "reject", "comment": "disclosive"} for o in objects
        ],
    }


async def review_count(client: Client, rid: str) -> int:
    body = (await client.get(f"/api/v1/requests/{rid}/reviews")).json
    return len(body["items"]) + body["hidden"]


async def test_same_checker_twice_is_409(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    carol = live.client("carol")
    assert (await carol.post(f"/api/v1/requests/{rid}/reviews", approve_all(objects))).status == 201
    again = await carol.post(f"/api/v1/requests/{rid}/reviews", reject_all(objects))
    assert again.status == 409 and again.content_type.startswith(PROBLEM)
    assert "already reviewed" in again.json["detail"]
    assert await review_count(live.client("root"), rid) == 1
    assert (await current(carol, rid))["status"] == "HUMAN_REVIEW"


async def test_researcher_never_reviews(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    own = await live.client("alice").post(f"/api/v1/requests/{rid}/reviews", approve_all(objects))
    assert own.status == 403 and own.content_type.startswith(PROBLEM)
    # Not even the admin may review without being a checker of the project.
    admin = await live.client("root").post(f"/api/v1/requests/{rid}/reviews", approve_all(objects))
    assert admin.status == 403
    assert await review_count(live.client("root"), rid) == 0
    assert (await live.client("alice").get("/api/v1/review-queue")).json["items"] == []


async def test_checker_of_another_project_cannot_review(live: LiveBackend) -> None:
    # bob's request in p2; dave checks only p1, so to him the request does not exist.
    rid, objects = await in_human_review(live, author="bob", project="p2")
    dave = live.client("dave")
    refused = await dave.post(f"/api/v1/requests/{rid}/reviews", approve_all(objects))
    assert refused.status == 404 and refused.content_type.startswith(PROBLEM)
    assert (await dave.get(f"/api/v1/requests/{rid}/reviews")).status == 404
    assert (await dave.get(f"/api/v1/requests/{rid}/report")).status == 404
    assert rid not in [
        q["request"]["id"] for q in (await dave.get("/api/v1/review-queue")).json["items"]
    ]
    # carol checks p2 too: she may.
    assert rid in [
        q["request"]["id"]
        for q in (await live.client("carol").get("/api/v1/review-queue")).json["items"]
    ]


async def test_agent_is_not_counted(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    assert await agent_reviews(live, rid) == {rid: 1}
    one = await live.client("carol").post(f"/api/v1/requests/{rid}/reviews", approve_all(objects))
    assert one.json["decided"] is False
    # agent review + one human review: still one short of two human reviews.
    assert (await current(live.client("alice"), rid))["status"] == "HUMAN_REVIEW"
    listed = (await live.client("root").get(f"/api/v1/requests/{rid}/reviews")).json
    assert [i["reviewer"] for i in listed["items"]] == ["carol"]
    assert listed["required_reviews"] == 2


class TestOneReviewRequired:
    @pytest.fixture
    def backend_traits(self) -> dict[str, Any]:
        return {"required_reviews": 1}

    async def test_one_review_decides(self, live: LiveBackend) -> None:
        rid, objects = await in_human_review(live)
        out = await live.client("dave").post(f"/api/v1/requests/{rid}/reviews", reject_all(objects))
        assert out.status == 201 and out.json["decided"] is True
        assert out.json["request"]["status"] == "REJECTED"
        assert {o["state"] for o in out.json["request"]["objects"]} == {"rejected"}


async def test_all_reject_rejects_and_mixed_requests_changes(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    for who in ("carol", "dave"):
        out = await live.client(who).post(f"/api/v1/requests/{rid}/reviews", reject_all(objects))
        assert out.status == 201
    assert out.json["request"]["status"] == "REJECTED"

    rid2, objects2 = await in_human_review(live)
    await live.client("carol").post(f"/api/v1/requests/{rid2}/reviews", reject_all(objects2))
    out = await live.client("dave").post(f"/api/v1/requests/{rid2}/reviews", approve_all(objects2))
    assert out.json["request"]["status"] == "CHANGES_REQUESTED"
    # approve + reject on an object is not agreement either: changes requested.
    assert {o["state"] for o in out.json["request"]["objects"]} == {"changes_requested"}
    late = await live.client("erin").post(f"/api/v1/requests/{rid2}/reviews", approve_all(objects2))
    assert late.status == 409 and late.json["current_state"] == "CHANGES_REQUESTED"


async def test_bad_reviews_are_refused_and_change_nothing(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    carol = live.client("carol")
    a, b = objects
    path = f"/api/v1/requests/{rid}/reviews"
    cases: list[tuple[dict[str, Any], set[str]]] = [
        # a decision missing for one current object
        (
            {"decision": "approve", "objects": [{"object_id": a["id"], "decision": "approve"}]},
            {"/objects"},
        ),
        # changes requested and reject need a comment
        (
            {
                "decision": "changes_requested",
                "objects": [
                    {"object_id": a["id"], "decision": "changes_requested", "comment": "  "},
                    {"object_id": b["id"], "decision": "reject"},
                ],
            },
            {"/objects/0/comment", "/objects/1/comment"},
        ),
        # an approving review must approve every object
        (
            {
                "decision": "approve",
                "objects": [
                    {"object_id": a["id"], "decision": "approve"},
                    {"object_id": b["id"], "decision": "reject", "comment": "no"},
                ],
            },
            {"/decision"},
        ),
        # unknown and duplicated objects
        (
            {
                "decision": "approve",
                "objects": [
                    {"object_id": "nope", "decision": "approve"},
                    {"object_id": a["id"], "decision": "approve"},
                    {"object_id": a["id"], "decision": "approve"},
                ],
            },
            {"/objects/0/object_id", "/objects/2/object_id", "/objects"},
        ),
        # schema: bad enum values
        (
            {
                "decision": "maybe",
                "objects": [{"object_id": a["id"], "decision": "approve", "visibility": "secret"}],
            },
            {"/decision", "/objects/0/visibility"},
        ),
    ]
    for body, pointers in cases:
        reply = await carol.post(path, body)
        assert reply.status == 422, (body, reply.body)
        assert reply.content_type.startswith(PROBLEM)
        assert {e["pointer"] for e in reply.json["errors"]} == pointers, reply.json
    assert await review_count(live.client("root"), rid) == 0
    assert "review.submitted" not in await audit_types(live, rid)


async def test_review_before_the_agent_is_409(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    obj = await add_table(alice, rid, PASSING)
    await alice.post(f"/api/v1/requests/{rid}/submit")
    early = await live.client("carol").post(f"/api/v1/requests/{rid}/reviews", approve_all([obj]))
    assert early.status == 409 and early.json["current_state"] == "SUBMITTED"


async def test_blinding(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    carol, dave, alice, root = (live.client(u) for u in ("carol", "dave", "alice", "root"))
    private = {
        "decision": "changes_requested",
        "summary": "see comments",
        "objects": [
            {"object_id": objects[0]["id"], "decision": "changes_requested", "comment": "PUB-1"},
            {
                "object_id": objects[1]["id"],
                "decision": "approve",
                "comment": "PRIV-1",
                "visibility": "private",
            },
        ],
    }
    assert (await carol.post(f"/api/v1/requests/{rid}/reviews", private)).status == 201

    # The admin sees everything, private comments included.
    admin_view = (await root.get(f"/api/v1/requests/{rid}/reviews")).json
    assert admin_view["hidden"] == 0 and "PRIV-1" in str(admin_view)
    # carol sees her own review; dave sees neither her decisions nor her comments.
    mine = (await carol.get(f"/api/v1/requests/{rid}/reviews")).json
    assert [i["mine"] for i in mine["items"]] == [True] and "PRIV-1" in str(mine)
    dave_view = await dave.get(f"/api/v1/requests/{rid}/reviews")
    assert dave_view.json["items"] == [] and dave_view.json["hidden"] == 1
    assert b"PUB-1" not in dave_view.body and b"changes_requested" not in dave_view.body
    # Nor can he read them in the lineage or the audit log.
    lineage = await dave.get(f"/api/v1/requests/{rid}/objects/{objects[0]['id']}/lineage")
    assert lineage.status == 200 and b"PUB-1" not in lineage.body
    assert lineage.json["versions"][0]["reviews"] == []
    audit = await dave.get(f"/api/v1/requests/{rid}/audit")
    assert b"PUB-1" not in audit.body and b"changes_requested" not in audit.body
    # The researcher sees nothing of an undecided round.
    assert (await alice.get(f"/api/v1/requests/{rid}/reviews")).json["items"] == []

    assert (await dave.post(f"/api/v1/requests/{rid}/reviews", approve_all(objects))).status == 201
    after = (await dave.get(f"/api/v1/requests/{rid}/reviews")).json
    assert after["hidden"] == 0 and "PRIV-1" in str(after) and "PUB-1" in str(after)
    researcher = await alice.get(f"/api/v1/requests/{rid}/reviews")
    assert b"PRIV-1" not in researcher.body and b"PUB-1" in researcher.body
    alice_lineage = await alice.get(f"/api/v1/requests/{rid}/objects/{objects[1]['id']}/lineage")
    assert b"PRIV-1" not in alice_lineage.body
    assert [r["comment"] for r in alice_lineage.json["versions"][0]["reviews"]] == [None, ""]
    dave_lineage = await dave.get(f"/api/v1/requests/{rid}/objects/{objects[1]['id']}/lineage")
    assert [r["comment"] for r in dave_lineage.json["versions"][0]["reviews"]] == ["PRIV-1", ""]


async def test_queue_oldest_first_without_my_reviews(live: LiveBackend) -> None:
    first, objs1 = await in_human_review(live, tables=1)
    second, _ = await in_human_review(live, tables=1)
    bobs, _ = await in_human_review(live, author="bob", project="p2", tables=1)
    carol, dave = live.client("carol"), live.client("dave")
    assert [
        q["request"]["id"] for q in (await carol.get("/api/v1/review-queue")).json["items"]
    ] == [first, second, bobs]
    assert [q["request"]["id"] for q in (await dave.get("/api/v1/review-queue")).json["items"]] == [
        first,
        second,
    ]
    fail = {
        "decision": "reject",
        "objects": [{"object_id": objs1[0]["id"], "decision": "reject", "comment": "x"}],
    }
    assert (await carol.post(f"/api/v1/requests/{first}/reviews", fail)).status == 201
    assert [
        q["request"]["id"] for q in (await carol.get("/api/v1/review-queue")).json["items"]
    ] == [second, bobs]
    dq = (await dave.get("/api/v1/review-queue")).json["items"]
    assert [(q["request"]["id"], q["reviews_received"]) for q in dq] == [(first, 1), (second, 0)]
    assert dq[0]["verdicts"] == {"pass": 0, "review": 0, "fail": 1}
    # Researchers have no queue.
    assert (await live.client("alice").get("/api/v1/review-queue")).json["items"] == []


async def test_two_final_reviews_at_the_same_moment(live: LiveBackend) -> None:
    """carol and dave submit together: exactly one decision, and it is the right one."""
    for _ in range(3):
        rid, objects = await in_human_review(live)
        carol_body = {
            "decision": "changes_requested",
            "objects": [
                {"object_id": objects[0]["id"], "decision": "changes_requested", "comment": "fix"},
                {"object_id": objects[1]["id"], "decision": "approve"},
            ],
        }
        a, b = await asyncio.gather(
            live.client("carol").post(f"/api/v1/requests/{rid}/reviews", carol_body),
            live.client("dave").post(f"/api/v1/requests/{rid}/reviews", approve_all(objects)),
        )
        assert (a.status, b.status) == (201, 201), (a.body, b.body)
        assert sorted([a.json["decided"], b.json["decided"]]) == [False, True]
        types = await audit_types(live, rid)
        assert [t for t in types if t in DECISION_EVENTS] == ["request.changes_requested"]
        req = await current(live.client("alice"), rid)
        assert req["status"] == "CHANGES_REQUESTED"
        assert [o["state"] for o in req["objects"]] == ["changes_requested", "approved"]


async def test_same_checker_racing_with_itself(live: LiveBackend) -> None:
    rid, objects = await in_human_review(live)
    carol = live.client("carol")
    replies = await asyncio.gather(
        *(carol.post(f"/api/v1/requests/{rid}/reviews", approve_all(objects)) for _ in range(3))
    )
    assert sorted(r.status for r in replies) == [201, 409, 409]
    assert await review_count(live.client("root"), rid) == 1
