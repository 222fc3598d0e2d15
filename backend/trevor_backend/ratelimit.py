"""Per-principal rate limiting (token bucket, per process)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from .errors import RateLimited


@dataclass
class RateLimiter:
    rate: float  # requests per second, sustained
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def check(self, key: str) -> None:
        now = time.monotonic()
        tokens, stamp = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
        if tokens < 1:
            wait = math.ceil((1 - tokens) / self.rate)
            raise RateLimited(f"slow down: retry in {wait} s", headers={"Retry-After": str(wait)})
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 100_000:  # bound memory under many principals
            self._buckets.clear()
