"""``GET /api/v1/metrics/summary``: the operations figures for admins and senior checkers."""

from __future__ import annotations

from ..schemas import MetricsSummary, Problem
from .audit import time_query
from .base import BaseHandler
from .spec import operation


class MetricsSummaryHandler(BaseHandler):
    @operation(
        "Admins (senior checkers: their projects): counts by state and direction, times to "
        "first review / decision / release (median, p90), per-checker load, outcome rates, "
        "revisions, agent-vs-human agreement, stuck requests and parked releases",
        tags="metrics",
        query={
            "project": "project id",
            "since": "requests created at or after (ISO 8601)",
            "until": "requests created before (ISO 8601)",
        },
        responses={200: MetricsSummary, 401: Problem, 403: Problem, 422: Problem},
    )
    async def get(self) -> None:
        out = await self.backend.metrics_summary.summary(
            self.principal,
            project=self.query("project"),
            since=time_query(self, "since"),
            until=time_query(self, "until"),
        )
        self.write_json(out)
