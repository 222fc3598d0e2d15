"""Leases: how a job claims work in the database, keeps it while it works, and gives it back.

A leased row has ``id``, ``lease_owner``, ``lease_expires_at`` and ``attempts`` columns (request
rows and outbox messages do). The conditional UPDATE is the claim: it matches only while the
row is still due and unleased, and its row count says whether this process won. On PostgreSQL
the candidates are first selected ``FOR UPDATE SKIP LOCKED`` so that concurrent processes take
different rows instead of queueing on the same ones; on SQLite every write transaction is
``BEGIN IMMEDIATE`` (see ``db.py``), which already serialises claimers.

Lease times come from the claiming process's clock: replicas must keep their clocks in sync
(NTP) to within a small fraction of the lease.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .context import JobContext, now


def lease_free(model: Any, at: datetime) -> ColumnElement[bool]:
    """No live lease on the row: never leased, given back, or expired."""
    return or_(model.lease_expires_at.is_(None), model.lease_expires_at < at)


def skip_locked(session: AsyncSession, query: Select[Any]) -> Select[Any]:
    """``query`` selecting ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so that concurrent
    claimers take different rows instead of queueing on the same ones. SQLite serialises
    writers (``BEGIN IMMEDIATE``), so there the conditional UPDATE alone decides."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


async def claim(
    session: AsyncSession,
    ctx: JobContext,
    model: Any,
    due: Sequence[ColumnElement[bool]],
    *,
    order_by: Sequence[Any] = (),
    limit: int = 10,
    count_attempt: bool = True,
) -> list[str]:
    """Claim up to ``limit`` unleased rows of ``model`` matching ``due``, inside the caller's
    transaction; the ids this process won, in ``order_by`` order.

    ``count_attempt`` adds one to ``attempts`` with the claim, so that work which keeps killing
    its process still runs out of attempts instead of looping forever."""
    at = now()
    wanted = [*due, lease_free(model, at)]
    candidates = skip_locked(
        session, select(model.id).where(*wanted).order_by(*order_by, model.id).limit(limit)
    )
    values: dict[str, Any] = {"lease_owner": ctx.owner, "lease_expires_at": ctx.lease_until(at)}
    if count_attempt:
        values["attempts"] = model.attempts + 1
    claimed: list[str] = []
    for row_id in list(await session.scalars(candidates)):
        result = await session.execute(
            update(model)
            .where(model.id == row_id, *wanted)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(row_id)
    return claimed


async def renew(ctx: JobContext, model: Any, row_id: str) -> bool:
    """Push our lease on ``row_id`` out by a full lease; False if it is no longer ours."""
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(model)
            .where(model.id == row_id, model.lease_owner == ctx.owner)
            .values(lease_expires_at=ctx.lease_until())
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


async def give_back(
    ctx: JobContext,
    model: Any,
    row_id: str,
    *,
    retry_in: float | None = None,
    **values: Any,
) -> bool:
    """Hand a claimed row back, writing ``values`` (e.g. ``last_error``) — only while the lease
    is still ours: if it ran out and another process took the row, that one's outcome counts.

    ``retry_in`` keeps the row leased that many more seconds (a back-off before the next
    attempt, at most one lease); without it the lease ends now."""
    if retry_in is None:
        lease: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    else:
        delay = min(retry_in, ctx.lease_seconds)
        lease = {"lease_expires_at": now() + timedelta(seconds=delay)}
    async with ctx.sessions.begin() as session:
        result = await session.execute(
            update(model)
            .where(model.id == row_id, model.lease_owner == ctx.owner)
            .values(**lease, **values)
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class LeaseLost(Exception):
    """Another process holds the work now: whatever this one was doing must be dropped."""


class LeaseKeeper:
    """Renews the lease on a claimed row while long work runs: call it between steps; it
    renews once half the lease has passed and raises :class:`LeaseLost` if the lease is no
    longer ours (it expired and another process claimed the row). The first call always
    renews: work claimed in a batch may start only after its lease has run out."""

    def __init__(self, ctx: JobContext, model: Any, row_id: str) -> None:
        self.ctx, self.model, self.row_id = ctx, model, row_id
        self.renewed: float | None = None

    async def __call__(self) -> None:
        if self.renewed is not None and (
            time.monotonic() - self.renewed < self.ctx.lease_seconds / 2
        ):
            return
        if not await renew(self.ctx, self.model, self.row_id):
            raise LeaseLost(self.row_id)
        self.renewed = time.monotonic()
