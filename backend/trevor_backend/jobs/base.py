"""The job classes: what a job declares, and the claim-then-work pass every leased job shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets import Int
from traitlets.config import LoggingConfigurable

from .context import JobContext
from .lease import claim


class Job(LoggingConfigurable):
    """One kind of background work, run on every reconciler pass.

    Built once per process as ``cls(parent=app)``, so a job can have configurable traits
    (``c.AgentReviewJob.batch_size``). ``run_once`` returns the number of items finished,
    0 when nothing was due."""

    #: a short name for logs and spans
    name: ClassVar[str] = ""

    async def run_once(self, ctx: JobContext) -> int:
        raise NotImplementedError


class LeasedJob(Job):
    """Work claimed row by row with a lease (see ``lease.py``). A subclass declares what is
    due (``model``, ``due``, ``order_by``) and the work (``work``); optionally something to do
    in the claiming transaction (``on_claim``)."""

    #: the ORM class whose rows are claimed (``id``, ``lease_owner``, ``lease_expires_at``,
    #: ``attempts``)
    model: ClassVar[Any]
    #: whether a claim counts an attempt (a job that counts its attempts itself says no)
    count_attempts: ClassVar[bool] = True

    batch_size = Int(10, config=True, help="Rows claimed at most per pass.")

    def due(self, ctx: JobContext) -> Sequence[ColumnElement[bool]]:
        """Conditions of a row that needs the work (the lease condition is added)."""
        raise NotImplementedError

    def order_by(self) -> Sequence[Any]:
        return ()

    async def on_claim(self, session: AsyncSession, ctx: JobContext, ids: list[str]) -> None:
        """Run in the claiming transaction, for a step that must commit with the claim."""

    async def work(self, ctx: JobContext, ids: list[str]) -> int:
        """Do the work on the claimed rows (after the claim committed); items finished."""
        raise NotImplementedError

    async def claim(self, ctx: JobContext) -> list[str]:
        async with ctx.sessions.begin() as session:
            ids = await claim(
                session,
                ctx,
                self.model,
                self.due(ctx),
                order_by=self.order_by(),
                limit=self.batch_size,
                count_attempt=self.count_attempts,
            )
            if ids:
                await self.on_claim(session, ctx, ids)
        return ids

    async def run_once(self, ctx: Any) -> int:
        ctx = JobContext.of(ctx) if not isinstance(ctx, JobContext) else ctx
        ids = await self.claim(ctx)
        return await self.work(ctx, ids) if ids else 0
