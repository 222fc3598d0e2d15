"""Store housekeeping: partial writes left by a crash, and bytes of ingress upload links that
expired without being finalized, are removed; everything else stays."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from tests.backend.test_ingress import DATA, ingress_request, local_path, slot
from tests.fixtures.backend import Client, LiveBackend
from trevor_backend.jobs import JobContext
from trevor_backend.orm import IngressUpload, utcnow
from trevor_backend.services.sweep import StoreSweepJob


async def test_sweep_removes_stale_partials_and_expired_ingress_bytes(live: LiveBackend) -> None:
    root_dir = Path(live.data_dir) / "objects"
    # A crashed process's partial write: old, in the store's temp area.
    tmp = root_dir / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stale, fresh = tmp / "crashed-upload", tmp / "in-progress-elsewhere"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"partial")
    old = time.time() - 3 * 24 * 3600
    os.utime(stale, (old, old))

    # Two ingress links: one whose bytes arrived but was never finalized and expired long
    # ago, one still valid.
    rid = await ingress_request(live)
    root, outsider = live.client("root"), Client(live.url, None)
    abandoned = (await slot(root, rid, DATA, "a.csv")).json
    current = (await slot(root, rid, DATA, "b.csv")).json
    for issued in (abandoned, current):
        assert (await outsider.request("PUT", local_path(issued["url"]), body=DATA)).status == 200
    async with live.backend.ctx.sessions.begin() as s:
        await s.execute(
            update(IngressUpload)
            .where(IngressUpload.id == abandoned["object_id"])
            .values(expires_at=utcnow() - timedelta(days=3))
        )

    job = StoreSweepJob()
    ctx = JobContext.of(live.backend.ctx, owner="test")
    assert await job.run_once(ctx) == 2
    assert not stale.exists() and fresh.exists()
    incoming = sorted(p.name for p in (root_dir / "ingress-incoming").rglob("*") if p.is_file())
    assert incoming == [current["object_id"]]
    # The still-valid link is unaffected and can be finalized.
    fin = await root.post(f"/api/v1/requests/{rid}/uploads/{current['object_id']}/finalize")
    assert fin.status == 201, fin.body

    # Sweeps are spaced by the interval: a second run right away does nothing.
    os.utime(fresh, (old, old))
    assert await job.run_once(ctx) == 0 and fresh.exists()
