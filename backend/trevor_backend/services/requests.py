"""Airlock requests: create, list, read, describe objects, and the researcher's transitions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, TypedDict, Unpack

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..contract import (
    CURRENT_OBJECT_STATES,
    EDITABLE_STATUSES,
    Direction,
    ObjectState,
    RequestStatus,
    ReviewKind,
)
from ..errors import Conflict, FieldError, NotFound, ValidationFailed
from ..orm import (
    AirlockRequest,
    AuditEvent,
    ObjectMetadata,
    OutputObject,
    Project,
    Review,
    User,
    utcnow,
)
from ..principal import Principal
from ..reads import render
from ..schemas import (
    AuditList,
    EvidenceIn,
    MetadataIn,
    ObjectOut,
    RequestCreate,
    RequestList,
    RequestOut,
)
from ..sdc import statbarns
from ..serialize import audit_out, object_out, request_out
from ..storage.verified import Download, verified_download
from . import access, audit, blinding, lean
from .context import Context
from .pagination import newest_first, next_cursor
from .transitions import allowed_actions, transition

DEFAULT_PAGE = 50
MAX_PAGE = 200
#: States in which a request waits for the system or a checker, and so can be stuck.
WAITING_STATES = (RequestStatus.SUBMITTED, RequestStatus.AGENT_REVIEW, RequestStatus.HUMAN_REVIEW)


class ListFilters(TypedDict, total=False):
    """:meth:`RequestService.list`'s filters, for the callers that pass them on."""

    project: str | None
    status: RequestStatus | None
    direction: Direction | None
    limit: int
    cursor: str | None
    stuck: bool
    older_than: float | None


def stuck_condition(sla_seconds: float) -> list[Any]:
    """SQL conditions of a request waiting past the SLA in a waiting state."""
    return [
        AirlockRequest.status.in_([s.value for s in WAITING_STATES]),
        AirlockRequest.updated_at < utcnow() - timedelta(seconds=sla_seconds),
    ]


async def lock(session: AsyncSession, rid: str) -> AirlockRequest | None:
    """Load a request for update: PostgreSQL locks the row; SQLite's BEGIN IMMEDIATE already
    serialises writers."""
    return await session.scalar(
        select(AirlockRequest).where(AirlockRequest.id == rid).with_for_update()
    )


async def current_objects(session: AsyncSession, rid: str) -> list[OutputObject]:
    rows = await session.scalars(
        select(OutputObject)
        .where(
            OutputObject.request_id == rid,
            OutputObject.state.in_([s.value for s in CURRENT_OBJECT_STATES]),
        )
        .order_by(OutputObject.created_at, OutputObject.id)
    )
    return list(rows.unique())


async def latest_verdicts(session: AsyncSession, r: AirlockRequest) -> dict[str, str]:
    """Per-object verdicts from the latest agent review of the request, if any."""
    review = await session.scalar(
        select(Review)
        .where(Review.request_id == r.id, Review.kind == ReviewKind.AGENT)
        .order_by(Review.revision.desc(), Review.created_at.desc())
        .limit(1)
    )
    return {} if review is None else render.verdicts(review.report)


#: The columns of a request row. Pages and single reads select these (rows, not ORM objects):
#: hydrating a page of ORM objects cost more than its queries (profiled, issue 10).
REQUEST_COLUMNS = tuple(AirlockRequest.__table__.c)
_META = ObjectMetadata.__table__
_META_FIELDS = ("title", "description", "statbarn", "justification", "suppression_notes", "tags")

# The page statements are built once; each read only binds the ids (an expanding IN).
_CURRENT_OBJECTS = (
    select(
        *OutputObject.__table__.c,
        _META.c.logical_id.label("meta_logical_id"),
        *(_META.c[name].label(f"meta_{name}") for name in _META_FIELDS),
    )
    .outerjoin(_META, _META.c.logical_id == OutputObject.logical_id)
    .where(
        OutputObject.request_id.in_(bindparam("rids", expanding=True)),
        OutputObject.state.in_([s.value for s in CURRENT_OBJECT_STATES]),
    )
    .order_by(OutputObject.created_at, OutputObject.id)
)
_RANKED_AGENT_REVIEWS = (
    select(
        Review.id,
        func.row_number()
        .over(
            partition_by=Review.request_id,
            order_by=(Review.revision.desc(), Review.created_at.desc()),
        )
        .label("n"),
    )
    .where(
        Review.request_id.in_(bindparam("rids", expanding=True)),
        Review.kind == ReviewKind.AGENT,
    )
    .subquery()
)
_LATEST_AGENT_REPORTS = (
    select(Review.request_id, Review.report)
    .join(_RANKED_AGENT_REVIEWS, _RANKED_AGENT_REVIEWS.c.id == Review.id)
    .where(_RANKED_AGENT_REVIEWS.c.n == 1)
)
_ONE_REQUEST = select(*REQUEST_COLUMNS).where(AirlockRequest.id == bindparam("rid"))
_AUTHORS = select(User.id, User.username).where(User.id.in_(bindparam("ids", expanding=True)))


