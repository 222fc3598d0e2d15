"""The lean read path's SQL: one text per statement for both databases, with placeholders
written by :class:`Sql` (``?`` for sqlite3, ``$n`` for asyncpg).

Plain text rather than SQLAlchemy Core: the statements are few, reviewed here, and executing
them through the driver skips SQLAlchemy's per-statement work, which profiling showed cost
more than the SQL itself (issue 10). ``tests/backend/test_lean_reads.py`` runs every statement
on SQLite and PostgreSQL and compares the answers with the ORM path's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ..contract import CURRENT_OBJECT_STATES, ReviewKind


class Sql:
    """Collects bound values and writes their placeholders in the driver's style."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        if isinstance(value, datetime):
            value = self.stamp(value)
        self.args.append(value)
        # Numbered on both (``?3``, ``$3``), so a statement may use values in any order.
        return f"?{len(self.args)}" if self.sqlite else f"${len(self.args)}"

    def stamp(self, value: datetime) -> Any:
        utc = value.astimezone(UTC)
        if not self.sqlite:
            return utc
        # SQLAlchemy's own formatting (zero-padded years, unlike strftime's %Y for years
        # before 1000), since SQLite compares the text.
        return (
            f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
            f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}"
        )

    def any_of(self, column: str, values: Iterable[Any]) -> str:
        """``column`` is one of ``values``: an expanded IN on SQLite, ``= ANY`` of one array
        on PostgreSQL (one statement text whatever the count, so asyncpg's prepared statement
        is reused). A single value is an equality on both: PostgreSQL walks an index in order
        for ``project_id = $1`` (a keyset page reads 51 rows) but not for ``= ANY($1)``
        (it read and sorted all 10,000 of a project's requests: 8 ms instead of 0.2)."""
        values = list(values)
        if not values:
            return "1 = 0"
        if len(values) == 1:
            return f"{column} = {self.param(values[0])}"
        if self.sqlite:
            return f"{column} IN ({', '.join(self.param(v) for v in values)})"
        return f"{column} = ANY({self.param(values)})"


def _quoted(values: Iterable[str]) -> str:
    # Only our own enum values are written into the text, never a caller's input.
    return ", ".join(f"'{v}'" for v in sorted(values))


AUTH = (
    "SELECT t.id, t.expires_at, t.last_used_at, u.id, u.username, u.admin,"
    " m.project_id, m.role"
    " FROM api_tokens t JOIN users u ON u.id = t.user_id"
    " LEFT JOIN memberships m ON m.user_id = u.id"
    " WHERE t.token_hash = {token}"
)


def stamp(sqlite: bool, column: str) -> str:
    """A timestamp column as text on both databases, which ``render.iso`` rewrites by
    slicing: asyncpg's decoding of a timestamptz into an aware datetime cost more (0.25 ms
    per 100 rows of three timestamps, profiled) than the rest of the row. SQLite holds
    SQLAlchemy's text (``YYYY-MM-DD HH:MM:SS.ffffff``); PostgreSQL's own output of a
    timestamptz (``YYYY-MM-DD HH:MM:SS[.f]+00``, fraction without trailing zeros, ``infinity``)
    is in UTC and ISO style because the lean pool's sessions are (``driver.SESSION``). Its
    plain output function, not ``to_char``: four ``to_char`` calls per row were a fifth of the
    statement's execution on a page of 50 (measured)."""
    return column if sqlite else f"{column}::text"


def request_fields(sqlite: bool) -> str:
    """A request's columns for the API, its author's name and the report of its latest agent
    review (per-object verdicts), from a row source aliased ``r``."""
    return (
        "r.id, r.project_id, r.direction, r.title, r.description, r.status, r.revision,"
        f" r.created_by, {stamp(sqlite, 'r.created_at')}, {stamp(sqlite, 'r.updated_at')},"
        f" {stamp(sqlite, 'r.submitted_at')}, u.username,"
        " (SELECT a.report FROM reviews a"
        f" WHERE a.request_id = r.id AND a.kind = '{ReviewKind.AGENT.value}'"
        " ORDER BY a.revision DESC, a.created_at DESC LIMIT 1)"
    )


