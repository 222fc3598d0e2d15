"""Rows of the lean read path → the API's JSON, field for field what ``schemas.RequestOut``
and ``schemas.ObjectOut`` produce (``model_dump_json``), without building the models.

``tests/backend/test_lean_reads.py`` compares the two for every role on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from ..contract import Direction, RequestStatus
from .driver import Row

_STATUS = {s.value: s for s in RequestStatus}
_DIRECTION = {d.value: d for d in Direction}
_NO_METADATA: dict[str, Any] = {
    "title": "",
    "description": "",
    "statbarn": None,
    "justification": "",
    "suppression_notes": "",
    "tags": [],
}

_NO_VERDICTS: dict[str, Any] = {}

# Positions in the rows of sql.request_fields() and sql.object_fields().
R_ID, R_PROJECT, R_DIRECTION, R_TITLE, R_DESCRIPTION, R_STATUS, R_REVISION = range(7)
R_CREATED_BY, R_CREATED_AT, R_UPDATED_AT, R_SUBMITTED_AT, R_AUTHOR, R_REPORT = range(7, 13)
#: Where sql.one_request()'s and sql.page()'s rows switch from the request's columns to the
#: object's, and where the object's end (the queue's reviews-received count follows).
R_OBJECT = 13
O_REQUEST, O_ID, O_META = 0, 1, 12
R_EXTRA = R_OBJECT + 19  # after sql.object_fields()'s 19 columns


#: PostgreSQL's infinite timestamps (asyncpg's datetime.min/max), as the ORM reads them.
_INFINITE = {
    "-infinity": datetime.min.replace(tzinfo=UTC),
    "infinity": datetime.max.replace(tzinfo=UTC),
}


def stamp(value: Any) -> datetime:
    """A row's timestamp as the ORM reads it (aware, UTC): SQLite hands back its text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if value in _INFINITE:
        return _INFINITE[value]
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def iso(value: Any) -> str | datetime | None:
    """A timestamp for :func:`dumps` to write as pydantic writes an aware UTC datetime
    (``…T…[.ffffff]Z``, microseconds only when non-zero): the text of ``sql.stamp`` is
    rewritten by slicing; an aware datetime is left to orjson, which writes it in a tenth
    of the time ``isoformat()`` takes. Called four times per row: the common shapes first."""
    if value.__class__ is str:
        n = len(value)
        if n == 29 and value[26] == "+" and value[10] == " ":
            # PostgreSQL's output in UTC with six fractional digits (it drops trailing zeros,
            # so a whole second has none and never reads .000000).
            return f"{value[:10]}T{value[11:26]}Z"
        if n == 26 and value[10] == " " and value[19] == ".":
            # SQLAlchemy's SQLite storage format, always with microseconds.
            micro = value[20:]
            return f"{value[:10]}T{value[11:19]}{'' if micro == '000000' else '.' + micro}Z"
        if value[-3:] == "+00" and value[10:11] == " ":
            # PostgreSQL's with a shorter fraction, or none.
            if n == 22:
                return f"{value[:10]}T{value[11:19]}Z"
            if value[19] == ".":
                return f"{value[:10]}T{value[11:19]}.{value[20:-3]:0<6}Z"
    elif value is None:
        return None
    elif isinstance(value, datetime):
        return value if value.tzinfo is UTC else value.astimezone(UTC)
    return stamp(value)


def loads(value: Any) -> Any:
    """A JSON column's value: text on both drivers (asyncpg has no json codec by default)."""
    if value is None or value == "[]":  # most objects' tags
        return None if value is None else []
    return orjson.loads(value) if isinstance(value, str | bytes) else value


class LeanRequest:
    """The request columns the access and transition rules read (``project_id``,
    ``direction``, ``status``, ``created_by``), as enum members like the ORM's."""

    __slots__ = ("created_by", "direction", "id", "project_id", "revision", "status")

    def __init__(self, row: Row) -> None:
        self.id: str = row[R_ID]
        self.project_id: str = row[R_PROJECT]
        self.direction: Direction = _DIRECTION[row[R_DIRECTION]]
        self.status: RequestStatus = _STATUS[row[R_STATUS]]
        self.created_by: str = row[R_CREATED_BY]
        self.revision: int = row[R_REVISION]


def verdicts(report: Any) -> dict[str, Any]:
    """Per-object verdicts of an agent report (its text or its parsed JSON): each object's
    non-empty status. The model path reads them here too (``services.requests``). A report of
    another shape than our agent's (``objects`` not a mapping, a member not an object) has no
    verdicts rather than failing every read of the request."""
    parsed = loads(report)
    objects = parsed.get("objects") if isinstance(parsed, dict) else None
    if not isinstance(objects, dict):
        return {}
    return {
        oid: obj["status"]
        for oid, obj in objects.items()
        if isinstance(obj, dict) and obj.get("status")
    }


def object_dict(row: Row, verdict: Any) -> dict[str, Any]:
    if row[O_META] is None:
        metadata = dict(_NO_METADATA)
    else:
        metadata = {
            "title": row[13],
            "description": row[14],
            "statbarn": row[15],
            "justification": row[16],
            "suppression_notes": row[17],
            "tags": list(loads(row[18]) or []),
        }
    return {
        "id": row[1],
        "logical_id": row[2],
        "version": row[3],
        "supersedes_id": row[4],
        "filename": row[5],
        "media_type": row[6],
        "size": row[7],
        "sha256": row[8],
        "state": row[9],
        "created_at": iso(row[10]),
        "metadata": metadata,
        "has_evidence": bool(row[11]),
        "verdict": verdict,
    }


def request_dict(row: Row, actions: list[str], objects: list[Row]) -> dict[str, Any]:
    report = row[R_REPORT]
    judged = _NO_VERDICTS if report is None else verdicts(report)  # most have no agent review
    return {
        "id": row[R_ID],
        "project": row[R_PROJECT],
        "direction": row[R_DIRECTION],
        "title": row[R_TITLE],
        "description": row[R_DESCRIPTION],
        "status": row[R_STATUS],
        "revision": row[R_REVISION],
        "created_by": row[R_AUTHOR] if row[R_AUTHOR] is not None else "?",
        "created_at": iso(row[R_CREATED_AT]),
        "updated_at": iso(row[R_UPDATED_AT]),
        "submitted_at": iso(row[R_SUBMITTED_AT]),
        "actions": actions,
        "objects": [object_dict(o, judged.get(o[1])) for o in objects],
    }


def grouped(rows: Sequence[Row]) -> list[tuple[Row, list[Row]]]:
    """Rows of a request per object (``sql.one_request``, ``sql.page``) → each request's
    first row with its objects' columns, in order. A request's rows are adjacent (both
    statements order by the request's unique key first)."""
    out: list[tuple[Row, list[Row]]] = []
    last = None
    for row in rows:
        if row[R_ID] != last:
            last = row[R_ID]
            out.append((row, []))
        if row[R_OBJECT + O_ID] is not None:
            out[-1][1].append(row[R_OBJECT:R_EXTRA])
    return out


def dumps(value: Any) -> bytes:
    # OPT_UTC_Z: "Z" for UTC as pydantic writes it (microseconds only when non-zero, alike).
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)
