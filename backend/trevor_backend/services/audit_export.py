"""The audit log as CSV, and checking such a file offline (docs/dashboard.md "Audit export").

Each row carries every field the chain hash covers, as stored: the payload as the canonical
JSON the hash was computed over, the time in ISO 8601 with its offset, and an empty cell for a
null. :func:`verify_rows` recomputes each row's hash with the audit module's own
``event_hash`` and checks the link to the previous row wherever the two rows are neighbours in
the chain, so a filtered export (one project, one request) is checked as far as it can be.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import audit
from .audit_search import EXPORT_COLUMNS

CHAIN_HEADER = (
    "seq",
    "created_at",
    "type",
    "actor_id",
    "actor",
    "project",
    "request",
    "object",
    "payload",
    "correlation_id",
    "prev_hash",
    "hash",
)
#: The keyed-MAC columns follow when the audit log has them (services/audit.py).
HEADER = CHAIN_HEADER + tuple(
    c.key
    for c in EXPORT_COLUMNS[len(CHAIN_HEADER) :]  # key_id, mac
)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def encode_rows(rows: Iterable[Sequence[Any]], *, header: bool = False) -> str:
    """CSV text for rows in ``audit_search.EXPORT_COLUMNS`` order."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    if header:
        out.writerow(HEADER)
    for row in rows:
        seq, created_at, type_, actor_id, actor, project, request, obj, payload, cid, prev, h = row[
            :12
        ]
        out.writerow(
            (
                seq,
                created_at.isoformat(),
                type_,
                _cell(actor_id),
                actor,
                _cell(project),
                _cell(request),
                _cell(obj),
                audit._canonical(payload or {}),
                _cell(cid),
                prev,
                h,
                *(_cell(v) for v in row[12:]),
            )
        )
    return buf.getvalue()


@dataclass
class ExportCheck:
    ok: bool
    rows: int
    #: links between neighbouring events (seq n and n + 1) that were checked
    links: int
    bad_seq: int | None = None
    reason: str = ""


def _none(value: str) -> str | None:
    return value if value != "" else None


def verify_rows(
    rows: Iterable[dict[str, str]],
    *,
    complete: bool = False,
    keys: dict[str, bytes] | None = None,
) -> ExportCheck:
    """Check rows of an export (``csv.DictReader`` rows) without the database.

    ``complete``: the file is an unfiltered export, so it must hold the whole chain from its
    first event with no gap; a filtered export may skip events between its rows. ``keys``
    (audit key id → key) also checks each keyed row's MAC, which only the key holder can."""
    count = links = 0
    prev_seq: int | None = None
    prev_hash: str | None = None
    for row in rows:
        seq = int(row["seq"])
        expected = audit.event_hash(
            seq=seq,
            created_at=datetime.fromisoformat(row["created_at"]),
            type=row["type"],
            actor_id=_none(row["actor_id"]),
            actor=row["actor"],
            project_id=_none(row["project"]),
            request_id=_none(row["request"]),
            object_id=_none(row["object"]),
            payload=json.loads(row["payload"]),
            correlation_id=_none(row["correlation_id"]),
            prev_hash=row["prev_hash"],
        )
        if expected != row["hash"]:
            return ExportCheck(False, count, links, seq, "event content altered")
        if keys is not None and row.get("mac"):
            key = keys.get(row.get("key_id") or "")
            if key is None or not hmac.compare_digest(
                row["mac"],
                audit.event_mac(key, row["key_id"], row["hash"]),
            ):
                return ExportCheck(False, count, links, seq, "keyed MAC does not match")
        if prev_seq is not None and seq <= prev_seq:
            return ExportCheck(False, count, links, seq, "rows out of order")
        if complete and seq != (prev_seq or 0) + 1:
            return ExportCheck(False, count, links, seq, "event missing (gap in sequence)")
        if seq == 1 and row["prev_hash"] != audit.GENESIS_HASH:
            return ExportCheck(False, count, links, seq, "first event does not start the chain")
        if prev_seq is not None and seq == prev_seq + 1:
            if row["prev_hash"] != prev_hash:
                return ExportCheck(False, count, links, seq, "link to previous event broken")
            links += 1
        prev_seq, prev_hash = seq, row["hash"]
        count += 1
    return ExportCheck(True, count, links)


def verify_csv(
    text: str, *, complete: bool = False, keys: dict[str, bytes] | None = None
) -> ExportCheck:
    return verify_rows(csv.DictReader(io.StringIO(text)), complete=complete, keys=keys)
