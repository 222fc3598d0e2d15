"""Prometheus scrape endpoint."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from .base import BaseHandler
from .spec import operation


class MetricsHandler(BaseHandler):
    # Scraped from inside the cluster; it exposes counts, never request contents.
    public = True

    @operation("Prometheus metrics", tags="service", responses={200: "text/plain"}, public=True)
    async def get(self) -> None:
        body = await self.backend.metrics.render(self.ctx.sessions)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)
