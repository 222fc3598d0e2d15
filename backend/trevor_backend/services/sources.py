"""What was recorded at source for an object version: the kernel's SDC evidence and the
provenance (notebook, cell code, kernel, package versions), for the checker's review view."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ..orm import OutputObject
from ..schemas import Evidence, ObjectSourceOut, Provenance


def _documented(model: type[BaseModel], raw: Any, what: str, notes: list[str]) -> Any:
    """The stored JSON in its documented shape, or None with a note: evidence and provenance
    were accepted as free-form JSON, and one odd record must not make the object unreadable."""
    if raw is None:
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        notes.append(
            f"the stored {what} does not have the documented shape ({exc.error_count()} "
            "error(s)); the agent report says how it was judged"
        )
        return None


def object_source(obj: OutputObject) -> ObjectSourceOut:
    notes: list[str] = []
    evidence = _documented(Evidence, obj.evidence, "evidence", notes)
    bound = obj.evidence.get("sha256") if isinstance(obj.evidence, dict) else None
    return ObjectSourceOut(
        object_id=obj.id,
        sha256=obj.sha256,
        evidence=evidence,
        evidence_matches=obj.evidence is not None and bound in (None, obj.sha256),
        provenance=_documented(Provenance, obj.provenance, "provenance", notes),
        note="; ".join(notes) or None,
    )
