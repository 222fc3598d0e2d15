"""The server extension against a real trevor backend (tests/fixtures/backend.py starts it on a
loopback port with a migrated database, a local object store and the demo users)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from jupyter_trevor import client as client_mod
from jupyter_trevor import workspace as ws

from .test_handlers import fetch, problem_of

STATBARN = "Frequencies"


@pytest.fixture
def trevor_config(live: Any) -> dict[str, Any]:
    return {"backend_url": live.url, "token": live.tokens["alice"], "project": "p1"}


async def post_json(jp_fetch: Any, *parts: str, body: Any = None, **kw: Any) -> Any:
    return await fetch(
        jp_fetch, *parts, method="POST", body=json.dumps(body if body is not None else {}), **kw
    )


def tag_table(workspace: Path, output_id: str, data: bytes, **record: Any) -> dict[str, Any]:
    src = workspace / f"{output_id}.csv"
    src.write_bytes(data)
    try:
        return ws.write_output(
            workspace,
            output_id,
            src,
            {
                "title": "Counts by region",
                "statbarn": STATBARN,
                "justification": "Table 2 of the paper",
                "provenance": {"notebook_path": "analysis.ipynb", "cell_id": "c9"},
                "evidence": {"cells": [{"n": 12}, {"n": 40}]},
                "report": {"status": "pass", "findings": []},
                **record,
            },
        )
    finally:
        src.unlink()


async def test_proxy_uses_the_servers_token(jp_fetch: Any) -> None:
    me = json.loads((await jp_fetch("trevor", "api", "users", "me")).body)
    assert me["username"] == "alice"
    version = (await jp_fetch("trevor", "version")).body.decode()
    assert "token" not in version  # the token never reaches the browser


async def test_proxy_relays_problem_json_unchanged(jp_fetch: Any, live: Any) -> None:
    bad = {"project": "p1", "direction": "sideways", "title": "x"}
    r = await post_json(jp_fetch, "trevor", "api", "requests", body=bad)
    direct = await live.client("alice").post("/api/v1/requests", bad)
    assert r.code == direct.status and 400 <= r.code < 500
    assert problem_of(r) == direct.json
    assert any(e["pointer"] == "/direction" for e in direct.json.get("errors", []))


async def test_proxy_query_string_and_404(jp_fetch: Any) -> None:
    r = await fetch(jp_fetch, "trevor", "api", "requests", params={"project": "p1", "limit": "5"})
    assert r.code == 200 and "items" in json.loads(r.body)
    r = await fetch(jp_fetch, "trevor", "api", "requests", "no-such-request")
    assert r.code == 404
    problem_of(r)


async def test_anonymous_browser_cannot_use_the_proxy(jp_fetch: Any) -> None:
    r = await fetch(jp_fetch, "trevor", "api", "users", "me", headers={"Authorization": ""})
    assert r.code == 403


async def test_upload_tagged_output_with_evidence_and_metadata(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    data = b"region,n\nNorth,12\nSouth,40\n"
    tag_table(workspace, "counts", data)
    created = await post_json(
        jp_fetch, "trevor", "api", "requests", body={"project": "p1", "title": "Paper tables"}
    )
    assert created.code == 201, created.body
    rid = json.loads(created.body)["id"]

    r = await post_json(jp_fetch, "trevor", "requests", rid, "outputs", "counts")
    assert r.code == 201, r.body
    obj = json.loads(r.body)
    assert obj["sha256"] == hashlib.sha256(data).hexdigest()
    assert obj["metadata"]["title"] == "Counts by region"
    assert obj["metadata"]["statbarn"] == STATBARN
    assert obj["has_evidence"] is True

    # The panel's download goes through the (streaming) proxy: same bytes, checksum header.
    got = await jp_fetch("trevor", "api", "requests", rid, "objects", obj["id"], "content")
    assert got.body == data
    assert got.headers["X-Trevor-Sha256"] == obj["sha256"]

    # What the backend stored, read directly: the same bytes, the request lists the object.
    alice = live.client("alice")
    content = await alice.get(f"/api/v1/requests/{rid}/objects/{obj['id']}/content")
    assert content.body == data
    assert got.headers["Content-Type"] == content.content_type
    assert got.headers.get("Content-Disposition") == content.headers.get("Content-Disposition")
    req = (await alice.get(f"/api/v1/requests/{rid}")).json
    assert [o["id"] for o in req["objects"]] == [obj["id"]]

    # A newer version of the tagged output replaces the object (version 2, same logical id).
    tag_table(workspace, "counts", b"region,n\nNorth,12\nSouth,41\n")
    r2 = await post_json(
        jp_fetch, "trevor", "requests", rid, "outputs", "counts", params={"replaces": obj["id"]}
    )
    assert r2.code == 201, r2.body
    new = json.loads(r2.body)
    assert (new["version"], new["logical_id"], new["supersedes_id"]) == (
        2,
        obj["logical_id"],
        obj["id"],
    )
    assert new["metadata"]["title"] == "Counts by region"


async def test_stale_evidence_is_refused_and_nothing_is_stored(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    """The evidence's sha256 goes with the upload as X-Trevor-Sha256: the backend refuses the
    changed file and keeps no bytes."""
    tag_table(workspace, "stale", b"a,b\n1,2\n")
    meta_file = ws.output_dir(workspace, "stale") / "metadata.json"
    meta = json.loads(meta_file.read_text())
    meta["evidence"]["sha256"] = "0" * 64  # evidence computed for some other file
    meta_file.write_text(json.dumps(meta))
    rid = (await live.client("alice").create_request())["id"]
    r = await post_json(jp_fetch, "trevor", "requests", rid, "outputs", "stale")
    assert r.code == 502
    assert problem_of(r)["type"].endswith("/integrity")
    req = (await live.client("alice").get(f"/api/v1/requests/{rid}")).json
    assert req["objects"] == []  # nothing half-added


async def test_bytes_corrupted_on_the_way_are_reported_and_removed(
    jp_fetch: Any, workspace: Path, live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The extension hashes what it reads as it streams; when the backend's sha256 of what it
    stored differs, the object is deleted again and the upload answers an integrity problem."""
    read_and_hash = client_mod._read_and_hash

    def corrupting(fh: BinaryIO, hasher: Any) -> bytes:
        chunk = read_and_hash(fh, hasher)
        return chunk[:-1] + b"X" if chunk else chunk

    monkeypatch.setattr(client_mod, "_read_and_hash", corrupting)
    tag_table(workspace, "flaky", b"region,n\nNorth,12\n")
    rid = (await live.client("alice").create_request())["id"]
    r = await post_json(jp_fetch, "trevor", "requests", rid, "outputs", "flaky")
    assert r.code == 502
    assert problem_of(r)["type"].endswith("/integrity")
    req = (await live.client("alice").get(f"/api/v1/requests/{rid}")).json
    assert [o for o in req["objects"] if o["state"] != "DELETED"] == []


