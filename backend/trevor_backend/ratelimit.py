"""Rate limiting per caller and per route: token buckets that every replica shares.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; each request takes
one token from the caller's bucket and, when its route has a limit of its own, one from the
caller's bucket for that route. With several backend replicas the buckets live in the database
(table ``rate_buckets``), one row per bucket, updated by a single atomic upsert that refills,
checks and takes in one statement, using the database's clock, so N replicas never give N times
the limit and skewed host clocks do not matter. A per-process store remains for SQLite (one
host, embedded) and for tests; ``TrevorBackend.rate_limit_store`` chooses.

Reads (GET, HEAD) always draw from buckets in the process's memory: a shared bucket is a row
written on every request, and reads never write (issue 10). With N replicas a caller may read N
times the limit; the writes (uploads, new requests, reviews), which cost the most, still share
one limit.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import case, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import RateLimited
from .orm import RateBucket


@dataclass(frozen=True)
class Limit:
    rate: float  # tokens per second, sustained
    burst: int  # bucket size: requests allowed at once

    @classmethod
    def parse(cls, value: Any, where: str) -> Limit:
        """``{"rate": 5, "burst": 20}`` (from configuration); ``where`` names it in errors."""
        if isinstance(value, Limit):
            return value
        if not isinstance(value, dict) or set(value) != {"rate", "burst"}:
            raise ValueError(f"{where}: expected {{'rate': <per second>, 'burst': <count>}}")
        rate, burst = value["rate"], value["burst"]
        if not isinstance(rate, int | float) or rate <= 0:
            raise ValueError(f"{where}: rate must be a positive number of requests per second")
        if not isinstance(burst, int) or burst < 1:
            raise ValueError(f"{where}: burst must be a whole number of at least 1")
        return cls(float(rate), burst)

    @property
    def window(self) -> int:
        """Seconds an empty bucket takes to fill."""
        return max(1, math.ceil(self.burst / self.rate))


@dataclass(frozen=True)
class Decision:
    """One bucket's answer: whether a token was taken and what is left."""

    allowed: bool
    limit: Limit
    tokens: float  # after the request (before it, when refused)

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.tokens))

    def headers(self) -> dict[str, str]:
        # draft-ietf-httpapi-ratelimit-headers: limit, remaining, seconds until full again.
        reset = math.ceil(max(0.0, self.limit.burst - self.tokens) / self.limit.rate)
        out = {
            "RateLimit-Limit": str(self.limit.burst),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": f"{self.limit.burst};w={self.limit.window}",
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, math.ceil((1 - self.tokens) / self.limit.rate)))
        return out


class BucketStore(Protocol):
    async def take(self, key: str, limit: Limit) -> Decision: ...


@dataclass
class MemoryBuckets:
    """Buckets in this process only: N processes allow N times the limit."""

    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    async def take(self, key: str, limit: Limit) -> Decision:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - stamp) * limit.rate)
        if tokens < 1:
            return Decision(False, limit, tokens)
        if len(self._buckets) > 100_000:  # bound memory under many callers
            self._buckets.clear()
        self._buckets[key] = (tokens - 1, now)
        return Decision(True, limit, tokens - 1)


class DatabaseBuckets:
    """Buckets in the ``rate_buckets`` table, shared by every process on the database."""

    def __init__(self, engine: AsyncEngine, sessions: Any) -> None:
        self.sessions = sessions
        self.postgres = engine.dialect.name == "postgresql"

    def _now(self) -> Any:
        if self.postgres:
            return func.extract("epoch", func.clock_timestamp())
        # julianday('now') has millisecond precision on every SQLite version.
        return (func.julianday("now") - 2440587.5) * 86400.0

    async def take(self, key: str, limit: Limit) -> Decision:
        table = RateBucket.__table__
        now = self._now()
        refilled = table.c.tokens + (now - table.c.stamp) * limit.rate
        capped = case((refilled > limit.burst, literal(float(limit.burst))), else_=refilled)
        dialect = postgresql if self.postgres else sqlite
        # Refill, check and take in one statement: the row lock (PostgreSQL) or the write lock
        # (SQLite) makes concurrent takes from every replica queue up on the row.
        stmt = (
            dialect.insert(table)
            .values(key=key, tokens=float(limit.burst - 1), stamp=now)
            .on_conflict_do_update(
                index_elements=[table.c.key],
                set_={"tokens": capped - 1, "stamp": now},
                where=capped >= 1,
            )
            .returning(table.c.tokens)
        )
        async with self.sessions.begin() as session:
            left = (await session.execute(stmt)).scalar_one_or_none()
            if left is not None:
                return Decision(True, limit, float(left))
            before = await session.scalar(select(capped).where(table.c.key == key))
        return Decision(False, limit, float(before or 0.0))


def _route_pattern(spec: str) -> tuple[str, re.Pattern[str]]:
    method, _, path = spec.partition(" ")
    if not method.isalpha() or not path.startswith("/"):
        raise ValueError(f"rate_limit_routes: {spec!r} is not 'METHOD /path/{{param}}'")
    regex = re.sub(r"\\\{[^/{}]+\\\}", "[^/]+", re.escape(path))
    return method.upper(), re.compile(f"^{regex}$")


class RateLimiter:
    """Which buckets a request draws on, and the answer for it."""

    def __init__(
        self,
        store: BucketStore,
        default: Limit | None,
        *,
        callers: dict[str, Any] | None = None,
        routes: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.read_store: BucketStore = (
            MemoryBuckets() if isinstance(store, DatabaseBuckets) else store
        )
        self.default = default
        self.callers = {
            name: Limit.parse(v, f"rate_limit_callers[{name!r}]")
            for name, v in (callers or {}).items()
        }
        self.routes = [
            (spec, *_route_pattern(spec), Limit.parse(v, f"rate_limit_routes[{spec!r}]"))
            for spec, v in (routes or {}).items()
        ]

    def buckets(self, caller: str, method: str, path: str) -> list[tuple[str, Limit]]:
        out = []
        limit = self.callers.get(caller, self.default)
        if limit is not None:
            out.append((f"caller:{caller}", limit))
        for spec, verb, pattern, route_limit in self.routes:
            if verb == method.upper() and pattern.match(path):
                out.append((f"route:{spec}:{caller}", route_limit))
        return out

    async def check(self, caller: str, method: str, path: str) -> dict[str, str]:
        """Take a token from each bucket; the headers of the tightest, or 429 when one is
        empty (the route's bucket is asked first, so a refused route costs no general token)."""
        tightest: Decision | None = None
        store = self.read_store if method.upper() in ("GET", "HEAD") else self.store
        for key, limit in reversed(self.buckets(caller, method, path)):
            decision = await store.take(key, limit)
            if not decision.allowed:
                wait = decision.headers()["Retry-After"]
                raise RateLimited(f"slow down: retry in {wait} s", headers=decision.headers())
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        return tightest.headers() if tightest is not None else {}