class CurrentObject(SimpleNamespace):
    """An object row's columns as attributes, with its metadata (``meta``, None when
    undescribed): what ``serialize.object_out`` reads, without loading ORM objects."""

    def __init__(self, row: Row[*tuple[Any, ...]]) -> None:
        fields = row._asdict()
        meta = (
            SimpleNamespace(**{name: fields[f"meta_{name}"] for name in _META_FIELDS})
            if fields["meta_logical_id"] is not None
            else None
        )
        super().__init__(**fields, meta=meta)


async def current_objects_of(
    session: AsyncSession, rids: Sequence[str]
) -> dict[str, list[CurrentObject]]:
    """The current objects of many requests in one query (metadata joined)."""
    found: dict[str, list[CurrentObject]] = {rid: [] for rid in rids}
    if not rids:
        return found
    for row in await session.execute(_CURRENT_OBJECTS, {"rids": list(rids)}):
        found[row.request_id].append(CurrentObject(row))
    return found


async def latest_verdicts_of(
    session: AsyncSession, requests: Sequence[AirlockRequest]
) -> dict[str, dict[str, str]]:
    """:func:`latest_verdicts` for many requests in one query (a window picks each request's
    latest agent review)."""
    found: dict[str, dict[str, str]] = {r.id: {} for r in requests}
    if not requests:
        return found
    rows = await session.execute(_LATEST_AGENT_REPORTS, {"rids": list(found)})
    for rid, report in rows:
        found[rid] = render.verdicts(report)
    return found


async def authors_of(session: AsyncSession, requests: Sequence[AirlockRequest]) -> dict[str, str]:
    ids = {r.created_by for r in requests}
    if not ids:
        return {}
    rows = await session.execute(_AUTHORS, {"ids": list(ids)})
    return {uid: name for uid, name in rows}


async def requests_out(
    session: AsyncSession, p: Principal, requests: Sequence[AirlockRequest]
) -> list[RequestOut]:
    """API models of a page of requests in a constant number of queries (three, whatever the
    page size): the listing, the queue and single reads all go through here."""
    authors = await authors_of(session, requests)
    objects = await current_objects_of(session, [r.id for r in requests])
    verdicts = await latest_verdicts_of(session, requests)
    return [
        request_out(
            r,
            authors.get(r.created_by, "?"),
            objects[r.id],
            allowed_actions(p, r),
            verdicts[r.id],
        )
        for r in requests
    ]


def model_json(model: RequestOut | RequestList) -> bytes:
    """The model path's JSON, as ``BaseHandler.write_json`` writes a model."""
    return model.model_dump_json().encode()


def validate_statbarn(value: str | None, pointer: str) -> None:
    if value is not None and statbarns.get(value) is None:
        known = ", ".join(sorted(statbarns.CATALOGUE))
        raise ValidationFailed(
            f"unknown statbarn {value!r}",
            errors=[FieldError(pointer, f"unknown statbarn {value!r}; one of: {known}")],
        )


