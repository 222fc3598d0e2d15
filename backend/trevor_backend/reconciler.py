"""The reconciler: background work derived from state, claimed with leases (SPEC §3).

There is no in-memory queue. Each job asks the database what is due (a request in SUBMITTED
needs an agent review, an unsent outbox row needs sending, …), claims it with a lease, does the
work idempotently and commits the resulting transition. A process killed mid-job leaves only an
expiring lease: when it runs out, any backend process (or the restarted one) claims the work
again, and a uniqueness guard on the result (e.g. ``uq_reviews_agent_key``) makes the repeat
harmless. Several backend processes sharing one PostgreSQL database therefore share the work
without coordinating through anything but the database.

Writing a job
-------------
A job is a small class with ``async def run_once(self, ctx: JobContext) -> int`` returning the
number of items it finished (0 when nothing was due). It is listed by import path in
``TrevorBackend.reconciler_jobs`` and built once per process: a :class:`traitlets.config.
Configurable` subclass as ``cls(parent=app)`` (so it can have configurable traits), anything
else as ``cls()``. ``ctx`` is a :class:`JobContext` — the services' :class:`Context` (engine,
sessions, store, settings) plus the lease owner name and duration, the application and a
logger. :func:`claim_requests` claims request rows; jobs on other tables follow the same
pattern with their own lease columns.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets.config import Configurable
from traitlets.utils.importstring import import_item

from .contract import RequestStatus
from .orm import AirlockRequest, utcnow
from .services.context import Context

log = logging.getLogger("trevor_backend.reconciler")

#: Fault-injection hook for the crash tests: when this environment variable is "1", a job
#: that has just committed a claim kills its own process (exit status 137, as SIGKILL would),
#: before doing the work. Never set it outside tests.
CRASH_AFTER_CLAIM_ENV = "TREVOR_TEST_CRASH_AFTER_CLAIM"


def crash_after_claim_hook() -> None:
    """Fault injection (tests only): die like a SIGKILLed process right after a claim."""
    if os.environ.get(CRASH_AFTER_CLAIM_ENV) == "1":
        log.error("fault injection: %s=1, exiting with 137 after a claim", CRASH_AFTER_CLAIM_ENV)
        logging.shutdown()
        os._exit(137)


@dataclasses.dataclass
class JobContext(Context):
    """What a job gets on every run: the services' context plus its lease identity."""

    owner: str = ""
    lease_seconds: float = 60.0
    app: Any = None
    log: logging.Logger = log

    def lease_until(self, now: datetime | None = None) -> datetime:
        return (now or utcnow()) + timedelta(seconds=self.lease_seconds)

    @classmethod
    def of(cls, ctx: Context, **extra: Any) -> JobContext:
        base = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(Context)}
        return cls(**base, **extra)


class Job(Protocol):
    async def run_once(self, ctx: JobContext) -> int: ...


def lease_free(now: datetime) -> ColumnElement[bool]:
    """No live lease on the request row: never leased, released, or expired."""
    return or_(AirlockRequest.lease_expires_at.is_(None), AirlockRequest.lease_expires_at < now)


