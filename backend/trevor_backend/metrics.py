"""Prometheus metrics: HTTP traffic per handler, and request counts by state at scrape time."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .orm import AirlockRequest


class Metrics:
    """One registry per backend, so several backends in one process (tests) do not collide."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "trevor_http_requests",
            "HTTP requests served",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "trevor_http_request_duration_seconds",
            "Time to serve HTTP requests",
            ["handler", "method"],
            registry=self.registry,
        )
        self.requests_by_status = Gauge(
            "trevor_airlock_requests",
            "Airlock requests by direction and status",
            ["direction", "status"],
            registry=self.registry,
        )

    def observe(self, handler: Any) -> None:
        """Tornado's ``log_function`` hook: called once per finished request."""
        name = type(handler).__name__  # the handler class: bounded label cardinality
        method = handler.request.method or "?"
        self.http_requests.labels(name, method, str(handler.get_status())).inc()
        self.http_duration.labels(name, method).observe(handler.request.request_time())

    async def render(self, sessions: async_sessionmaker[AsyncSession]) -> bytes:
        async with sessions() as session:
            rows = await session.execute(
                select(AirlockRequest.direction, AirlockRequest.status, func.count()).group_by(
                    AirlockRequest.direction, AirlockRequest.status
                )
            )
            self.requests_by_status.clear()
            for direction, status, count in rows:
                self.requests_by_status.labels(direction, status).set(count)
        return generate_latest(self.registry)
