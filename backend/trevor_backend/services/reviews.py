"""Human review: the queue, submitting a review, the blinded list, the agent's report (SPEC §4).

Rules, all enforced here:

* Only a checker (output_checker or senior_checker) of the request's project reviews, and never
  the request's author; a researcher of the project is never a checker of it (memberships refuse
  that), and the agent never counts.
* One review per checker per revision (409), with a decision for every current object; asking
  for changes or rejecting an object needs a comment (422 with a JSON pointer).
* When ``required_reviews`` human reviews of the revision are in, the same transaction decides:
  all approve → APPROVED, all reject → REJECTED, otherwise CHANGES_REQUESTED; each object's
  state follows the same rule over its own decisions. The request row is locked before counting,
  so two simultaneous final reviews produce exactly one decision.
* Blinding: a checker sees the other checkers' reviews of a round only once they have submitted
  their own (or the round is decided); the researcher sees a round's reviews, with public comments
  only and checkers anonymised, once it is decided; admins see everything.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from ..contract import (
    CHECKER_ROLES,
    Decision,
    ObjectState,
    RequestStatus,
    ReviewKind,
    Visibility,
)
from ..errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from ..orm import AirlockRequest, AuditEvent, ObjectDecision, Review, User
from ..principal import Principal
from ..schemas import (
    AgentReportOut,
    ObjectDecisionOut,
    RequestOut,
    ReviewIn,
    ReviewList,
    ReviewOut,
    ReviewQueue,
    ReviewQueueItem,
    ReviewSubmitted,
)
from ..sdc.report import aggregate
from ..serialize import request_out
from . import access, audit, lean
from .context import Context
from .pagination import next_cursor_by, oldest_first
from .requests import REQUEST_COLUMNS, current_objects, latest_verdicts, lock, requests_out
from .transitions import allowed_actions, note_human_review, transition

S = RequestStatus
DECIDED_EVENTS = ("request.approved", "request.changes_requested", "request.rejected")
OUTCOME_STATUS = {
    Decision.APPROVE: S.APPROVED,
    Decision.REJECT: S.REJECTED,
    Decision.CHANGES_REQUESTED: S.CHANGES_REQUESTED,
}
OUTCOME_OBJECT_STATE = {
    Decision.APPROVE: ObjectState.APPROVED,
    Decision.REJECT: ObjectState.REJECTED,
    Decision.CHANGES_REQUESTED: ObjectState.CHANGES_REQUESTED,
}
QUEUE_MAX = 200


def combine(decisions: Iterable[str]) -> Decision:
    """All approve → approve; all reject → reject; anything else → changes requested."""
    values = {Decision(d) for d in decisions}
    if values == {Decision.APPROVE}:
        return Decision.APPROVE
    if values == {Decision.REJECT}:
        return Decision.REJECT
    return Decision.CHANGES_REQUESTED


async def decided_revisions(session: AsyncSession, rid: str) -> set[int]:
    """Revisions whose review round was decided, from the audit log (the record of decisions:
    a later withdrawal or release does not erase that a round was decided)."""
    payloads = await session.scalars(
        select(AuditEvent.payload).where(
            AuditEvent.request_id == rid, AuditEvent.type.in_(DECIDED_EVENTS)
        )
    )
    return {int(p["revision"]) for p in payloads if isinstance(p, dict) and "revision" in p}


async def human_reviews(session: AsyncSession, rid: str) -> list[Review]:
    rows = await session.scalars(
        select(Review)
        .where(Review.request_id == rid, Review.kind == ReviewKind.HUMAN)
        .options(selectinload(Review.decisions))
        .order_by(Review.revision, Review.created_at, Review.id)
    )
    return list(rows)


@dataclass
class Blinding:
    """What one caller may see of a request's human reviews."""

    p: Principal
    r: AirlockRequest
    decided: set[int]
    reviewed_by_me: set[int] = field(default_factory=set)

    @property
    def admin(self) -> bool:
        return self.p.admin

    @property
    def checker(self) -> bool:
        return self.p.is_checker(self.r.project_id) and self.p.user_id != self.r.created_by

    @property
    def sees_private(self) -> bool:
        return self.admin or self.checker

    def sees(self, review: Review) -> bool:
        if self.admin or review.reviewer_id == self.p.user_id:
            return True
        if self.checker:
            return review.revision in self.reviewed_by_me or review.revision in self.decided
        # The researcher (and anyone else who may view the request): decided rounds only.
        return review.revision in self.decided

    def reviewer_label(self, review: Review, names: dict[str, str], number: int) -> str:
        if self.sees_private:
            return names.get(review.reviewer_id or "", "?")
        # Researchers get anonymised checkers: the decision matters, not who made it.
        return f"checker {number}"

    def comment(self, d: ObjectDecision) -> str | None:
        if d.visibility == Visibility.PRIVATE and not self.sees_private:
            return None
        return d.comment