async def claim_requests(
    session: AsyncSession,
    ctx: JobContext,
    statuses: Sequence[RequestStatus],
    *,
    limit: int = 10,
) -> list[str]:
    """Claim up to ``limit`` due requests in ``statuses`` inside the caller's transaction.

    The conditional UPDATE is the claim: it matches only while the row is still in one of the
    states and unleased, and its row count says whether this process won. On PostgreSQL the
    candidates are first selected ``FOR UPDATE SKIP LOCKED`` so that concurrent reconcilers take
    different rows instead of queueing on the same ones; on SQLite every write transaction is
    ``BEGIN IMMEDIATE`` (see ``db.py``), which already serialises claimers.

    Timestamps come from the claiming process's clock: replicas must keep their clocks in sync
    (NTP) to within a small fraction of the lease.
    """
    now = utcnow()
    wanted = [s.value for s in statuses]
    candidates = (
        select(AirlockRequest.id)
        .where(AirlockRequest.status.in_(wanted), lease_free(now))
        .order_by(AirlockRequest.submitted_at, AirlockRequest.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed: list[str] = []
    for rid in list(await session.scalars(candidates)):
        result = await session.execute(
            update(AirlockRequest)
            .where(
                AirlockRequest.id == rid,
                AirlockRequest.status.in_(wanted),
                lease_free(now),
            )
            .values(
                lease_owner=ctx.owner,
                lease_expires_at=ctx.lease_until(now),
                attempts=AirlockRequest.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(rid)
    return claimed


class LeaseLost(Exception):
    """Another process holds the work now: whatever this one was doing must be dropped."""


class LeaseKeeper:
    """Renews the lease on a claimed request while long work runs: call it between steps; it
    renews once half the lease has passed and raises :class:`LeaseLost` if the lease is no
    longer ours (it expired and another process claimed the request). The first call always
    renews: work claimed in a batch may start only after its lease has run out."""

    def __init__(self, ctx: JobContext, rid: str) -> None:
        self.ctx, self.rid = ctx, rid
        self.renewed: float | None = None

    async def __call__(self) -> None:
        if self.renewed is not None and (
            time.monotonic() - self.renewed < self.ctx.lease_seconds / 2
        ):
            return
        async with self.ctx.sessions.begin() as session:
            result = await session.execute(
                update(AirlockRequest)
                .where(AirlockRequest.id == self.rid, AirlockRequest.lease_owner == self.ctx.owner)
                .values(lease_expires_at=self.ctx.lease_until())
                .execution_options(synchronize_session=False)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(self.rid)
        self.renewed = time.monotonic()


async def release_with_error(
    ctx: JobContext, rid: str, error: str, *, retry_in: float | None = None
) -> None:
    """Give a claimed request back after a failed attempt: record why, and let the lease run
    only ``retry_in`` seconds more (a short back-off) so the work is retried soon."""
    delay = ctx.lease_seconds if retry_in is None else min(retry_in, ctx.lease_seconds)
    async with ctx.sessions.begin() as session:
        await session.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id == rid, AirlockRequest.lease_owner == ctx.owner)
            .values(
                last_error=error[:2000],
                lease_expires_at=utcnow() + timedelta(seconds=delay),
            )
            .execution_options(synchronize_session=False)
        )


# --- loading jobs ------------------------------------------------------------------------


def _not_written_yet(path: str, exc: ImportError) -> bool:
    """True when ``path`` names a module or class that does not exist (yet) — the only import
    failure tolerated. A module that exists but fails to import is a bug and must surface."""
    module = path.rpartition(".")[0]
    if isinstance(exc, ModuleNotFoundError):
        missing = exc.name or ""
        return module == missing or module.startswith(missing + ".")
    # import_item reports a missing attribute of an imported module as a bare ImportError.
    return isinstance(exc.__cause__, AttributeError)


def load_jobs(paths: Sequence[str], parent: Any = None) -> list[Any]:
    """Import and build the jobs named by ``paths`` (see the module docstring)."""
    jobs: list[Any] = []
    for path in paths:
        try:
            cls = import_item(path)
        except ImportError as exc:
            if not _not_written_yet(path, exc):
                raise
            log.warning("reconciler job %s is not available (%s); skipping it", path, exc)
            continue
        job = (
            cls(parent=parent) if isinstance(cls, type) and issubclass(cls, Configurable) else cls()
        )
        if not callable(getattr(job, "run_once", None)):
            raise TypeError(f"reconciler job {path} has no run_once(ctx) method")
        jobs.append(job)
    return jobs


def default_owner() -> str:
    """A lease owner name unique to this process (host, pid and a random suffix)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Reconciler:
    """Runs every job in turn, forever (``start``), or once (``run_once``)."""

    def __init__(
        self,
        ctx: Context,
        jobs: Sequence[Any],
        *,
        interval: float = 2.0,
        lease_seconds: float = 60.0,
        owner: str | None = None,
        app: Any = None,
    ) -> None:
        self.jobs = list(jobs)
        self.interval = interval
        self.ctx = JobContext.of(
            ctx, owner=owner or default_owner(), lease_seconds=lease_seconds, app=app
        )
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def owner(self) -> str:
        return self.ctx.owner

    async def run_once(self) -> int:
        """One pass over every job; a failing job is logged and does not stop the others."""
        done = 0
        for job in self.jobs:
            try:
                done += int(await job.run_once(self.ctx) or 0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciler job %s failed", type(job).__name__)
        return done

    async def run_until_idle(self, max_passes: int = 100) -> int:
        """Repeat passes until one finds nothing to do (for tests and ``reconcile --once``)."""
        total = 0
        for _ in range(max_passes):
            done = await self.run_once()
            total += done
            if not done:
                break
        return total

    async def _loop(self) -> None:
        log.info(
            "reconciler %s started: %d jobs, every %ss, lease %ss",
            self.owner,
            len(self.jobs),
            self.interval,
            self.ctx.lease_seconds,
        )
        while not self._stopping.is_set():
            done = await self.run_once()
            if done:
                # More may be due (jobs work in batches): go again at once, but yield first.
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):  # the interval passed: next pass
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._loop(), name="trevor-reconciler")

    async def stop(self) -> None:
        """Stop after the current job: a job cut short would only leave a lease to expire,
        but finishing it is cheaper than redoing it."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), 30)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
