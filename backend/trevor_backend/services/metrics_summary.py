"""The operations summary behind ``GET /api/v1/metrics/summary`` and the dashboard's charts.

Definitions (docs/dashboard.md "Metrics" says the same for readers):

* the window (``since``/``until``) selects requests by when they were created; every figure
  except the current ``stuck`` and ``parked`` lists is about those requests;
* times run from a request's first ``request.submitted`` event to its first
  ``review.submitted`` (first human review), its first decision (``request.approved`` /
  ``request.changes_requested`` / ``request.rejected``) and its release (``release.created``,
  or ``ingress.delivered`` for ingress);
* median and p90 are nearest-rank percentiles: the value at position ceil(q * n) of the sorted
  durations, so every figure is one that was observed;
* outcomes count decisions (a request decided twice, after a resubmission, counts twice);
* agreement pairs the agent's recommendation for a revision with the human decision of the
  same revision: ``pass`` agrees with approval, ``fail`` with changes requested or rejection,
  and ``review`` (the agent abstains) counts in neither direction.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select

from ..contract import Direction, RequestStatus
from ..orm import AirlockRequest, AuditEvent, utcnow
from ..principal import Principal
from ..schemas import (
    Agreement,
    Bucket,
    CheckerLoad,
    Durations,
    MetricsSummary,
    Outcomes,
    ParkedItem,
    Revisions,
    StuckItem,
    WeekOutcome,
)
from .audit_search import reader_scope
from .context import Context
from .sla import WAITING_STATES

S = RequestStatus
DECISION_EVENTS = {
    "request.approved": "approved",
    "request.changes_requested": "changes_requested",
    "request.rejected": "rejected",
}
OUTCOME_LABELS = {
    "approved": "approved",
    "changes_requested": "changes requested",
    "rejected": "rejected",
}
RELEASE_EVENTS = ("release.created", "ingress.delivered")
#: Upper bounds (seconds) of the time-to-first-review histogram's buckets.
HISTOGRAM_BOUNDS = (3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600)
HISTOGRAM_LABELS = ("< 1 h", "1 to 4 h", "4 to 24 h", "1 to 3 d", "3 to 7 d", "> 7 d")
LIST_LIMIT = 100


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def durations(values: list[float]) -> Durations:
    values = sorted(values)
    return Durations(
        count=len(values),
        median_seconds=percentile(values, 0.5),
        p90_seconds=percentile(values, 0.9),
    )


def histogram(values: list[float]) -> list[Bucket]:
    counts = [0] * len(HISTOGRAM_LABELS)
    for v in values:
        i = next((i for i, b in enumerate(HISTOGRAM_BOUNDS) if v < b), len(HISTOGRAM_BOUNDS))
        counts[i] += 1
    return [Bucket(label=label, count=n) for label, n in zip(HISTOGRAM_LABELS, counts, strict=True)]


def _rate(n: int, total: int) -> float | None:
    return round(n / total, 4) if total else None


class MetricsService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- dialect helpers: the same figure from SQLite and PostgreSQL --------------------------

    def _epoch(self, col: Any) -> Any:
        if self.ctx.dialect == "postgresql":
            return func.extract("epoch", col)
        # SQLite stores ISO text; julianday() reads it (with its +00:00 offset).
        return (func.julianday(col) - 2440587.5) * 86400.0

    def _week(self, col: Any) -> Any:
        if self.ctx.dialect == "postgresql":
            return func.to_char(func.date_trunc("week", func.timezone("UTC", col)), "YYYY-MM-DD")
        return func.date(col, "-6 days", "weekday 1")

    # --- the summary ----------------------------------------------------------------------

    async def summary(
        self,
        p: Principal,
        *,
        project: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> MetricsSummary:
        from .audit_search import AuditQuery, conditions

        # Validates the window and the caller's right to read reports of the project.
        conditions(p, AuditQuery(project=project, since=since, until=until))
        scope = reader_scope(p, project)
        r = AirlockRequest
        req_where: list[ColumnElement[bool]] = []
        if project:
            req_where.append(r.project_id == project)
        if scope is not None:
            req_where.append(r.project_id.in_(scope))
        windowed = list(req_where)
        if since:
            windowed.append(r.created_at >= since)
        if until:
            windowed.append(r.created_at < until)
        in_window = select(r.id).where(*windowed).scalar_subquery()
        e = AuditEvent
        # The project filter on the events as well lets the database use their project index.
        # Without a window every request-scoped event counts: no semi-join with requests.
        ev_where: list[ColumnElement[bool]] = [
            e.request_id.in_(in_window) if since or until else e.request_id.is_not(None)
        ]
        if project:
            ev_where.append(e.project_id == project)
        if scope is not None:
            ev_where.append(e.project_id.in_(scope))

        settings = self.ctx.settings
        now = utcnow()

        async def rows(stmt: Any) -> list[Any]:
            # Each figure is its own short read, and they run side by side: on PostgreSQL
            # each on its own connection, so the summary takes about as long as its slowest
            # query rather than the sum of them.
            async with self.ctx.sessions() as session:
                return list((await session.execute(stmt)).all())

        async def objects(stmt: Any) -> list[Any]:
            async with self.ctx.sessions() as session:
                return list(await session.scalars(stmt))

        def first(*types: str) -> Any:
            return func.min(case((e.type.in_(types), self._epoch(e.created_at))))

        week = self._week(e.created_at)
        agent = (
            select(
                e.request_id.label("rid"),
                e.payload["revision"].as_integer().label("rev"),
                e.payload["recommendation"].as_string().label("rec"),
            )
            .where(*ev_where, e.type == "request.agent_review_completed")
            .subquery()
        )
        decision = (
            select(
                e.request_id.label("rid"),
                e.payload["revision"].as_integer().label("rev"),
                e.type.label("type"),
            )
            .where(*ev_where, e.type.in_(list(DECISION_EVENTS)))
            .subquery()
        )
        stuck_where = [
            *req_where,
            r.status.in_([s.value for s in WAITING_STATES]),
            r.updated_at < now - timedelta(seconds=settings.stuck_request_sla),
        ]
        parked_where = [
            *req_where,
            r.direction == Direction.EGRESS.value,
            r.status == S.APPROVED.value,
            r.attempts >= settings.release_max_attempts,
        ]
        submitted = case((r.submitted_at.is_not(None), 1), else_=0)
        (
            count_rows,
            timeline,
            checker_rows,
            decision_rows,
            matrix_rows,
            current,
            stuck_rows,
            parked_rows,
        ) = await asyncio.gather(
            rows(
                select(r.status, r.direction, r.revision, submitted, func.count())
                .where(*windowed)
                .group_by(r.status, r.direction, r.revision, submitted)
            ),
            rows(
                select(
                    first("request.submitted"),
                    first("review.submitted"),
                    first(*DECISION_EVENTS),
                    first(*RELEASE_EVENTS),
                )
                .where(
                    *ev_where,
                    e.type.in_(
                        [
                            "request.submitted",
                            "review.submitted",
                            *DECISION_EVENTS,
                            *RELEASE_EVENTS,
                        ]
                    ),
                )
                .group_by(e.request_id)
            ),
            rows(
                select(e.actor, func.count(), func.count(func.distinct(e.request_id)))
                .where(*ev_where, e.type == "review.submitted")
                .group_by(e.actor)
                .order_by(func.count().desc(), e.actor)
            ),
            rows(
                select(e.type, week, func.count())
                .where(*ev_where, e.type.in_(list(DECISION_EVENTS)))
                .group_by(e.type, week)
            ),
            rows(
                select(agent.c.rec, decision.c.type, func.count())
                .join_from(
                    agent,
                    decision,
                    (agent.c.rid == decision.c.rid) & (agent.c.rev == decision.c.rev),
                )
                .group_by(agent.c.rec, decision.c.type)
            ),
            rows(
                select(
                    func.count(case((and_(*stuck_where[len(req_where) :]), 1))),
                    func.count(case((and_(*parked_where[len(req_where) :]), 1))),
                ).where(*req_where)
            ),
            objects(select(r).where(*stuck_where).order_by(r.updated_at).limit(LIST_LIMIT)),
            objects(select(r).where(*parked_where).order_by(r.updated_at).limit(LIST_LIMIT)),
        )

        counts: dict[str, dict[str, int]] = {}
        revisions: dict[int, int] = {}
        for status, direction, revision, was_submitted, n in count_rows:
            by_direction = counts.setdefault(status, {})
            by_direction[direction] = by_direction.get(direction, 0) + n
            if was_submitted:
                revisions[revision] = revisions.get(revision, 0) + n
        rev_rows = sorted(revisions.items())
        submitted_n = sum(revisions.values())

        to_review, to_decision, to_release = [], [], []
        for sub_at, reviewed, decided, released in timeline:
            if sub_at is None:
                continue
            start = float(sub_at)
            if reviewed is not None:
                to_review.append(float(reviewed) - start)
            if decided is not None:
                to_decision.append(float(decided) - start)
            if released is not None:
                to_release.append(float(released) - start)

        checkers = [
            CheckerLoad(checker=actor, reviews=n, requests=distinct)
            for actor, n, distinct in checker_rows
        ]
        decided_counts = dict.fromkeys(DECISION_EVENTS.values(), 0)
        weekly: dict[str, dict[str, int]] = {}
        for type_, wk, n in decision_rows:
            outcome = DECISION_EVENTS[type_]
            decided_counts[outcome] += n
            weekly.setdefault(str(wk), dict.fromkeys(DECISION_EVENTS.values(), 0))[outcome] += n
        total = sum(decided_counts.values())
        matrix: dict[str, dict[str, int]] = {}
        for rec, type_, n in matrix_rows:
            matrix.setdefault(str(rec), {})[DECISION_EVENTS[type_]] = n
        stuck_count, parked_count = (int(v or 0) for v in current[0])
        stuck = [
            StuckItem(
                id=row.id,
                project=row.project_id,
                title=row.title,
                status=RequestStatus(row.status),
                since=row.updated_at,
                waited_seconds=round((now - row.updated_at).total_seconds(), 1),
            )
            for row in stuck_rows
        ]
        parked = [
            ParkedItem(
                id=row.id,
                project=row.project_id,
                title=row.title,
                attempts=row.attempts,
                last_error=row.last_error,
                since=row.updated_at,
            )
            for row in parked_rows
        ]

        return MetricsSummary(
            project=project,
            since=since,
            until=until,
            generated_at=now,
            stuck_request_sla_seconds=settings.stuck_request_sla,
            counts=counts,
            time_to_first_review=durations(to_review),
            time_to_decision=durations(to_decision),
            time_to_release=durations(to_release),
            first_review_histogram=histogram(to_review),
            checkers=checkers,
            outcomes=Outcomes(
                decisions=total,
                **decided_counts,
                approval_rate=_rate(decided_counts["approved"], total),
                changes_requested_rate=_rate(decided_counts["changes_requested"], total),
                rejection_rate=_rate(decided_counts["rejected"], total),
            ),
            weekly=[WeekOutcome(week=wk, **weekly[wk]) for wk in sorted(weekly)],
            revisions=Revisions(
                requests=submitted_n,
                mean=round(sum(rev * n for rev, n in rev_rows) / submitted_n, 4)
                if submitted_n
                else None,
                max=max((rev for rev, _ in rev_rows), default=None),
                distribution={str(rev): n for rev, n in sorted(rev_rows)},
            ),
            agreement=_agreement(matrix),
            stuck_count=stuck_count,
            stuck=stuck,
            parked_count=parked_count,
            parked=parked,
        )


def _agreement(matrix: dict[str, dict[str, int]]) -> Agreement:
    rounds = sum(sum(row.values()) for row in matrix.values())
    passed, failed = matrix.get("pass", {}), matrix.get("fail", {})
    fail_approved = failed.get("approved", 0)
    pass_not_approved = sum(n for k, n in passed.items() if k != "approved")
    opinionated = sum(passed.values()) + sum(failed.values())
    agreed = opinionated - fail_approved - pass_not_approved
    return Agreement(
        rounds=rounds,
        matrix=matrix,
        agent_fail_approved=fail_approved,
        agent_pass_not_approved=pass_not_approved,
        agreement_rate=_rate(agreed, opinionated),
    )
