"""The lean read path of the three hottest GETs (one request, a page of the request list, a
page of the review queue): rows from ``ctx.reads`` and JSON built from them, with the same
rules as the model path (``access.can_view`` / ``access.visible_sql``,
``transitions.allowed_actions``, the latest agent review's verdicts, ``sdc.report.aggregate``).

``RequestService`` and ``ReviewService`` call these when the backend has a read driver and
keep their model path (``requests_out``) otherwise and for writes;
``tests/backend/test_lean_reads.py`` checks that both give the same JSON for every role.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..contract import CHECKER_ROLES, Direction, RequestStatus
from ..errors import NotFound
from ..principal import Principal
from ..reads import ReadDriver, sql
from ..reads import render as rr
from ..sdc.report import aggregate
from . import access
from .pagination import decode_cursor, encode_cursor
from .transitions import allowed_actions

Sql = sql.Sql
_ONE: dict[str, str] = {}


def _one_statement(dialect: str) -> str:
    """sql.one_request's text, fixed per dialect, so the driver's prepared statement
    (sqlite3's cache, asyncpg's) is reused."""
    found = _ONE.get(dialect)
    if found is None:
        q = Sql(dialect)
        found = _ONE[dialect] = sql.one_request(q.sqlite, q.param(None))
    return found


class _Actions:
    """``allowed_actions`` for the rows of one page, computed once per distinct
    ``access.RequestFacts`` (status, direction, project, author: all the rules read), since
    a page of 50 holds a handful of them and each evaluation costs several microseconds."""

    def __init__(self, p: Principal) -> None:
        self.p = p
        self.seen: dict[tuple[Any, ...], list[str]] = {}

    def __call__(self, row: Any) -> list[str]:
        key = (row[rr.R_STATUS], row[rr.R_DIRECTION], row[rr.R_PROJECT], row[rr.R_CREATED_BY])
        found = self.seen.get(key)
        if found is None:
            found = self.seen[key] = allowed_actions(self.p, rr.LeanRequest(row))
        return found


async def one_request(reads: ReadDriver, p: Principal, rid: str) -> bytes:
    """``RequestService.get`` as JSON."""
    async with reads.reading() as reader:
        rows = await reader.fetch(_one_statement(reads.dialect), (rid,))
    if not rows or not access.can_view(p, rr.LeanRequest(rows[0])):
        raise NotFound("request not found")
    ((row, objects),) = rr.grouped(rows)
    return rr.dumps(rr.request_dict(row, allowed_actions(p, rr.LeanRequest(row)), objects))


async def request_page(
    reads: ReadDriver,
    p: Principal,
    *,
    limit: int,
    cursor: str | None,
    project: str | None,
    status: RequestStatus | None,
    direction: Direction | None,
    waiting: Sequence[RequestStatus] = (),
    updated_before: Sequence[datetime] = (),
) -> bytes:
    """``RequestService.list`` as JSON: ``waiting`` and ``updated_before`` are its ``stuck``
    and ``older_than`` conditions (status among ``waiting``; updated before each time)."""
    q = Sql(reads.dialect)
    where = [access.visible_sql(p, q)]
    if waiting:
        where.append(q.any_of("r.status", [s.value for s in waiting]))
    where.extend(f"r.updated_at < {q.param(t)}" for t in updated_before)
    if project:
        where.append(f"r.project_id = {q.param(project)}")
    if status:
        where.append(f"r.status = {q.param(status.value)}")
    if direction:
        where.append(f"r.direction = {q.param(direction.value)}")
    if cursor:
        at, after = decode_cursor(cursor)
        s, i = q.param(at), q.param(after)
        where.append(f"(r.created_at < {s} OR (r.created_at = {s} AND r.id < {i}))")
    order = "r.created_at DESC, r.id DESC"
    text = sql.page(q.sqlite, " AND ".join(where), order, limit + 1)
    async with reads.reading() as reader:
        found = rr.grouped(await reader.fetch(text, q.args))
    actions = _Actions(p)
    items = [rr.request_dict(row, actions(row), objects) for row, objects in found[:limit]]
    return rr.dumps({"items": items, "next_cursor": _next(found, limit, rr.R_CREATED_AT)})


async def queue_page(
    reads: ReadDriver, p: Principal, *, limit: int, cursor: str | None, required: int
) -> bytes:
    """``ReviewService.queue`` as JSON (``queue_query``'s conditions, in SQL text)."""
    projects = [pid for pid, role in p.roles.items() if role in CHECKER_ROLES]
    if not projects or p.user_id is None:
        return rr.dumps({"items": [], "next_cursor": None})
    q = Sql(reads.dialect)
    me = q.param(p.user_id)
    where = [
        q.any_of("r.project_id", projects),
        f"r.status = '{RequestStatus.HUMAN_REVIEW.value}'",
        # Not "r.created_by <> me": PostgreSQL's plan for any caller (used from a
        # statement's sixth run) estimates that from the column's statistics, and where
        # one researcher wrote nearly every request it expected no row, so it sorted the
        # whole queue instead of walking its index in order (1.3-2.0 ms instead of 0.8 at
        # 400 requests in review). An expression has no statistics: the default estimate.
        f"(r.created_by || '') <> {me}",
        "NOT EXISTS (SELECT 1 FROM reviews x WHERE x.request_id = r.id"
        f" AND x.revision = r.revision AND x.reviewer_id = {me})",
    ]
    if cursor:
        at, after = decode_cursor(cursor)
        s, i = q.param(at), q.param(after)
        where.append(f"(r.submitted_at > {s} OR (r.submitted_at = {s} AND r.id > {i}))")
    text = sql.page(
        q.sqlite,
        " AND ".join(where),
        "r.submitted_at, r.id",
        limit + 1,
        sql.REVIEWS_RECEIVED,
    )
    async with reads.reading() as reader:
        found = rr.grouped(await reader.fetch(text, q.args))
    items = []
    actions = _Actions(p)
    for row, objects in found[:limit]:
        out = rr.request_dict(row, actions(row), objects)
        judged = tuple(o["verdict"] for o in out["objects"] if o["verdict"] is not None)
        counts = {"pass": 0, "review": 0, "fail": 0}
        for v in judged:
            if v in counts:
                counts[v] += 1
        items.append(
            {
                "request": out,
                "recommendation": _recommendation(judged),
                "verdicts": counts,
                "reviews_received": row[rr.R_EXTRA],
                "reviews_required": required,
            }
        )
    return rr.dumps({"items": items, "next_cursor": _next(found, limit, rr.R_SUBMITTED_AT)})


@functools.lru_cache(maxsize=256)
def _recommendation(judged: tuple[str, ...]) -> str | None:
    """``aggregate`` of a request's verdicts, once per pattern (a page holds a few)."""
    return aggregate(judged) if judged else None


def _next(found: list[tuple[Any, list[Any]]], limit: int, stamp_at: int) -> str | None:
    """``pagination.next_cursor``'s cursor from a row of the page."""
    if len(found) <= limit:
        return None
    last = found[limit - 1][0]
    return encode_cursor(rr.stamp(last[stamp_at]), last[rr.R_ID])
