"""The audit log as CSV, and checking such a file offline (docs/dashboard.md "Audit export").

Each row carries every field the chain hash covers, as stored: the payload as the JSON text
the database holds (it parses to the value whose canonical form the hash covers), the time in
ISO 8601 with its offset, and an empty cell for a null. :func:`verify_rows` recomputes each
row's hash with the audit module's own ``event_hash`` and checks the link to the previous row
wherever the two rows are neighbours in the chain, so a filtered export (one project, one
request) is checked as far as it can be.

On PostgreSQL the rows are written by the server (``COPY (SELECT ...) TO STDOUT``) and passed
to the client as they arrive; on SQLite a Core query feeds Python's csv module. Both write
the same bytes for the same events (``tests/backend/test_audit_export.py``).
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, literal_column, select

from ..orm import AuditEvent
from ..principal import Principal
from . import audit
from .audit_search import EXPORT_COLUMNS, AuditQuery, conditions
from .context import Context

log = logging.getLogger(__name__)

#: Receives the file piece by piece; awaiting it is the backpressure (the HTTP handler flushes).
Sink = Callable[[bytes], Awaitable[None]]

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


def _writer(buf: io.StringIO) -> Any:
    # LF line ends, as PostgreSQL's COPY writes them, so both paths give the same bytes.
    return csv.writer(buf, lineterminator="\n")


HEADER_LINE = ",".join(HEADER) + "\n"
_SPECIAL = (",", '"', "\n", "\r")


def _quoted_line(row: Sequence[Any]) -> str:
    """One row quoted by COPY's rule: a field holding a comma, quote, LF or CR is quoted."""
    cells = []
    for value in row:
        cell = _cell(value)
        if any(c in cell for c in _SPECIAL):
            cell = '"' + cell.replace('"', '""') + '"'
        cells.append(cell)
    return ",".join(cells) + "\n"


def encode_rows(rows: Iterable[Sequence[Any]]) -> str:
    """CSV text for rows in ``audit_search.EXPORT_COLUMNS`` order, the payload as stored text
    (``export_columns``)."""
    rows = [
        (row[0], row[1].isoformat(), *(None if v == "" else v for v in row[2:])) for row in rows
    ]
    buf = io.StringIO()
    _writer(buf).writerows(rows)
    text = buf.getvalue()
    if "\r" not in text:
        return text
    # With LF line ends the csv module leaves a bare CR unquoted, which a reader takes for a
    # line end; COPY quotes such a field. Rare (only names from outside, such as an actor,
    # could hold a CR), so those rows alone are written by hand.
    buf = io.StringIO()
    out = _writer(buf)
    for row in rows:
        if any(isinstance(v, str) and "\r" in v for v in row):
            buf.write(_quoted_line(row))
        else:
            out.writerow(row)
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


#: seq values one export statement covers. Each span is a statement (and snapshot) of its own,
#: so a slow download holds no snapshot open for its whole length; seq is dense (the chain
#: numbers events previous + 1), so a span holds at most this many events.
PG_SPAN = 100_000
#: SQLite's span is read into memory whole (aiosqlite has no server-side cursor to stream).
SQLITE_SPAN = 5_000


def export_columns(dialect: str) -> list[ColumnElement[Any]]:
    """``EXPORT_COLUMNS`` with the payload as its stored JSON text; on PostgreSQL every cell
    formatted by the server exactly as :func:`encode_rows` formats it in Python."""
    e = AuditEvent
    if dialect != "postgresql":
        return [cast(e.payload, Text) if c is e.payload else c for c in EXPORT_COLUMNS]
    # Python's isoformat(): microseconds only when not zero, offset as +00:00.
    utc = "(audit_events.created_at AT TIME ZONE 'UTC')"
    created: ColumnElement[Any] = literal_column(
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
        f"date_trunc('second', {utc}) = {utc} THEN '' ELSE to_char({utc}, '.US') END "
        "|| '+00:00'"
    )
    out: list[ColumnElement[Any]] = []
    for c in EXPORT_COLUMNS:
        if c is e.seq:
            out.append(e.seq.expression)
        elif c is e.created_at:
            out.append(created)
        elif c is e.payload:
            out.append(cast(c, Text))
        else:
            # COPY quotes an empty string (to tell it from NULL); the csv module does not.
            out.append(func.nullif(c, literal_column("''")))
    return out


class AuditExport:
    """``GET /api/v1/audit?format=csv``: the selection of ``audit_search`` oldest first."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def write_csv(self, p: Principal, q: AuditQuery, sink: Sink) -> int:
        """Send the header and every selected event to ``sink``; returns the rows sent.

        A refused caller or a bad filter raises before the first byte, so the handler can
        still answer with a problem document. The selection ends at the chain's head as it
        was when the export began."""
        where = conditions(p, q)
        async with self.ctx.sessions() as session:
            head = await session.scalar(select(func.max(AuditEvent.seq))) or 0
        await sink(HEADER_LINE.encode())
        pg = self.ctx.dialect == "postgresql"
        span = PG_SPAN if pg else SQLITE_SPAN
        columns = export_columns(self.ctx.dialect)
        sent = after = 0
        while after < head:
            upto = min(after + span, head)
            stmt = (
                select(*columns)
                .where(*where, AuditEvent.seq > after, AuditEvent.seq <= upto)
                .order_by(AuditEvent.seq)
            )
            sent += await (self._copy(stmt, sink) if pg else self._encode(stmt, sink))
            after = upto
        return sent

    async def _encode(self, stmt: Any, sink: Sink) -> int:
        async with self.ctx.sessions() as session:
            rows = (await session.execute(stmt)).all()
        if rows:
            await sink(encode_rows(rows).encode())
        return len(rows)

    async def _copy(self, stmt: Any, sink: Sink) -> int:
        # Expanded IN lists (a senior checker's projects) become plain $n parameters.
        compiled = stmt.compile(
            dialect=self.ctx.engine.dialect, compile_kwargs={"render_postcompile": True}
        )
        params = compiled.construct_params()
        args = [params[name] for name in compiled.positiontup or ()]

        async def send(data: memoryview) -> None:
            # asyncpg lends a view of its read buffer; it is reused once this returns.
            await sink(bytes(data))

        async with self.ctx.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None  # an open connection has its asyncpg connection
            try:
                status = await driver.copy_from_query(
                    compiled.string, *args, output=send, format="csv"
                )
            except BaseException:
                # asyncpg asks the server to cancel the COPY when the sink fails (the client
                # went away); the connection is not returned to the pool mid-protocol.
                await conn.invalidate()
                raise
        return int(status.split()[-1])
