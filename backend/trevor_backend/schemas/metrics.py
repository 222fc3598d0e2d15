"""The admin dashboard's metrics summary (GET /api/v1/admin/metrics/summary)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from ..contract import RequestStatus
from .base import Model


class Durations(Model):
    count: int
    median_seconds: float | None
    p90_seconds: float | None


class Bucket(Model):
    label: str
    count: int


class CheckerLoad(Model):
    checker: str
    reviews: int
    requests: int


class Outcomes(Model):
    decisions: int
    approved: int
    changes_requested: int
    rejected: int
    approval_rate: float | None
    changes_requested_rate: float | None
    rejection_rate: float | None


class Revisions(Model):
    requests: int = Field(description="submitted requests")
    mean: float | None
    max: int | None
    distribution: dict[str, int] = Field(description="revision → number of requests")


class Agreement(Model):
    rounds: int = Field(description="revisions with both an agent recommendation and a decision")
    matrix: dict[str, dict[str, int]] = Field(description="recommendation → outcome → rounds")
    agent_fail_approved: int
    agent_pass_not_approved: int
    agreement_rate: float | None = Field(
        description="share of pass/fail recommendations the humans agreed with"
    )


class WeekOutcome(Model):
    week: str = Field(description="the Monday starting the week (UTC), YYYY-MM-DD")
    approved: int
    changes_requested: int
    rejected: int


class StuckItem(Model):
    id: str
    project: str
    title: str
    status: RequestStatus
    since: datetime
    waited_seconds: float


class ParkedItem(Model):
    id: str
    project: str
    title: str
    attempts: int
    last_error: str | None
    since: datetime


class MetricsSummary(Model):
    project: str | None
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    stuck_request_sla_seconds: int
    counts: dict[str, dict[str, int]] = Field(description="state → direction → requests")
    time_to_first_review: Durations
    time_to_decision: Durations
    time_to_release: Durations
    first_review_histogram: list[Bucket]
    checkers: list[CheckerLoad]
    outcomes: Outcomes
    weekly: list[WeekOutcome]
    revisions: Revisions
    agreement: Agreement
    stuck_count: int
    stuck: list[StuckItem]
    parked_count: int
    parked: list[ParkedItem]
