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

The figures are read from milestones the state machine keeps as it writes those events
(``services/transitions.py``: the requests' ``first_*_at`` and ``released_at`` columns, one
``request_rounds`` row per decided revision) and from the reviews table, never from the audit
log: a handful of aggregate queries whatever the log's size. ``tests/backend/admin_world.py``
computes the same figures from the raw audit events, and the tests check the two agree.
"""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true

from ..contract import Direction, RequestStatus
from ..orm import AirlockRequest, RequestRound, Review, User, utcnow
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


def _histogram(values: list[float]) -> list[Bucket]:
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
            # The Monday as a timestamp, formatted in Python: to_char on every row costs more
            # than the grouping.
            return func.date_trunc("week", func.timezone("UTC", col))
        return func.date(col, "-6 days", "weekday 1")

    async def _timeline(
        self, windowed: list[ColumnElement[bool]]
    ) -> tuple[Durations, Durations, Durations, list[Bucket]]:
        """Times from first submission to first review, first decision and release of the
        selected requests (count, median, p90), and the first-review histogram."""
        r = AirlockRequest
        ends = (r.first_reviewed_at, r.first_decided_at, r.released_at)
        async with self.ctx.sessions() as session:
            if self.ctx.dialect != "postgresql":
                # SQLite has no percentile aggregate: the durations come back and Python ranks
                # them (SQLite serves small deployments; this is still one read of requests).
                start = self._epoch(r.first_submitted_at)
                found = (
                    await session.execute(
                        select(*(self._epoch(end) - start for end in ends)).where(
                            *windowed, r.first_submitted_at.is_not(None)
                        )
                    )
                ).all()
                columns = [[row[i] for row in found if row[i] is not None] for i in range(3)]
                review, decision, release = (durations(values) for values in columns)
                return review, decision, release, _histogram(columns[0])
            # One scan for all three. Ordered-set aggregates skip NULLs, so a request without
            # the milestone drops out of that figure only; percentile_disc is the nearest-rank
            # percentile (the value at ceil(q * n)).
            # date_part gives double precision (extract gives numeric, twice as slow to sort).
            spans = [func.date_part("epoch", end - r.first_submitted_at) for end in ends]
            figures: list[Any] = []
            for d in spans:
                figures += [
                    func.count(d),
                    func.percentile_disc(0.5).within_group(d),
                    func.percentile_disc(0.9).within_group(d),
                ]
            lows, highs = (None, *HISTOGRAM_BOUNDS), (*HISTOGRAM_BOUNDS, None)
            first = spans[0]
            figures += [
                func.count(
                    case(
                        (
                            and_(
                                first >= lo if lo is not None else true(),
                                first < hi if hi is not None else true(),
                            ),
                            1,
                        )
                    )
                )
                for lo, hi in zip(lows, highs, strict=True)
            ]
            row = (
                await session.execute(
                    select(*figures).where(*windowed, r.first_submitted_at.is_not(None))
                )
            ).one()

        def at(i: int) -> Durations:
            n, median, p90 = row[3 * i : 3 * i + 3]
            return Durations(
                count=n,
                median_seconds=None if median is None else float(median),
                p90_seconds=None if p90 is None else float(p90),
            )

        buckets = [
            Bucket(label=label, count=c) for label, c in zip(HISTOGRAM_LABELS, row[9:], strict=True)
        ]
        return at(0), at(1), at(2), buckets

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
        rr, rv, u = RequestRound, Review, User
        # Rounds and reviews of the selected requests: without a filter, all of them (no join).
        of_requests: list[ColumnElement[bool]] = (
            [rr.request_id.in_(select(r.id).where(*windowed))] if windowed else []
        )
        reviews_of: list[ColumnElement[bool]] = (
            [rv.request_id.in_(select(r.id).where(*windowed))] if windowed else []
        )

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

        stuck_where = [
            *req_where,
            r.status.in_([s.value for s in WAITING_STATES]),
            r.updated_at < now - timedelta(seconds=settings.stuck_request_sla),
        ]
        parked_where = [
            *req_where,
            r.direction == Direction.EGRESS,
            r.status == S.APPROVED,
            r.attempts >= settings.release_max_attempts,
        ]
        submitted = case((r.submitted_at.is_not(None), 1), else_=0)
        decided = [rr.decision.is_not(None), *of_requests]
        # One expression object: PostgreSQL matches GROUP BY to the select list by identity
        # of the bound parameters.
        week = self._week(rr.decided_at)
        # Human reviews (the agent's have no reviewer) per checker, and the requests among
        # them (each checker's first review of a request is flagged, so no count(DISTINCT));
        # unfiltered, read from the index on (reviewer_id, first_by_reviewer) alone.
        load = (
            select(
                rv.reviewer_id,
                func.count().label("reviews"),
                func.count(case((rv.first_by_reviewer.is_(True), 1))).label("requests"),
            )
            .where(rv.reviewer_id.is_not(None), *reviews_of)
            .group_by(rv.reviewer_id)
            .subquery()
        )
        (
            count_rows,
            timeline,
            checker_rows,
            round_rows,
            current,
            stuck_rows,
            parked_rows,
        ) = await asyncio.gather(
            rows(
                select(r.status, r.direction, r.revision, submitted, func.count())
                .where(*windowed)
                .group_by(r.status, r.direction, r.revision, submitted)
            ),
            self._timeline(windowed),
            rows(
                select(u.username, load.c.reviews, load.c.requests)
                .join_from(load, u, load.c.reviewer_id == u.id)
                .order_by(load.c.reviews.desc(), u.username)
            ),
            # Outcomes by week and the agent-vs-human matrix from one pass over the rounds.
            rows(
                select(rr.decision, week, rr.agent_recommendation, func.count())
                .where(*decided)
                .group_by(rr.decision, week, rr.agent_recommendation)
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

        checkers = [
            CheckerLoad(checker=actor, reviews=n, requests=distinct)
            for actor, n, distinct in checker_rows
        ]
        decided_counts = dict.fromkeys(DECISION_EVENTS.values(), 0)
        weekly: dict[str, dict[str, int]] = {}
        matrix: dict[str, dict[str, int]] = {}
        for outcome, wk, rec, n in round_rows:
            decided_counts[outcome] += n
            label = wk.strftime("%Y-%m-%d") if isinstance(wk, datetime) else str(wk)
            weekly.setdefault(label, dict.fromkeys(DECISION_EVENTS.values(), 0))[outcome] += n
            if rec is not None:
                row = matrix.setdefault(str(rec), {})
                row[outcome] = row.get(outcome, 0) + n
        total = sum(decided_counts.values())
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
            time_to_first_review=timeline[0],
            time_to_decision=timeline[1],
            time_to_release=timeline[2],
            first_review_histogram=timeline[3],
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
