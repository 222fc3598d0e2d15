"""Verified reads (issue 10, item 5): content and preview check the stored bytes against the
sha256 recorded at upload, on the local store and on S3 (SeaweedFS). Bytes changed, cut short,
grown or removed behind the database's back give a 409 problem and one admin alert per
object — never a 500, never altered bytes delivered as a complete body."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select
from tornado.httpclient import AsyncHTTPClient
from tornado.simple_httpclient import HTTPStreamClosedError
from traitlets.config import Config

from tests.fixtures.backend import LiveBackend
from tests.fixtures.seaweedfs import S3Server
from trevor_backend.orm import AuditEvent, Notification, OutputObject, User
from trevor_backend.storage import S3Store, verified

SMALL = b"region,count\n" + b"".join(b"r%03d,%d\n" % (i, i * 7) for i in range(200))
# Larger than the verified-before-sending window set below, so it streams.
LARGE = bytes(range(256)) * 1200


@pytest.fixture(params=["local", "s3"])
def backend_traits(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "local":
        return {}
    s3: S3Server = request.getfixturevalue("s3_server")
    return {
        "storage_class": S3Store,
        "config": Config({"S3Store": s3.store_kwargs(s3.create_bucket())}),
    }


@pytest.fixture(autouse=True)
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # The production window is 16 MiB; a small one lets the streamed path run on small files.
    monkeypatch.setattr(verified, "HOLD_BYTES", 64 * 1024)
    monkeypatch.setattr(verified, "CHUNK", 16 * 1024)


async def storage_key(live: LiveBackend, oid: str) -> str:
    async with live.backend.ctx.sessions() as s:
        obj = await s.get(OutputObject, oid)
        assert obj is not None
        return obj.storage_key


async def fetch_raw(live: LiveBackend, path: str) -> tuple[int, bytes]:
    """GET as a client that keeps whatever arrives, even from a connection cut short."""
    got: list[bytes] = []
    try:
        resp = await AsyncHTTPClient().fetch(
            live.url + path,
            headers={"Authorization": f"Bearer {live.tokens['alice']}"},
            streaming_callback=got.append,
            raise_error=False,
            request_timeout=60,
        )
    except HTTPStreamClosedError:
        return 599, b"".join(got)
    return resp.code, b"".join(got)


async def test_changed_or_missing_bytes_are_never_served(live: LiveBackend) -> None:
    alice = live.client("alice")
    store = live.backend.ctx.store
    rid = (await alice.create_request())["id"]
    names = ("changed.csv", "missing.csv", "short.csv", "grown.csv", "intact.csv")
    small = {n: (await alice.upload(rid, SMALL, n)).json["id"] for n in names}
    large = {n: (await alice.upload(rid, LARGE, n)).json["id"] for n in ("late.bin", "long.bin")}

    await store.put_bytes(
        await storage_key(live, small["changed.csv"]), SMALL.replace(b"r007", b"r008")
    )
    await store.delete(await storage_key(live, small["missing.csv"]))
    await store.put_bytes(await storage_key(live, small["short.csv"]), SMALL[:-5])
    await store.put_bytes(await storage_key(live, small["grown.csv"]), SMALL + b"r999,1\n")
    await store.put_bytes(await storage_key(live, large["late.bin"]), LARGE[:-1] + b"\x00")
    await store.put_bytes(await storage_key(live, large["long.bin"]), LARGE + b"extra")

    base = f"/api/v1/requests/{rid}/objects"
    for name, reason in (
        ("changed.csv", "changed"),
        ("missing.csv", "missing"),
        ("short.csv", "changed"),
        ("grown.csv", "changed"),
    ):
        for surface in ("content", "preview"):
            reply = await alice.get(f"{base}/{small[name]}/{surface}")
            assert reply.status == 409, (name, surface, reply.status, reply.body[:200])
            assert reply.content_type.startswith("application/problem+json")
            assert reply.json["reason"] == reason and reply.json["object_id"] == small[name]
            assert SMALL[:20] not in reply.body

    # Larger objects stream, but the body stops short: the client never holds a complete
    # body of altered bytes, and what it did receive is the start of the recorded object.
    for name in ("late.bin", "long.bin"):
        code, body = await fetch_raw(live, f"{base}/{large[name]}/content")
        assert code != 200 or len(body) < len(LARGE), name
        assert len(body) < len(LARGE) and LARGE.startswith(body), name

    # Intact objects read normally through the same path, small and large.
    ok = await alice.get(f"{base}/{small['intact.csv']}/content")
    assert ok.status == 200 and ok.body == SMALL
    assert ok.headers["X-Trevor-Sha256"] == hashlib.sha256(SMALL).hexdigest()
    assert (await alice.get(f"{base}/{small['intact.csv']}/preview")).status == 200
    await store.put_bytes(await storage_key(live, large["late.bin"]), LARGE)
    code, body = await fetch_raw(live, f"{base}/{large['late.bin']}/content")
    assert code == 200 and body == LARGE

    # Every failed read is audited; admins hear once per broken object, not once per read.
    async with live.backend.ctx.sessions() as s:
        failed = list(
            await s.scalars(select(AuditEvent).where(AuditEvent.type == "object.integrity_failed"))
        )
        alerts = list(
            await s.scalars(
                select(Notification)
                .join(User, User.id == Notification.user_id)
                .where(User.username == "root", Notification.event_type == "integrity_failed")
            )
        )
    assert len(failed) == 4 * 2 + 2
    broken = [small[n] for n in names if n != "intact.csv"] + list(large.values())
    assert sorted(a.payload["object"] for a in alerts) == sorted(broken)
