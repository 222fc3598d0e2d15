"""ORM rows → API models. The only place that knows both shapes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from .contract import ObjectState
from .orm import AirlockRequest, AuditEvent
from .schemas import AuditEventOut, MetadataOut, ObjectOut, RequestOut


class MetadataColumns(Protocol):
    """What ``metadata_out`` reads: an ``orm.ObjectMetadata`` or a page row's columns."""

    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def statbarn(self) -> str | None: ...
    @property
    def justification(self) -> str: ...
    @property
    def suppression_notes(self) -> str: ...
    @property
    def tags(self) -> list[Any] | None: ...


class ObjectColumns(Protocol):
    """What ``object_out`` reads: an ``orm.OutputObject`` or a page row's columns
    (``services.requests.CurrentObject``)."""

    @property
    def id(self) -> str: ...
    @property
    def logical_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def supersedes_id(self) -> str | None: ...
    @property
    def filename(self) -> str: ...
    @property
    def media_type(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...
    @property
    def state(self) -> ObjectState: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def evidence(self) -> dict[str, Any] | None: ...
    @property
    def meta(self) -> MetadataColumns | None: ...


def metadata_out(meta: MetadataColumns | None) -> MetadataOut:
    if meta is None:
        return MetadataOut(
            title="", description="", statbarn=None, justification="", suppression_notes="", tags=[]
        )
    return MetadataOut(
        title=meta.title,
        description=meta.description,
        statbarn=meta.statbarn,
        justification=meta.justification,
        suppression_notes=meta.suppression_notes,
        tags=list(meta.tags or []),
    )


def object_out(obj: ObjectColumns, verdict: str | None = None) -> ObjectOut:
    return ObjectOut(
        id=obj.id,
        logical_id=obj.logical_id,
        version=obj.version,
        supersedes_id=obj.supersedes_id,
        filename=obj.filename,
        media_type=obj.media_type,
        size=obj.size,
        sha256=obj.sha256,
        state=obj.state,
        created_at=obj.created_at,
        metadata=metadata_out(obj.meta),
        has_evidence=obj.evidence is not None,
        verdict=verdict,  # type: ignore[arg-type]
    )


def request_out(
    r: AirlockRequest,
    author: str,
    objects: Sequence[ObjectColumns],
    actions: list[str],
    verdicts: dict[str, str] | None = None,
) -> RequestOut:
    """``actions``: what the caller may do to ``r`` now, as the state machine
    (``services.transitions.allowed_actions``) says — passed in, so this module stays below
    the services."""
    verdicts = verdicts or {}
    return RequestOut(
        id=r.id,
        project=r.project_id,
        direction=r.direction,
        title=r.title,
        description=r.description,
        status=r.status,
        revision=r.revision,
        created_by=author,
        created_at=r.created_at,
        updated_at=r.updated_at,
        submitted_at=r.submitted_at,
        actions=actions,
        objects=[object_out(o, verdicts.get(o.id)) for o in objects],
    )


def audit_out(ev: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        seq=ev.seq,
        created_at=ev.created_at,
        type=ev.type,
        actor=ev.actor,
        project=ev.project_id,
        request=ev.request_id,
        object=ev.object_id,
        payload=ev.payload,
        correlation_id=ev.correlation_id,
        hash=ev.hash,
    )


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
