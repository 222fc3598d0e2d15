"""Ingress on the local store: HMAC-signed upload links for outside parties, finalize with
re-verification, the normal review flow, and delivery to the project's researchers
(docs/ingress.md). The same flow against real S3 is in test_ingress_s3.py."""

from __future__ import annotations

import hashlib
import urllib.parse
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.backend.review_support import run_agent
from tests.backend.test_release import audit_events
from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.orm import IngressUpload, OutputObject, utcnow
from trevor_backend.services import signing

DATA = b"id,dose\n1,5\n2,7\n" * 1000


async def ingress_request(live: LiveBackend, opener: str = "root") -> str:
    reply = await live.client(opener).post(
        "/api/v1/requests",
        {"project": "p1", "direction": "ingress", "title": "Reference codes", "description": "x"},
    )
    assert reply.status == 201, reply.body
    return reply.json["id"]


async def slot(client: Client, rid: str, data: bytes, filename: str = "codes.csv") -> Any:
    return await client.post(
        f"/api/v1/requests/{rid}/uploads",
        {"filename": filename, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    )


def local_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def approve_ingress(live: LiveBackend, rid: str) -> None:
    """The same review flow as egress: the agent's file-level checks, then two checkers."""
    assert (await live.client("root").post(f"/api/v1/requests/{rid}/submit")).status == 200
    await run_agent(live)
    req = (await live.client("root").get(f"/api/v1/requests/{rid}")).json
    assert req["status"] == "HUMAN_REVIEW", req["status"]
    for checker in ("carol", "dave"):
        body = {
            "decision": "approve",
            "summary": "safe to bring in",
            "objects": [{"object_id": o["id"], "decision": "approve"} for o in req["objects"]],
        }
        reply = await live.client(checker).post(f"/api/v1/requests/{rid}/reviews", body)
        assert reply.status in (200, 201), reply.body
    assert (await live.client("root").get(f"/api/v1/requests/{rid}")).json["status"] == "APPROVED"


async def test_ingress_through_a_signed_link_to_the_researchers_workspace(
    live: LiveBackend,
) -> None:
    rid = await ingress_request(live, "erin")  # a senior checker may open one too
    root = live.client("root")
    issued = await slot(root, rid, DATA)
    assert issued.status == 201, issued.body
    oid, url = issued.json["object_id"], issued.json["url"]
    assert url.startswith(f"{live.app.public_url}/uploads/{oid}?")
    assert issued.json["headers"] == {"Content-Length": str(len(DATA))}

    # The outside party has no account: plain HTTP PUT with the file as the body.
    outsider = Client(live.url, None)
    put = await outsider.request("PUT", local_path(url), body=DATA)
    assert put.status == 200, put.body
    assert put.json["sha256"] == hashlib.sha256(DATA).hexdigest()
    # Nothing is in the request until finalize.
    assert (await root.get(f"/api/v1/requests/{rid}")).json["objects"] == []

    fin = await root.post(f"/api/v1/requests/{rid}/uploads/{oid}/finalize")
    assert fin.status == 201, fin.body
    assert fin.json["id"] == oid and fin.json["sha256"] == hashlib.sha256(DATA).hexdigest()
    again = await root.post(f"/api/v1/requests/{rid}/uploads/{oid}/finalize")
    assert again.status == 409
    # After finalize the link no longer writes anything, and cannot change the object.
    assert (await outsider.request("PUT", local_path(url), body=DATA)).status == 409

    # Unreviewed files are out of the researchers' reach until the checkers approve them.
    alice = live.client("alice")
    assert (await alice.get(f"/api/v1/requests/{rid}")).status == 404
    assert (await alice.get(f"/api/v1/requests/{rid}/objects/{oid}/content")).status == 404
    listed = (await alice.get("/api/v1/requests?direction=ingress")).json["items"]
    assert listed == []

    await approve_ingress(live, rid)

    assert (await alice.get(f"/api/v1/requests/{rid}")).status == 200
    listing = await alice.get("/api/v1/deliveries")
    assert listing.status == 200, listing.body
    [item] = listing.json["items"]
    assert item["request_id"] == rid and item["object_id"] == oid
    assert item["filename"] == "codes.csv" and item["size"] == len(DATA)
    assert item["content_url"] == f"/api/v1/requests/{rid}/objects/{oid}/content"
    content = await alice.get(item["content_url"])
    assert content.status == 200 and hashlib.sha256(content.body).hexdigest() == item["sha256"]
    # Not for researchers of other projects, nor for checkers.
    for other in ("bob", "carol", "root"):
        assert (await live.client(other).get("/api/v1/deliveries")).json["items"] == []

    wrong = await alice.post(f"/api/v1/deliveries/{oid}/ack", {"sha256": "0" * 64})
    assert wrong.status == 422 and wrong.json["errors"][0]["pointer"] == "/sha256"
    assert (await root.get(f"/api/v1/requests/{rid}")).json["status"] == "APPROVED"
    ack = await alice.post(
        f"/api/v1/deliveries/{oid}/ack", {"sha256": item["sha256"], "target": "inbox/x"}
    )
    assert ack.status == 200, ack.body
    assert ack.json["request_status"] == "RELEASED"
    # Acknowledging again (a lost reply) is harmless and recorded once.
    assert (
        await alice.post(f"/api/v1/deliveries/{oid}/ack", {"sha256": item["sha256"]})
    ).status == 200
    assert len(await audit_events(live, rid, "delivery.acknowledged")) == 1
    assert len(await audit_events(live, rid, "ingress.delivered")) == 1
    assert (await alice.get("/api/v1/deliveries")).json["items"] == []
    assert (await root.get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"
    # Others may not acknowledge what was not for them.
    assert (
        await live.client("bob").post(f"/api/v1/deliveries/{oid}/ack", {"sha256": item["sha256"]})
    ).status == 404


async def test_upload_links_refuse_altered_expired_and_wrong_bytes(live: LiveBackend) -> None:
    rid = await ingress_request(live)
    root = live.client("root")
    issued = (await slot(root, rid, DATA)).json
    oid, url = issued["object_id"], issued["url"]
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    outsider = Client(live.url, None)

    sig = query["signature"]
    for q in (
        {**query, "signature": ("f" if sig[0] != "f" else "e") + sig[1:]},
        {**query, "expires": str(int(query["expires"]) + 60)},
        {"expires": query["expires"]},
    ):
        got = await outsider.request("PUT", f"{parts.path}?{urllib.parse.urlencode(q)}", body=DATA)
        assert got.status == 403, got.body
        assert got.content_type.startswith("application/problem+json")
    # A valid signature for one slot does not open another.
    other = (await slot(root, rid, DATA, "other.csv")).json["object_id"]
    assert (
        await outsider.request("PUT", f"/uploads/{other}?{parts.query}", body=DATA)
    ).status == 403
    # A correctly signed link whose time has passed is refused.
    expired = signing.signed_url(
        live.url,
        f"/uploads/{oid}",
        live.backend.ctx.settings.secret_key,
        signing.UPLOAD,
        oid,
        utcnow() - timedelta(seconds=1),
    )
    got = await outsider.request("PUT", expired[len(live.url) :], body=DATA)
    assert got.status == 403 and "expired" in got.json["detail"]

    # Bytes that are not the announced file are refused on arrival and not kept.
    tampered = DATA.replace(b"5", b"6")
    got = await outsider.request("PUT", local_path(url), body=tampered)
    assert got.status == 422, got.body
    assert (await outsider.request("PUT", local_path(url), body=DATA + b"x")).status in (413, 422)
    assert [k async for k in live.backend.ctx.store.list_keys("ingress-incoming/")] == []
    fin = await root.post(f"/api/v1/requests/{rid}/uploads/{oid}/finalize")
    assert fin.status == 409 and "nothing has been uploaded" in fin.json["detail"]

    # Bytes that reached the store some other way are checked again at finalize.
    async with live.backend.ctx.sessions() as session:
        key = (await session.get(IngressUpload, oid)).storage_key  # type: ignore[union-attr]
    await live.backend.ctx.store.put_bytes(key, tampered)
    fin = await root.post(f"/api/v1/requests/{rid}/uploads/{oid}/finalize")
    assert fin.status == 422, fin.body
    assert fin.json["errors"][0]["pointer"] == "/sha256"
    assert len(await audit_events(live, rid, "ingress.upload_rejected")) == 1
    async with live.backend.ctx.sessions() as session:
        assert await session.scalar(select(OutputObject).where(OutputObject.id == oid)) is None
    assert [k async for k in live.backend.ctx.store.list_keys(f"quarantine/p1/{rid}/")] == []
    # The link still works for the right file.
    assert (await outsider.request("PUT", local_path(url), body=DATA)).status == 200
    assert (await root.post(f"/api/v1/requests/{rid}/uploads/{oid}/finalize")).status == 201


async def test_who_may_make_upload_links(live: LiveBackend) -> None:
    rid = await ingress_request(live)
    body = {"filename": "a.csv", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}
    # A researcher does not even see the request before approval (404), like any outsider.
    assert (await live.client("alice").post(f"/api/v1/requests/{rid}/uploads", body)).status == 404
    assert (await live.client("bob").post(f"/api/v1/requests/{rid}/uploads", body)).status == 404
    assert (await live.client("erin").post(f"/api/v1/requests/{rid}/uploads", body)).status == 201
    assert (
        await Client(live.url, None).post(f"/api/v1/requests/{rid}/uploads", body)
    ).status == 401
    # Bad input is refused with pointers and creates nothing.
    root = live.client("root")
    for bad, pointer in (
        ({**body, "sha256": "xyz" * 21 + "z"}, "/sha256"),
        ({**body, "filename": "../etc/passwd"}, "/filename"),
        ({**body, "size": -1}, "/size"),
        ({**body, "extra": 1}, "/extra"),
    ):
        got = await root.post(f"/api/v1/requests/{rid}/uploads", bad)
        assert got.status == 422, (bad, got.body)
        assert got.json["errors"][0]["pointer"] == pointer
    async with live.backend.ctx.sessions() as session:
        slots = list(
            await session.scalars(select(IngressUpload).where(IngressUpload.request_id == rid))
        )
    assert len(slots) == 1
    # Once submitted, no more files come in.
    up = await slot(root, rid, b"abc", "a.csv")
    await Client(live.url, None).request("PUT", local_path(up.json["url"]), body=b"abc")
    assert (
        await root.post(f"/api/v1/requests/{rid}/uploads/{up.json['object_id']}/finalize")
    ).status == 201
    assert (await root.post(f"/api/v1/requests/{rid}/submit")).status == 200
    assert (await root.post(f"/api/v1/requests/{rid}/uploads", body)).status == 409


async def test_the_workspace_inbox_delivers_and_acknowledges(
    live: LiveBackend, tmp_path: Path
) -> None:
    """The researcher's Jupyter side (jupyter_trevor.inbox with the real backend client) against
    this API: the file lands in the inbox verified, and its acknowledgement releases the request."""
    from jupyter_trevor.client import BackendClient
    from jupyter_trevor.inbox import deliver_all

    rid = await ingress_request(live)
    root = live.client("root")
    issued = (await slot(root, rid, DATA)).json
    assert (
        await Client(live.url, None).request("PUT", local_path(issued["url"]), body=DATA)
    ).status == 200
    assert (
        await root.post(f"/api/v1/requests/{rid}/uploads/{issued['object_id']}/finalize")
    ).status == 201
    await approve_ingress(live, rid)

    client = BackendClient(backend_url=live.url, token=live.tokens["alice"])
    try:
        listing = await client.json("GET", "deliveries")

        async def download(url: str, out: Any, max_bytes: int | None) -> str:
            return await client.download_to(url, out, max_bytes=max_bytes)

        async def acknowledge(item: Any) -> None:
            await client.request(
                "POST", f"deliveries/{item.object_id}/ack", json_body={"sha256": item.sha256}
            )

        results = await deliver_all(
            listing["items"],
            workspace=tmp_path,
            inbox_dir="inbox",
            download=download,
            acknowledge=acknowledge,
        )
    finally:
        client.close()
    assert [r.status for r in results] == ["delivered"]
    delivered = list((tmp_path / "inbox").rglob("codes.csv"))
    assert len(delivered) == 1 and delivered[0].read_bytes() == DATA
    assert (await root.get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"


async def test_concurrent_finalizes_record_the_file_once(live: LiveBackend) -> None:
    import asyncio

    rid = await ingress_request(live)
    root = live.client("root")
    issued = (await slot(root, rid, DATA)).json
    oid = issued["object_id"]
    outsider = Client(live.url, None)
    assert (await outsider.request("PUT", local_path(issued["url"]), body=DATA)).status == 200
    path = f"/api/v1/requests/{rid}/uploads/{oid}/finalize"
    replies = await asyncio.gather(*(root.post(path) for _ in range(3)))
    assert sorted(r.status for r in replies) == [201, 409, 409], [r.body for r in replies]
    # The loser did not take the winner's bytes away.
    content = await root.get(f"/api/v1/requests/{rid}/objects/{oid}/content")
    assert content.status == 200 and content.body == DATA
