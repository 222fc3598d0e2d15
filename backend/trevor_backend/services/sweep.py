"""Housekeeping for the object store: partial writes a crash left behind, and ingress upload
slots that expired without being finalized."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from traitlets import Float

from ..jobs import Job, JobContext
from ..orm import IngressUpload, utcnow


class StoreSweepJob(Job):
    """A reconciler job. Both sweeps are idempotent, so every process may run them: a second
    process finds nothing left to remove."""

    interval = Float(3600.0, config=True, help="Seconds between sweeps in each process.")
    temp_max_age = Float(
        24 * 3600.0,
        config=True,
        help="Partial writes older than this are removed (longer than any upload may pause).",
    )
    slot_grace = Float(
        24 * 3600.0,
        config=True,
        help="Unfinalized ingress uploads are removed this long after their link expired.",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._next = 0.0

    async def run_once(self, ctx: JobContext) -> int:
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.interval
        removed: int = await ctx.store.cleanup_temp(timedelta(seconds=self.temp_max_age))
        cutoff = utcnow() - timedelta(seconds=self.slot_grace)
        async with ctx.sessions() as session:
            keys = list(
                await session.scalars(
                    select(IngressUpload.storage_key).where(
                        IngressUpload.finalized_at.is_(None), IngressUpload.expires_at < cutoff
                    )
                )
            )
        for key in keys:
            # The slot row stays (it is history); only bytes nobody can finalize any more go.
            if await ctx.store.exists(key):
                await ctx.store.delete(key)
                removed += 1
        return removed
