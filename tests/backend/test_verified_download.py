"""The HMAC-signed release download (local store) verifies the crate's stored bytes against
the sha256 recorded at release, like object content (issue 10, item 5)."""

from __future__ import annotations

import urllib.parse

from sqlalchemy import select

from tests.backend.test_blinding import reviewed_and_released
from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.orm import ReleaseRecord


async def test_changed_crate_is_not_served(live: LiveBackend) -> None:
    rid, _ = await reviewed_and_released(live)
    url = (await live.client("alice").get(f"/api/v1/requests/{rid}/release")).json["url"]
    parts = urllib.parse.urlsplit(url)
    anon = Client(live.url, None)
    ok = await anon.get(f"{parts.path}?{parts.query}")
    assert ok.status == 200 and ok.content_type == "application/zip"

    async with live.backend.ctx.sessions() as s:
        record = await s.scalar(select(ReleaseRecord).where(ReleaseRecord.request_id == rid))
        assert record is not None
    store = live.backend.ctx.store
    crate = await store.read_bytes(record.crate_key)
    await store.put_bytes(record.crate_key, crate[:-1] + bytes([crate[-1] ^ 1]))

    bad = await anon.get(f"{parts.path}?{parts.query}")
    assert bad.status == 409 and bad.content_type.startswith("application/problem+json")
    assert bad.json["reason"] == "changed" and crate[:100] not in bad.body

    await store.delete(record.crate_key)
    gone = await anon.get(f"{parts.path}?{parts.query}")
    assert gone.status == 409 and gone.json["reason"] == "missing"
