"""The researcher's HTTP journey through the API, on every database under test."""

from __future__ import annotations

import hashlib
import os

from tests.fixtures.backend import Client, LiveBackend

PROBLEM = "application/problem+json"
#: States a submitted request may be in by the time a test looks, with a reconciler running.
AFTER_SUBMIT = ("SUBMITTED", "AGENT_REVIEW", "HUMAN_REVIEW")


async def researcher_journey(
    clients: dict[str | None, Client], size: int = 50 * 1024 * 1024
) -> str:
    """Token, create, upload (sha256 checked), metadata, submit; then 409, 401 and 404."""
    alice = clients["alice"]
    req = await alice.create_request(title="Admissions by region")
    assert req["status"] == "DRAFT" and req["created_by"] == "alice"
    rid = req["id"]

    data = os.urandom(size)
    digest = hashlib.sha256(data).hexdigest()
    up = await alice.upload(rid, data, "big.parquet")
    assert up.status == 201, up.body
    obj = up.json
    assert obj["sha256"] == digest and obj["size"] == len(data)
    assert obj["version"] == 1 and obj["state"] == "pending"
    assert obj["media_type"] == "application/vnd.apache.parquet"

    meta = await alice.put(
        f"/api/v1/requests/{rid}/objects/{obj['id']}/metadata",
        {"title": "Model input", "statbarn": "Frequencies", "justification": "for the paper"},
    )
    assert meta.status == 200, meta.body
    assert meta.json["metadata"]["statbarn"] == "Frequencies"

    content = await alice.get(f"/api/v1/requests/{rid}/objects/{obj['id']}/content")
    assert content.status == 200 and hashlib.sha256(content.body).hexdigest() == digest

    sub = await alice.post(f"/api/v1/requests/{rid}/submit")
    assert sub.status == 200, sub.body
    assert sub.json["status"] == "SUBMITTED"

    again = await alice.post(f"/api/v1/requests/{rid}/submit")
    assert again.status == 409
    assert again.content_type.startswith(PROBLEM)
    # A backend with its reconciler running (the demo) may have moved the request on already:
    # any state after submission is legal here, and the problem names the one it is in.
    assert again.json["current_state"] in AFTER_SUBMIT
    assert again.json["current_state"] in again.json["detail"]

    assert (await clients[None].get(f"/api/v1/requests/{rid}")).status == 401
    hidden = await clients["bob"].get(f"/api/v1/requests/{rid}")
    assert hidden.status == 404 and hidden.content_type.startswith(PROBLEM)
    listed = await clients["bob"].get("/api/v1/requests")
    assert rid not in [r["id"] for r in listed.json["items"]]

    audit = await alice.get(f"/api/v1/requests/{rid}/audit")
    items = audit.json["items"]
    types = [e["type"] for e in items]
    assert types[:5] == [
        "request.created",
        "object.uploaded",
        "object.metadata_updated",
        "object.viewed",
        "request.submitted",
    ]
    # Anything after submission is the background agent's work, never the researcher's.
    assert all(e.get("actor") != "alice" for e in items[5:]), items[5:]
    return rid


async def test_researcher_journey_with_large_upload(clients: dict[str | None, Client]) -> None:
    await researcher_journey(clients)


async def test_checker_sees_submitted_not_draft(clients: dict[str | None, Client]) -> None:
    alice, carol = clients["alice"], clients["carol"]
    draft = await alice.create_request(title="draft")
    submitted = await alice.create_request(title="to submit")
    await alice.described_object(submitted["id"])
    assert (await alice.post(f"/api/v1/requests/{submitted['id']}/submit")).status == 200

    assert (await carol.get(f"/api/v1/requests/{draft['id']}")).status == 404
    assert (await carol.get(f"/api/v1/requests/{submitted['id']}")).status == 200
    ids = [r["id"] for r in (await carol.get("/api/v1/requests")).json["items"]]
    assert submitted["id"] in ids and draft["id"] not in ids


async def test_submit_requires_described_objects(clients: dict[str | None, Client]) -> None:
    alice = clients["alice"]
    rid = (await alice.create_request())["id"]
    empty = await alice.post(f"/api/v1/requests/{rid}/submit")
    assert empty.status == 422 and empty.json["errors"][0]["pointer"] == "/objects"
    await alice.upload(rid, b"x,y\n")
    bare = await alice.post(f"/api/v1/requests/{rid}/submit")
    assert bare.status == 422
    assert {e["pointer"] for e in bare.json["errors"]} == {
        "/objects/0/metadata/title",
        "/objects/0/metadata/statbarn",
    }


