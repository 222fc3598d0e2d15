"""Review workflow: the checker's queue, reviews (blinded), the agent's report, lineage."""

from __future__ import annotations

from ..schemas import (
    AgentReportOut,
    LineageOut,
    Problem,
    ReviewIn,
    ReviewList,
    ReviewQueue,
    ReviewSubmitted,
)
from ..services.lineage import LineageService, parse_diff_query
from ..services.reviews import ReviewService
from .base import BaseHandler
from .spec import operation

_ERRORS = {401: Problem, 404: Problem}


class _ReviewBase(BaseHandler):
    @property
    def reviews(self) -> ReviewService:
        return self.backend.reviews

    @property
    def lineage_service(self) -> LineageService:
        return self.backend.lineage


class ReviewQueueHandler(_ReviewBase):
    one_read_session = True
    lean_read = True

    @operation(
        "Requests awaiting the caller's review (their checker projects), oldest first",
        tags="reviews",
        query={
            "limit": "page size (1-200, default 50)",
            "cursor": "next_cursor of the previous page",
        },
        responses={200: ReviewQueue, 401: Problem, 422: Problem},
    )
    async def get(self) -> None:
        self.write_json_bytes(
            await self.reviews.queue_json(
                self.principal, limit=self.int_query("limit", 50), cursor=self.query("cursor")
            )
        )


class ReviewsHandler(_ReviewBase):
    @operation(
        "Submit a checker's review of the current revision",
        tags="reviews",
        body=ReviewIn,
        responses={201: ReviewSubmitted, 403: Problem, 409: Problem, 422: Problem, **_ERRORS},
    )
    async def post(self, rid: str) -> None:
        body = self.parse(ReviewIn)
        self.write_json(await self.reviews.submit(self.principal, rid, body), 201)

    @operation(
        "Human reviews of the request, blinded for checkers who have not yet reviewed",
        tags="reviews",
        responses={200: ReviewList, **_ERRORS},
    )
    async def get(self, rid: str) -> None:
        self.write_json(await self.reviews.list(self.principal, rid))


class ReportHandler(_ReviewBase):
    @operation(
        "The agent's SDC report (latest revision, or ?revision=N)",
        tags="reviews",
        query={"revision": "revision number (default: the latest reviewed)"},
        responses={200: AgentReportOut, 422: Problem, **_ERRORS},
    )
    async def get(self, rid: str) -> None:
        raw = self.query("revision")
        revision = self.int_query("revision", 0) if raw is not None else None
        self.write_json(await self.reviews.report(self.principal, rid, revision))


class LineageHandler(_ReviewBase):
    @operation(
        "Every version of the logical object with its reviews, and table diffs",
        tags="objects",
        query={"diff": "two object ids A,B: diff that pair instead of consecutive versions"},
        responses={200: LineageOut, 422: Problem, **_ERRORS},
    )
    async def get(self, rid: str, oid: str) -> None:
        diff = parse_diff_query(self.query("diff"))
        self.write_json(await self.lineage_service.lineage(self.principal, rid, oid, diff))
