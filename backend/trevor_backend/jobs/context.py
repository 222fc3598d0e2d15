"""What a job gets on every run: the services' context plus its lease identity."""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("trevor_backend.jobs")


def owner_name() -> str:
    """A lease owner name unique to this process (host, pid and a random suffix); it fits the
    64-character ``lease_owner`` columns."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def now() -> datetime:
    return datetime.now(UTC)


#: How long a claim lasts unless the application says otherwise (``lease_seconds``).
DEFAULT_LEASE = 60.0


@dataclasses.dataclass
class JobContext:
    """The services' context (engine, sessions, store, settings, notifiers — read through
    this object as if it were that context) plus the lease owner name and duration, the
    application and a logger.

    The framework sits below the services, so it holds their context without knowing its
    type; the jobs, which live with their services, use it as they would anywhere else."""

    services: Any
    owner: str = dataclasses.field(default_factory=owner_name)
    lease_seconds: float = DEFAULT_LEASE
    app: Any = None
    log: logging.Logger = log

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        sessions: async_sessionmaker[AsyncSession] = self.services.sessions
        return sessions

    def __getattr__(self, name: str) -> Any:
        if name == "services":  # not set yet (copying): no recursion through ourselves
            raise AttributeError(name)
        return getattr(self.services, name)

    def lease_until(self, at: datetime | None = None) -> datetime:
        return (at or now()) + timedelta(seconds=self.lease_seconds)

    @classmethod
    def of(cls, ctx: Any, **extra: Any) -> JobContext:
        """``ctx`` as a job context: a services' context gets a fresh owner name and the
        default lease (how tests run one job by hand); a job context is copied with
        ``extra`` applied."""
        if isinstance(ctx, JobContext):
            return dataclasses.replace(ctx, **extra)
        return cls(services=ctx, **extra)
