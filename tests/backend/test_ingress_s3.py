"""Ingress and release against a real S3 server (SeaweedFS): pre-signed PUT for the outside
party, pre-signed GET for the release crate. The backend is configured with an S3 store the
way an operator would (``storage_class`` + ``S3Store`` traits; docs/storage.md)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient
from traitlets.config import Config

from tests.backend.test_ingress import approve_ingress, ingress_request, slot
from tests.backend.test_release import approved_request, audit_events
from tests.fixtures.backend import LiveBackend
from tests.fixtures.seaweedfs import S3Server
from trevor_backend.services.release_job import ReleaseJob
from trevor_backend.storage import S3Store

DATA = b"code,label\n" + b"".join(b"C%05d,label %d\n" % (i, i) for i in range(20000))


@pytest.fixture
def backend_traits(s3_server: S3Server) -> dict[str, Any]:
    bucket = s3_server.create_bucket()
    return {
        "storage_class": S3Store,
        "config": Config({"S3Store": s3_server.store_kwargs(bucket)}),
    }


async def plain_http(method: str, url: str, body: bytes | None = None) -> Any:
    """What an outside party does: a bare HTTP request, no SDK, no credentials."""
    return await AsyncHTTPClient().fetch(
        url,
        method=method,
        body=body,
        headers={"Content-Length": str(len(body))} if body is not None else None,
        raise_error=False,
        request_timeout=60,
    )


async def test_ingress_with_presigned_put_end_to_end(live: LiveBackend) -> None:
    assert isinstance(live.backend.ctx.store, S3Store)
    rid = await ingress_request(live)
    root = live.client("root")
    issued = await slot(root, rid, DATA)
    assert issued.status == 201, issued.body
    oid, url = issued.json["object_id"], issued.json["url"]
    # The URL points at S3 itself, not at the backend.
    assert url.startswith(live.backend.ctx.store.endpoint_url)
    put = await plain_http("PUT", url, DATA)
    assert put.code == 200, put.body

    fin = await root.post(f"/api/v1/requests/{rid}/uploads/{oid}/finalize")
    assert fin.status == 201, fin.body

    # A second file whose bytes are not what was announced (same size, different content).
    bad = DATA.replace(b"label 7\n", b"LABEL 7\n")
    assert len(bad) == len(DATA)
    issued2 = (await slot(root, rid, DATA, "second.csv")).json
    assert (await plain_http("PUT", issued2["url"], bad)).code == 200
    refused = await root.post(f"/api/v1/requests/{rid}/uploads/{issued2['object_id']}/finalize")
    assert refused.status == 422, refused.body
    assert refused.content_type.startswith("application/problem+json")
    assert refused.json["errors"][0]["pointer"] == "/sha256"
    keys = [k async for k in live.backend.ctx.store.list_keys(f"quarantine/p1/{rid}/")]
    assert keys == [f"quarantine/p1/{rid}/{oid}"]  # the refused upload was discarded
    # A body of another size is refused by S3 itself (Content-Length is a signed header).
    issued3 = (await slot(root, rid, DATA, "third.csv")).json
    assert (await plain_http("PUT", issued3["url"], DATA + b"more")).code == 403

    req = (await root.get(f"/api/v1/requests/{rid}")).json
    assert [o["id"] for o in req["objects"]] == [oid]
    await approve_ingress(live, rid)

    alice = live.client("alice")
    [item] = (await alice.get("/api/v1/deliveries")).json["items"]
    assert item["object_id"] == oid
    content = await alice.get(item["content_url"])
    assert content.status == 200 and content.body == DATA
    ack = await alice.post(f"/api/v1/deliveries/{oid}/ack", {"sha256": item["sha256"]})
    assert ack.status == 200 and ack.json["request_status"] == "RELEASED"


async def test_release_download_is_presigned_on_s3(live: LiveBackend) -> None:
    rid = await approved_request(live)
    assert await ReleaseJob().run_once(live.backend.ctx) == 1
    rel = (await live.client("alice").get(f"/api/v1/requests/{rid}/release")).json
    assert rel["url_kind"] == "presigned"
    assert rel["url"].startswith(live.backend.ctx.store.endpoint_url)
    got = await plain_http("GET", rel["url"])
    assert got.code == 200
    assert hashlib.sha256(got.body).hexdigest() == rel["sha256"]
    with zipfile.ZipFile(io.BytesIO(got.body)) as zf:
        assert "ro-crate-metadata.json" in zf.namelist()
    # S3 serves the bytes without us: handing out the URL is what is counted (docs/release.md).
    assert rel["downloads"] == 1
    assert len(await audit_events(live, rid, "release.url_issued")) == 1
    # An altered pre-signed URL is refused by S3.
    assert (await plain_http("GET", rel["url"].replace("Signature=", "Signature=0"))).code == 403