async def test_withdraw_and_actions(clients: dict[str | None, Client]) -> None:
    alice = clients["alice"]
    req = await alice.create_request()
    assert req["actions"] == ["submit", "withdraw"]
    out = await alice.post(f"/api/v1/requests/{req['id']}/withdraw")
    assert out.status == 200 and out.json["status"] == "WITHDRAWN" and out.json["actions"] == []
    late = await alice.post(f"/api/v1/requests/{req['id']}/withdraw")
    assert late.status == 409 and late.json["current_state"] == "WITHDRAWN"


async def test_list_pagination_and_filters(clients: dict[str | None, Client]) -> None:
    alice = clients["alice"]
    made = [(await alice.create_request(title=f"r{i}"))["id"] for i in range(5)]
    await alice.post(f"/api/v1/requests/{made[0]}/withdraw")
    seen: list[str] = []
    cursor = None
    while True:
        q = "/api/v1/requests?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await alice.get(q)).json
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))
    withdrawn = (await alice.get("/api/v1/requests?status=WITHDRAWN")).json["items"]
    assert [r["id"] for r in withdrawn] == [made[0]]
    bad = await alice.get("/api/v1/requests?status=NOPE")
    assert bad.status == 422 and bad.json["errors"][0]["pointer"] == "/status"
    bad_cursor = await alice.get("/api/v1/requests?cursor=zzz")
    assert bad_cursor.status == 422


async def test_replace_object_carries_metadata(live: LiveBackend) -> None:
    """A replacement upload is version 2 of the same logical object, metadata carried."""
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    v1 = await alice.described_object(rid)
    # Replacement is allowed while the request is editable (DRAFT here).
    v2 = await alice.upload(rid, b"a,b\n1,3\n", "table.csv", replaces=v1["id"])
    assert v2.status == 201, v2.body
    assert v2.json["logical_id"] == v1["logical_id"] and v2.json["version"] == 2
    assert v2.json["supersedes_id"] == v1["id"]
    assert v2.json["metadata"]["title"] == "Table 1"
    current = (await alice.get(f"/api/v1/requests/{rid}")).json["objects"]
    assert [o["id"] for o in current] == [v2.json["id"]]
    old = await alice.get(f"/api/v1/requests/{rid}/objects/{v1['id']}")
    assert old.json["state"] == "superseded"


async def test_health_and_ready(clients: dict[str | None, Client]) -> None:
    anon = clients[None]
    assert (await anon.get("/health")).json == {"status": "ok"}
    ready = await anon.get("/ready")
    assert ready.status == 200 and ready.json["checks"] == {"database": "ok", "store": "ok"}
    missing = await anon.get("/api/v1/nothing-here")
    assert missing.status == 404 and missing.content_type.startswith(PROBLEM)


async def test_prometheus_metrics(clients: dict[str | None, Client]) -> None:
    alice = clients["alice"]
    await alice.create_request()
    await alice.get("/api/v1/requests")
    text = (await clients[None].get("/metrics")).body.decode()
    assert 'trevor_airlock_requests{direction="egress",status="DRAFT"} 1.0' in text
    posted = 'trevor_http_requests_total{handler="RequestsHandler",method="POST",status="201"}'
    assert posted in text
    assert "trevor_http_request_duration_seconds_bucket" in text


async def test_statbarn_catalogue_shows_deployment_parameters(tmp_path, database_url) -> None:  # type: ignore[no-untyped-def]
    import pytest
    from traitlets import TraitError

    from tests.fixtures.backend import start_backend

    lb, server = await start_backend(database_url, tmp_path, sdc_params={"threshold": 7})
    try:
        items = (await lb.client("alice").get("/api/v1/statbarns")).json["items"]
        freq = next(i for i in items if i["id"] == "Frequencies")
        assert freq["params"]["threshold"] == 7
        assert freq["uri"].endswith("w3id.org/statbarnsdc#Frequencies")
    finally:
        server.stop()
        await lb.backend.close()
    from trevor_backend.app import TrevorBackend

    with pytest.raises((TraitError, ValueError), match="thresold"):
        TrevorBackend(sdc_params={"thresold": 7})
