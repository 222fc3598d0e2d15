"""The reconciler: runs every configured job in turn, forever (``start``) or once.

There is no in-memory queue. Each job asks the database what is due, claims it, does the work
idempotently and commits the result; several processes sharing one database share the work
without coordinating through anything but the database (docs/review-workflow.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from traitlets import TraitError, Type
from traitlets.utils.importstring import import_item

from .base import Job
from .context import DEFAULT_LEASE, JobContext, log


class JobClass(Type):  # type: ignore[type-arg]
    """A ``Job`` subclass, by import path in configuration. Anything else fails when the
    configuration is read, naming the entry and why, so a process never starts without a job
    it was told to run (an approved request would otherwise never be released)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(klass=Job, **kwargs)

    def validate(self, obj: Any, value: Any) -> Any:
        if not isinstance(value, str):
            return super().validate(obj, value)
        try:
            cls = import_item(value)
        except Exception as exc:
            cause = exc.__cause__ or exc
            raise TraitError(
                value, f"an importable Job class ({type(cause).__name__}: {cause})", self
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Job)):
            raise TraitError(value, "a subclass of trevor_backend.jobs.Job", self)
        return cls


class JobConfigError(RuntimeError):
    """A configured job cannot run: the process must not start without it."""


def build_jobs(classes: Sequence[type[Job]], parent: Any = None) -> list[Job]:
    """One instance of each job class, configured from ``parent``; a job that cannot be built
    stops the start with its name."""
    jobs: list[Job] = []
    for cls in classes:
        try:
            jobs.append(cls(parent=parent))
        except Exception as exc:
            name = f"{cls.__module__}.{cls.__qualname__}"
            raise JobConfigError(f"reconciler job {name} could not be built: {exc}") from exc
    return jobs


class Reconciler:
    """Runs every job in turn, forever (``start``), or once (``run_once``)."""

    def __init__(
        self,
        ctx: Any,
        jobs: Sequence[Job],
        *,
        interval: float = 2.0,
        lease_seconds: float = DEFAULT_LEASE,
        owner: str | None = None,
        app: Any = None,
    ) -> None:
        self.jobs = list(jobs)
        self.interval = interval
        extra: dict[str, Any] = {"lease_seconds": lease_seconds, "app": app}
        if owner:
            extra["owner"] = owner
        self.ctx = JobContext.of(ctx, **extra)
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