class RequestService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def _out(self, session: AsyncSession, p: Principal, r: AirlockRequest) -> RequestOut:
        return (await requests_out(session, p, [r]))[0]

    async def create(self, p: Principal, body: RequestCreate) -> RequestOut:
        async with self.ctx.sessions.begin() as session:
            project = await session.get(Project, body.project)
            if project is None or not (p.admin or p.role_in(body.project)):
                raise ValidationFailed(
                    f"unknown project {body.project!r}",
                    errors=[FieldError("/project", "no such project, or you are not a member")],
                )
            access.require_can_create(p, body.project, body.direction)
            r = AirlockRequest(
                project_id=body.project,
                direction=body.direction.value,
                title=body.title,
                description=body.description,
                created_by=p.user_id,
            )
            session.add(r)
            await session.flush()
            await audit.record(
                session,
                "request.created",
                p,
                project_id=r.project_id,
                request_id=r.id,
                payload={"title": r.title, "direction": r.direction},
            )
            return await self._out(session, p, r)

    async def list(
        self,
        p: Principal,
        *,
        project: str | None = None,
        status: RequestStatus | None = None,
        direction: Direction | None = None,
        limit: int = DEFAULT_PAGE,
        cursor: str | None = None,
        stuck: bool = False,
        older_than: float | None = None,
    ) -> RequestList:
        """``stuck``: waiting (submitted, agent or human review) for longer than the
        ``stuck_request_sla``; ``older_than``: in the current state for more than that many
        seconds. Both measure from ``updated_at``, the time of the last transition."""
        limit = max(1, min(limit, MAX_PAGE))
        q = select(AirlockRequest).where(access.visible_filter(p))
        if stuck:
            q = q.where(*stuck_condition(self.ctx.settings.stuck_request_sla))
        if older_than is not None:
            q = q.where(AirlockRequest.updated_at < utcnow() - timedelta(seconds=older_than))
        if project:
            q = q.where(AirlockRequest.project_id == project)
        if status:
            q = q.where(AirlockRequest.status == status.value)
        if direction:
            q = q.where(AirlockRequest.direction == direction.value)
        q = newest_first(q, AirlockRequest, cursor, limit).with_only_columns(*REQUEST_COLUMNS)
        async with self.ctx.sessions() as session:
            rows: list[Any] = list(await session.execute(q))
            items = await requests_out(session, p, rows[:limit])
        return RequestList(items=items, next_cursor=next_cursor(rows, limit))

    async def list_json(self, p: Principal, **filters: Unpack[ListFilters]) -> bytes:
        """:meth:`list` as JSON, through the lean read path when the backend has one."""
        reads = self.ctx.reads
        if reads is None:
            return model_json(await self.list(p, **filters))
        now = utcnow()
        before = []
        stuck = filters.get("stuck", False)
        if stuck:
            before.append(now - timedelta(seconds=self.ctx.settings.stuck_request_sla))
        older_than = filters.get("older_than")
        if older_than is not None:
            before.append(now - timedelta(seconds=older_than))
        return await lean.request_page(
            reads,
            p,
            limit=max(1, min(filters.get("limit", DEFAULT_PAGE), MAX_PAGE)),
            cursor=filters.get("cursor"),
            project=filters.get("project"),
            status=filters.get("status"),
            direction=filters.get("direction"),
            waiting=WAITING_STATES if stuck else (),
            updated_before=before,
        )

    async def get_json(self, p: Principal, rid: str) -> bytes:
        """:meth:`get` as JSON, through the lean read path when the backend has one."""
        if self.ctx.reads is None:
            return model_json(await self.get(p, rid))
        return await lean.one_request(self.ctx.reads, p, rid)

    async def get(self, p: Principal, rid: str) -> RequestOut:
        async with self.ctx.sessions() as session:
            row = (await session.execute(_ONE_REQUEST, {"rid": rid})).first()
            r = access.require_view(p, row)
            return await self._out(session, p, r)

    async def get_object(
        self, p: Principal, rid: str, oid: str
    ) -> tuple[AirlockRequest, OutputObject]:
        """A request's object, any version, for a caller who may see the request."""
        async with self.ctx.sessions() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            obj = await session.get(OutputObject, oid)
            if obj is None or obj.request_id != r.id:
                raise NotFound("object not found")
            return r, obj

    async def open_content(self, p: Principal, rid: str, oid: str) -> Download:
        """The object's bytes for ``p``, verified as they stream; every read is audited."""
        r, obj = await self.get_object(p, rid, oid)
        async with self.ctx.sessions.begin() as session:
            await audit.record(
                session,
                "object.viewed",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=obj.id,
                payload={"as": "content"},
            )
        return verified_download(
            self.ctx.store,
            obj.storage_key,
            filename=obj.filename,
            media_type="application/octet-stream",
            size=obj.size,
            sha256=obj.sha256,
        )

    async def object(self, p: Principal, rid: str, oid: str) -> ObjectOut:
        r, obj = await self.get_object(p, rid, oid)
        async with self.ctx.sessions() as session:
            verdicts = await latest_verdicts(session, r)
            obj = await session.get(OutputObject, oid)
            assert obj is not None
            return object_out(obj, verdicts.get(obj.id))

    async def _editable_object(
        self, session: AsyncSession, p: Principal, rid: str, oid: str
    ) -> tuple[AirlockRequest, OutputObject]:
        r = access.require_owner(p, await lock(session, rid))
        if r.status not in EDITABLE_STATUSES:
            raise Conflict(
                f"objects cannot be changed while the request is {r.status}",
                current_state=r.status,
            )
        obj = await session.get(OutputObject, oid)
        if obj is None or obj.request_id != r.id:
            raise NotFound("object not found")
        if obj.state not in CURRENT_OBJECT_STATES:
            raise Conflict(f"object version {obj.version} is {obj.state}; edit the current one")
        return r, obj

    async def set_metadata(self, p: Principal, rid: str, oid: str, body: MetadataIn) -> ObjectOut:
        validate_statbarn(body.statbarn, "/statbarn")
        async with self.ctx.sessions.begin() as session:
            r, obj = await self._editable_object(session, p, rid, oid)
            meta = await session.get(ObjectMetadata, obj.logical_id)
            if meta is None:
                meta = ObjectMetadata(logical_id=obj.logical_id, request_id=r.id)
                session.add(meta)
            changes = body.model_dump(exclude_unset=True)
            for key, value in changes.items():
                setattr(meta, key, value if value is not None or key == "statbarn" else "")
            meta.updated_at = utcnow()
            await audit.record(
                session,
                "object.metadata_updated",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=obj.id,
                payload={"fields": sorted(changes)},
            )
            await session.flush()
            await session.refresh(obj)
            return object_out(obj)

    async def attach_evidence(
        self, p: Principal, rid: str, oid: str, body: EvidenceIn
    ) -> ObjectOut:
        async with self.ctx.sessions.begin() as session:
            r, obj = await self._editable_object(session, p, rid, oid)
            if body.evidence is not None:
                bound = body.evidence.get("sha256")
                if bound != obj.sha256:
                    from ..errors import ChecksumMismatch

                    raise ChecksumMismatch(
                        "the evidence belongs to a different file than this object",
                        errors=[
                            FieldError(
                                "/evidence/sha256",
                                f"expected {obj.sha256}, got {bound!r}",
                            )
                        ],
                    )
                obj.evidence = body.evidence
            if body.provenance is not None:
                obj.provenance = body.provenance
            await audit.record(
                session,
                "object.evidence_attached",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=obj.id,
                payload={
                    "evidence": body.evidence is not None,
                    "provenance": body.provenance is not None,
                },
            )
            return object_out(obj)

    async def withdraw_object(self, p: Principal, rid: str, oid: str) -> RequestOut:
        async with self.ctx.sessions.begin() as session:
            r, obj = await self._editable_object(session, p, rid, oid)
            obj.state = ObjectState.WITHDRAWN
            await audit.record(
                session,
                "object.withdrawn",
                p,
                project_id=r.project_id,
                request_id=r.id,
                object_id=obj.id,
            )
            await session.flush()
            return await self._out(session, p, r)

    async def _check_ready(self, session: AsyncSession, r: AirlockRequest) -> None:
        objects = await current_objects(session, r.id)
        if not objects:
            raise ValidationFailed(
                "a request needs at least one object before it is submitted",
                errors=[FieldError("/objects", "no objects")],
            )
        errors = []
        for i, obj in enumerate(objects):
            meta = obj.meta
            if r.direction == Direction.EGRESS:
                if meta is None or not meta.title:
                    errors.append(FieldError(f"/objects/{i}/metadata/title", "title is required"))
                if meta is None or not meta.statbarn:
                    errors.append(
                        FieldError(f"/objects/{i}/metadata/statbarn", "statbarn is required")
                    )
        if errors:
            raise ValidationFailed("some objects are not described yet", errors=errors)

    async def act(self, p: Principal, rid: str, action: str, **payload: Any) -> RequestOut:
        """submit | resubmit | withdraw, through the state machine."""
        async with self.ctx.sessions.begin() as session:
            r = access.require_view(p, await lock(session, rid))
            if (
                action in ("submit", "resubmit")
                and r.status
                in (
                    RequestStatus.DRAFT,
                    RequestStatus.CHANGES_REQUESTED,
                )
                and access.is_owner(p, r)
            ):
                await self._check_ready(session, r)
                if action == "resubmit":
                    # Objects judged last round go back to pending for the new revision.
                    for obj in await current_objects(session, r.id):
                        obj.state = ObjectState.PENDING
            await transition(session, r, action, p, payload=payload or None)
            await session.flush()
            return await self._out(session, p, r)

    async def audit_log(
        self, p: Principal, rid: str, *, limit: int = 100, after: int = 0
    ) -> AuditList:
        limit = max(1, min(limit, 1000))
        async with self.ctx.sessions() as session:
            r = access.require_view(p, await session.get(AirlockRequest, rid))
            rows = list(
                await session.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.request_id == rid, AuditEvent.seq > after)
                    .order_by(AuditEvent.seq)
                    .limit(limit + 1)
                )
            )
            page = rows[:limit]
            roles: dict[str, str] = {}
            if not blinding.privileged(p, r.project_id):
                roles = await blinding.actor_roles(
                    session, r.project_id, (e.actor_id for e in page)
                )
        return AuditList(
            items=[
                audit_out(e).model_copy(
                    update={
                        "actor": blinding.actor_for(p, e, roles.get(e.actor_id or "")),
                        "payload": blinding.payload_for(p, e),
                    }
                )
                for e in page
            ],
            next_cursor=str(page[-1].seq) if len(rows) > limit else None,
        )
