"""ORM rows → API models. The only place that knows both shapes."""

from __future__ import annotations

from typing import Any

from .orm import AirlockRequest, AuditEvent, ObjectMetadata, OutputObject
from .schemas import AuditEventOut, MetadataOut, ObjectOut, RequestOut


def metadata_out(meta: ObjectMetadata | None) -> MetadataOut:
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


def object_out(obj: OutputObject, verdict: str | None = None) -> ObjectOut:
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
    objects: list[OutputObject],
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
        direction=r.direction,  # type: ignore[arg-type]
        title=r.title,
        description=r.description,
        status=r.status,  # type: ignore[arg-type]
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


def dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")