#: The row columns a page is filtered and ordered on, inside its LIMITed subquery (so the
#: author and verdict lookups run only for the rows on the page).
PAGE_COLUMNS = (
    "r.id, r.project_id, r.direction, r.title, r.description, r.status, r.revision,"
    " r.created_by, r.created_at, r.updated_at, r.submitted_at"
)
#: Human reviews the request (``r``) received at its current revision (the review queue).
REVIEWS_RECEIVED = (
    "(SELECT count(*) FROM reviews h WHERE h.request_id = r.id"
    f" AND h.revision = r.revision AND h.kind = '{ReviewKind.HUMAN.value}')"
)


def page(sqlite: bool, where: str, order: str, limit: int, extra: str = "") -> str:
    """A page of requests with their current objects in one statement (one round trip):
    filter and order inside a LIMITed subquery, then the per-row lookups and the objects for
    the page's rows only. A row per object, as :func:`one_request`'s (``extra`` after the
    object's columns); a request without objects is one row with NULL object columns.

    The limit is written into the text, not bound: PostgreSQL plans a prepared statement
    for unknown values after five runs, and for ``LIMIT $n`` it assumes a tenth of the table
    (hash joins over every object and its metadata: 5 ms instead of 0.6), so with a bound
    limit it planned every page afresh (0.3-0.5 ms). A page size is one of a few hundred
    values, so the statements stay few."""
    extra = f", {extra}" if extra else ""
    limit = int(limit)  # never a caller's text in the SQL
    return (
        f"SELECT {request_fields(sqlite)}, {object_fields(sqlite)}{extra}"
        f" FROM (SELECT {PAGE_COLUMNS} FROM requests r WHERE {where}"
        f" ORDER BY {order} LIMIT {limit}) r"
        f" LEFT JOIN users u ON u.id = r.created_by{_OBJECTS_JOIN}"
        f" ORDER BY {order}, o.created_at, o.id"
    )


def has_evidence(sqlite: bool) -> str:
    # SQLAlchemy stores a Python None assigned to a JSON column as JSON 'null', which the ORM
    # reads back as None: both mean "no evidence". Only this flag is read, not the document.
    text = "o.evidence" if sqlite else "o.evidence::text"
    return f"(o.evidence IS NOT NULL AND {text} <> 'null')"


def object_fields(sqlite: bool) -> str:
    """An object's columns for the API (``o``), with its metadata's (``m``, NULL when none)."""
    return (
        "o.request_id, o.id, o.logical_id, o.version, o.supersedes_id, o.filename,"
        f" o.media_type, o.size, o.sha256, o.state, {stamp(sqlite, 'o.created_at')},"
        f" {has_evidence(sqlite)},"
        " m.logical_id, m.title, m.description, m.statbarn, m.justification,"
        " m.suppression_notes, m.tags"
    )


CURRENT = f"o.state IN ({_quoted(s.value for s in CURRENT_OBJECT_STATES)})"
#: A request's (``r``) current objects and their metadata, as LEFT JOINs.
_OBJECTS_JOIN = (
    # A chain of LEFT JOINs, not "LEFT JOIN (objects o JOIN object_metadata m ...)":
    # SQLite materialised the parenthesised join, every object of every request (22 ms
    # of CPU per read at 10,000 requests, against 0.4 ms this way).
    f" LEFT JOIN objects o ON o.request_id = r.id AND {CURRENT}"
    " LEFT JOIN object_metadata m ON m.logical_id = o.logical_id"
)


def one_request(sqlite: bool, rid: str) -> str:
    """One request with its current objects in one statement (one round trip on
    PostgreSQL): a row per object, the request's columns first (one row with NULL object
    columns when it has none)."""
    return (
        f"SELECT {request_fields(sqlite)}, {object_fields(sqlite)}"
        f" FROM requests r LEFT JOIN users u ON u.id = r.created_by{_OBJECTS_JOIN}"
        f" WHERE r.id = {rid} ORDER BY o.created_at, o.id"
    )