async def blinding_for(session: AsyncSession, p: Principal, r: AirlockRequest) -> Blinding:
    b = Blinding(p, r, await decided_revisions(session, r.id))
    if p.user_id is not None:
        b.reviewed_by_me = set(
            await session.scalars(
                select(Review.revision).where(
                    Review.request_id == r.id, Review.reviewer_id == p.user_id
                )
            )
        )
    return b


async def usernames(session: AsyncSession, ids: Iterable[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = await session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows.all()}


def review_out(rv: Review, b: Blinding, names: dict[str, str], number: int) -> ReviewOut:
    assert rv.decision is not None  # a human review is stored with its decision
    return ReviewOut(
        id=rv.id,
        revision=rv.revision,
        kind="human",
        reviewer=b.reviewer_label(rv, names, number),
        mine=rv.reviewer_id is not None and rv.reviewer_id == b.p.user_id,
        decision=Decision(rv.decision),
        summary=rv.summary,
        created_at=rv.created_at,
        objects=[
            ObjectDecisionOut(
                object_id=d.object_id,
                decision=Decision(d.decision),
                comment=b.comment(d),
                visibility=Visibility(d.visibility),
            )
            for d in rv.decisions
        ],
    )


def visible_reviews(
    reviews: list[Review], b: Blinding, names: dict[str, str]
) -> tuple[list[ReviewOut], int]:
    """The reviews ``b`` may see, serialised, and how many are hidden from them."""
    out: list[ReviewOut] = []
    hidden = 0
    numbers: dict[int, int] = defaultdict(int)
    for rv in reviews:
        numbers[rv.revision] += 1
        if b.sees(rv):
            out.append(review_out(rv, b, names, numbers[rv.revision]))
        else:
            hidden += 1
    return out, hidden


def queue_query(p: Principal, projects: list[str]) -> Select[AirlockRequest]:
    """Requests in HUMAN_REVIEW in ``projects`` that ``p`` did not write and has not yet
    reviewed at their current revision (filters for the queue are added to this)."""
    r = AirlockRequest
    mine = exists().where(
        Review.request_id == r.id,
        Review.revision == r.revision,
        Review.reviewer_id == p.user_id,
    )
    return select(r).where(
        r.project_id.in_(projects),
        r.status == S.HUMAN_REVIEW,
        r.created_by != p.user_id,
        ~mine,
    )


async def reviews_received(session: AsyncSession, requests: list[AirlockRequest]) -> dict[str, int]:
    """Human reviews each request has received at its current revision (one query)."""
    if not requests:
        return {}
    r = AirlockRequest
    counted = await session.execute(
        select(Review.request_id, func.count())
        .join(r, r.id == Review.request_id)
        .where(
            Review.request_id.in_([x.id for x in requests]),
            Review.revision == r.revision,
            Review.kind == ReviewKind.HUMAN,
        )
        .group_by(Review.request_id)
    )
    return {request_id: int(n) for request_id, n in counted.all()}


def _content_digest(body: ReviewIn) -> str:
    """A hash of the whole review for the audit log: the log proves what was decided without
    holding private comments or revealing decisions to the other checker before they review."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class ReviewService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- queue ---------------------------------------------------------------------------

    async def queue(
        self, p: Principal, *, limit: int = 50, cursor: str | None = None
    ) -> ReviewQueue:
        """Requests awaiting ``p``'s review, oldest submission first, a page at a time.

        A constant number of queries per page: the page, the reviews received (one grouped
        count) and the three of :func:`requests_out`.
        """
        limit = max(1, min(limit, QUEUE_MAX))
        projects = [pid for pid, role in p.roles.items() if role in CHECKER_ROLES]
        if not projects or p.user_id is None:
            return ReviewQueue(items=[], next_cursor=None)
        q = oldest_first(
            queue_query(p, projects), AirlockRequest.submitted_at, AirlockRequest.id, cursor, limit
        ).with_only_columns(*REQUEST_COLUMNS)
        async with self.ctx.sessions() as session:
            rows: list[Any] = list(await session.execute(q))
            page = rows[:limit]
            received = await reviews_received(session, page)
            outs = await requests_out(session, p, page)
        items = [self._queue_item(out, received.get(out.id, 0)) for out in outs]
        return ReviewQueue(items=items, next_cursor=next_cursor_by(rows, limit, "submitted_at"))

    async def queue_json(
        self, p: Principal, *, limit: int = 50, cursor: str | None = None
    ) -> bytes:
        """:meth:`queue` as JSON, through the lean read path when the backend has one."""
        if self.ctx.reads is None:
            return (await self.queue(p, limit=limit, cursor=cursor)).model_dump_json().encode()
        return await lean.queue_page(
            self.ctx.reads,
            p,
            limit=max(1, min(limit, QUEUE_MAX)),
            cursor=cursor,
            required=self.ctx.settings.required_reviews,
        )

    def _queue_item(self, out: RequestOut, received: int) -> ReviewQueueItem:
        counts = {k: 0 for k in ("pass", "review", "fail")}
        judged = [o.verdict for o in out.objects if o.verdict is not None]
        for v in judged:
            if v in counts:
                counts[v] += 1
        return ReviewQueueItem(
            request=out,
            recommendation=aggregate(judged) if judged else None,  # type: ignore[arg-type]
            verdicts=counts,
            reviews_received=received,
            reviews_required=self.ctx.settings.required_reviews,
        )

    # --- submitting ----------------------------------------------------------------------

    def _may_review(self, p: Principal, r: AirlockRequest) -> None:
        if p.user_id is not None and p.user_id == r.created_by:
            raise Forbidden("you cannot review your own request")
        if p.is_researcher(r.project_id):
            raise Forbidden("researchers of a project do not review its requests")
        if not p.is_checker(r.project_id):
            raise Forbidden(f"only output checkers of project {r.project_id} review its requests")

    @staticmethod
    def _validate(body: ReviewIn, current: list[str]) -> None:
        errors: list[FieldError] = []
        seen: set[str] = set()
        for i, d in enumerate(body.objects):
            if d.object_id not in current:
                errors.append(
                    FieldError(f"/objects/{i}/object_id", "not a current object of this request")
                )
            elif d.object_id in seen:
                errors.append(FieldError(f"/objects/{i}/object_id", "decided twice"))
            seen.add(d.object_id)
            if d.decision != Decision.APPROVE and not d.comment.strip():
                errors.append(
                    FieldError(
                        f"/objects/{i}/comment",
                        "a comment is required to "
                        + ("reject" if d.decision == Decision.REJECT else "request changes to")
                        + " an object",
                    )
                )
        missing = [oid for oid in current if oid not in seen]
        if missing:
            errors.append(
                FieldError("/objects", f"no decision for current objects: {', '.join(missing)}")
            )
        if body.decision == Decision.APPROVE and any(
            d.decision != Decision.APPROVE for d in body.objects
        ):
            errors.append(FieldError("/decision", "an approving review must approve every object"))
        if errors:
            raise ValidationFailed("the review is incomplete or inconsistent", errors=errors)

    async def submit(self, p: Principal, rid: str, body: ReviewIn) -> ReviewSubmitted:
        try:
            async with self.ctx.sessions.begin() as session:
                return await self._submit(session, p, rid, body)
        except IntegrityError as exc:
            # uq_reviews_reviewer; the row lock makes this unreachable in practice.
            raise Conflict("you have already reviewed this revision") from exc

    async def _submit(
        self, session: AsyncSession, p: Principal, rid: str, body: ReviewIn
    ) -> ReviewSubmitted:
        # Lock first: everything below (state, the count of reviews) must not change under us.
        r = access.require_view(p, await lock(session, rid))
        self._may_review(p, r)
        if r.status != S.HUMAN_REVIEW:
            raise Conflict(
                f"the request is {r.status}, not awaiting human review", current_state=r.status
            )
        already = await session.scalar(
            select(Review.id).where(
                Review.request_id == rid,
                Review.revision == r.revision,
                Review.reviewer_id == p.user_id,
            )
        )
        if already is not None:
            raise Conflict(
                f"you have already reviewed revision {r.revision} of this request",
                current_state=r.status,
            )
        objects = await current_objects(session, rid)
        self._validate(body, [o.id for o in objects])

        review = Review(
            request_id=rid,
            revision=r.revision,
            reviewer_id=p.user_id,
            kind=ReviewKind.HUMAN,
            decision=body.decision.value,
            summary=body.summary,
            decisions=[
                ObjectDecision(
                    object_id=d.object_id,
                    decision=d.decision.value,
                    comment=d.comment,
                    visibility=d.visibility.value,
                )
                for d in body.objects
            ],
        )
        session.add(review)
        await session.flush()
        # The pseudonym researchers know this review by ("checker N", as in visible_reviews):
        # recorded so audit views can name the checker that way without reading reviews.
        everyone = await human_reviews(session, rid)
        number = len([rv for rv in everyone if rv.revision == r.revision])
        recorded = await audit.record(
            session,
            "review.submitted",
            p,
            project_id=r.project_id,
            request_id=rid,
            payload={
                "review": review.id,
                "reviewer_number": number,
                "revision": r.revision,
                "objects": len(body.objects),
                "comments": {
                    v.value: sum(1 for d in body.objects if d.comment and d.visibility == v)
                    for v in Visibility
                },
                "content_sha256": _content_digest(body),
            },
        )
        note_human_review(r, review, everyone, recorded.created_at)

        reviews = [rv for rv in await human_reviews(session, rid) if rv.revision == r.revision]
        decided = len(reviews) >= self.ctx.settings.required_reviews
        if decided:
            outcome = combine(rv.decision or "" for rv in reviews)
            states: dict[str, str] = {}
            for obj in objects:
                obj_outcome = combine(
                    d.decision for rv in reviews for d in rv.decisions if d.object_id == obj.id
                )
                obj.state = OUTCOME_OBJECT_STATE[obj_outcome]
                states[obj.id] = obj.state
            await transition(
                session,
                r,
                "decide",
                p,
                to=OUTCOME_STATUS[outcome],
                payload={
                    "reviews": [rv.id for rv in reviews],
                    "objects": states,
                    "reviewer_number": number,
                },
            )
        await session.flush()
        names = await usernames(session, [p.user_id])
        b = Blinding(p, r, set(), {r.revision})
        author = await session.get(User, r.created_by)
        return ReviewSubmitted(
            review=review_out(review, b, names, len(reviews)),
            request=request_out(
                r,
                author.username if author else "?",
                objects,
                allowed_actions(p, r),
                await latest_verdicts(session, r),
            ),
            decided=decided,
        )

    # --- reading ---------------------------------------------------------------------------

    async def list(self, p: Principal, rid: str) -> ReviewList:
        async with self.ctx.sessions() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            b = await blinding_for(session, p, r)
            reviews = await human_reviews(session, rid)
            names = await usernames(session, [rv.reviewer_id for rv in reviews])
            items, hidden = visible_reviews(reviews, b, names)
            return ReviewList(
                request=r.id,
                revision=r.revision,
                status=r.status,
                required_reviews=self.ctx.settings.required_reviews,
                items=items,
                hidden=hidden,
            )

    async def report(self, p: Principal, rid: str, revision: int | None = None) -> AgentReportOut:
        async with self.ctx.sessions() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            q = select(Review).where(Review.request_id == rid, Review.kind == ReviewKind.AGENT)
            if revision is not None:
                if revision < 1 or revision > r.revision:
                    raise NotFound(f"revision {revision} does not exist")
                q = q.where(Review.revision == revision)
            review = await session.scalar(
                q.order_by(Review.revision.desc(), Review.created_at.desc()).limit(1)
            )
        if review is None or review.report is None:
            return AgentReportOut(
                request=rid,
                revision=revision,
                available=False,
                created_at=None,
                recommendation=None,
                report=None,
            )
        return AgentReportOut(
            request=rid,
            revision=review.revision,
            available=True,
            created_at=review.created_at,
            recommendation=review.report.get("recommendation"),
            report=review.report,
        )