async def test_jupyter_answers_while_an_upload_is_in_progress(
    jp_fetch: Any, workspace: Path, live: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload's reading and hashing wait in a worker thread (held here after the first
    chunk), so Jupyter's own API answers while the upload is provably still running."""
    first_chunk_read, release = threading.Event(), threading.Event()
    read_and_hash = client_mod._read_and_hash

    def held(fh: BinaryIO, hasher: Any) -> bytes:
        if first_chunk_read.is_set():
            release.wait(60)
        chunk = read_and_hash(fh, hasher)
        first_chunk_read.set()
        return chunk

    monkeypatch.setattr(client_mod, "_read_and_hash", held)
    data = b"region,n\nNorth,12\n" * (client_mod.UPLOAD_CHUNK_SIZE // 10)  # 2 chunks
    tag_table(workspace, "big", data)
    rid = (await live.client("alice").create_request())["id"]
    upload = asyncio.ensure_future(post_json(jp_fetch, "trevor", "requests", rid, "outputs", "big"))
    try:
        assert await asyncio.to_thread(first_chunk_read.wait, 60)
        status = await jp_fetch("api", "status")
        assert status.code == 200
        assert not upload.done()  # answered during the upload, not after it
    finally:
        release.set()
    r = await upload
    assert r.code == 201, r.body
    assert json.loads(r.body)["sha256"] == hashlib.sha256(data).hexdigest()


async def test_refused_metadata_names_the_added_object(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    tag_table(workspace, "odd", b"a\n1\n", statbarn="NotAStatbarn")
    rid = (await live.client("alice").create_request())["id"]
    r = await post_json(jp_fetch, "trevor", "requests", rid, "outputs", "odd")
    assert 400 <= r.code < 500
    body = problem_of(r)
    assert body["object_id"]
    assert "was added to the request" in body["detail"]
    assert any(e["pointer"] == "/statbarn" for e in body.get("errors", []))


async def test_upload_into_someone_elses_request_is_refused(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    tag_table(workspace, "mine", b"a\n1\n")
    rid = (await live.client("bob").create_request(project="p2"))["id"]
    r = await post_json(jp_fetch, "trevor", "requests", rid, "outputs", "mine")
    assert r.code in (403, 404)
    problem_of(r)
    req = (await live.client("bob").get(f"/api/v1/requests/{rid}")).json
    assert req["objects"] == []


def parse_sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.split("\n\n"):
        lines = [ln for ln in block.splitlines() if ln and not ln.startswith(":")]
        data = [ln[6:] for ln in lines if ln.startswith("data: ")]
        ids = [ln[4:] for ln in lines if ln.startswith("id: ")]
        if data:
            events.append({"id": ids[-1] if ids else None, **json.loads("\n".join(data))})
    return events


async def test_events_are_relayed_with_resume(jp_fetch: Any, live: Any) -> None:
    alice = live.client("alice")
    first = await alice.create_request(title="First")
    second = await alice.create_request(title="Second")

    r = await jp_fetch("trevor", "events", params={"last_event_id": "0", "follow": "0"})
    assert r.headers["Content-Type"].startswith("text/event-stream")
    events = parse_sse(r.body.decode())
    created = [e for e in events if e["type"] == "request.created"]
    assert [e["request_id"] for e in created] == [first["id"], second["id"]]

    # Resuming with Last-Event-ID (as the panel does after a reconnect) skips what was seen.
    r = await jp_fetch(
        "trevor",
        "events",
        params={"follow": "0"},
        headers={"Last-Event-ID": str(created[0]["id"])},
    )
    later = parse_sse(r.body.decode())
    assert first["id"] not in [e.get("request_id") for e in later]
    assert second["id"] in [e.get("request_id") for e in later]


async def test_events_error_is_relayed_as_problem(jp_fetch: Any) -> None:
    r = await fetch(jp_fetch, "trevor", "events", headers={"Last-Event-ID": "not-a-number"})
    assert r.code == 422
    assert any(e["pointer"] == "/last_event_id" for e in problem_of(r)["errors"])


async def approved_ingress(live: Any, data: bytes, filename: str = "codes.csv") -> str:
    """An ingress request whose file an outside party uploaded and two checkers approved."""
    from tests.backend.test_ingress import approve_ingress, ingress_request, local_path, slot
    from tests.fixtures.backend import Client

    rid = await ingress_request(live)
    root = live.client("root")
    issued = (await slot(root, rid, data, filename)).json
    put = await Client(live.url, None).request("PUT", local_path(issued["url"]), body=data)
    assert put.status == 200, put.body
    fin = await root.post(f"/api/v1/requests/{rid}/uploads/{issued['object_id']}/finalize")
    assert fin.status == 201, fin.body
    await approve_ingress(live, rid)
    return rid


async def test_inbox_delivery_through_the_extension(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    data = b"code,label\n1,alpha\n2,beta\n"
    rid = await approved_ingress(live, data)

    r = await post_json(jp_fetch, "trevor", "inbox")
    body = json.loads(r.body)
    assert [(x["status"], x["path"]) for x in body["results"]] == [
        ("delivered", f"inbox/{rid}/codes.csv")
    ]
    assert (workspace / "inbox" / rid / "codes.csv").read_bytes() == data
    assert [i["path"] for i in body["items"]] == [f"inbox/{rid}/codes.csv"]
    # Acknowledged: the backend has nothing left to deliver and the request is released.
    assert (await live.client("alice").get("/api/v1/deliveries")).json["items"] == []
    assert (await live.client("root").get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"

    # Running again delivers nothing and changes nothing.
    again = json.loads((await post_json(jp_fetch, "trevor", "inbox")).body)
    assert again["results"] == []
    listed = json.loads((await jp_fetch("trevor", "inbox")).body)["items"]
    assert [i["path"] for i in listed] == [f"inbox/{rid}/codes.csv"]


async def test_inbox_refuses_to_overwrite_and_does_not_acknowledge(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    rid = await approved_ingress(live, b"new,content\n")
    mine = workspace / "inbox" / rid / "codes.csv"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own edits\n")

    body = json.loads((await post_json(jp_fetch, "trevor", "inbox")).body)
    assert [(x["status"], x["code"]) for x in body["results"]] == [("rejected", "exists")]
    assert mine.read_bytes() == b"my own edits\n"
    # Not acknowledged: still pending at the backend, the request not released.
    assert len((await live.client("alice").get("/api/v1/deliveries")).json["items"]) == 1
    assert (await live.client("root").get(f"/api/v1/requests/{rid}")).json["status"] != "RELEASED"


async def test_kernel_tagged_table_lists_and_uploads_with_its_evidence(
    jp_fetch: Any, workspace: Path, live: Any
) -> None:
    """The kernel API's own writer (trevor.crosstab + trevor.tag) and this extension agree on
    the manifest: the listing shows its metadata and verdict, and the upload carries its
    evidence, which the backend accepts as bound to the file."""
    import pandas as pd

    import jupyter_trevor as trevor

    df = pd.DataFrame({"sex": ["F"] * 30 + ["M"] * 30, "region": ["N", "S"] * 30})
    table = trevor.crosstab(df["sex"], df["region"])
    tagged = trevor.tag(
        table,
        title="Sex by region",
        statbarn=STATBARN,
        justification="Table 1",
        workspace_dir=workspace,
    )

    items = json.loads((await jp_fetch("trevor", "outputs")).body)["items"]
    assert [(i["id"], i["title"], i["statbarn"]) for i in items] == [
        (tagged.id, "Sex by region", STATBARN)
    ]
    assert items[0]["verdict"]["status"] == tagged.status
    assert items[0]["has_evidence"] is True

    rid = (await live.client("alice").create_request())["id"]
    r = await post_json(jp_fetch, "trevor", "requests", rid, "outputs", tagged.id)
    assert r.code == 201, r.body
    obj = json.loads(r.body)
    assert obj["has_evidence"] is True
    assert obj["metadata"]["justification"] == "Table 1"
    assert obj["filename"] == items[0]["filename"]
