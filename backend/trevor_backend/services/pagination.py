"""Opaque keyset cursors for listings ordered by (a timestamp, id): newest first (requests,
notifications) or oldest first by another timestamp (the review queue, by submitted_at)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, or_

from ..errors import FieldError, ValidationFailed


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        at = datetime.fromisoformat(stamp)
        if "\x00" in row_id:
            # No id holds NUL, and PostgreSQL refuses it in text (a 500 before).
            raise ValueError("NUL in the id")
        if at.tzinfo is None:
            # Every cursor this API issues carries its UTC offset; a naive time is someone
            # else's, and the timestamp columns refuse it (a 500 before).
            raise ValueError("no UTC offset")
        # In UTC here, so an offset that pushes the time out of datetime's range (year 1
        # at +14:00) is a bad cursor rather than an overflow in the query (a 500 before).
        return at.astimezone(UTC), row_id
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise _not_ours() from exc


def _not_ours() -> ValidationFailed:
    return ValidationFailed(
        "invalid cursor", errors=[FieldError("/cursor", "not a cursor from this API")]
    )


def newest_first(q: Select[Any], model: Any, cursor: str | None, limit: int) -> Select[Any]:
    """``q`` ordered newest first by (created_at, id), after ``cursor``, one row over ``limit``
    so the caller can tell whether another page follows."""
    if cursor:
        stamp, row_id = decode_cursor(cursor)
        q = q.where(
            or_(model.created_at < stamp, and_(model.created_at == stamp, model.id < row_id))
        )
    return q.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)


def next_cursor(rows: Sequence[Any], limit: int) -> str | None:
    """The cursor of the page after ``rows[:limit]``, if ``newest_first`` found more."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(last.created_at, last.id)


def oldest_first(
    q: Select[Any], stamp_col: Any, id_col: Any, cursor: str | None, limit: int
) -> Select[Any]:
    """``q`` ordered oldest first by (``stamp_col``, ``id_col``), after ``cursor``, one row over
    ``limit`` (see :func:`next_cursor_by`). ``stamp_col`` must not be NULL on listed rows."""
    if cursor:
        stamp, row_id = decode_cursor(cursor)
        q = q.where(or_(stamp_col > stamp, and_(stamp_col == stamp, id_col > row_id)))
    return q.order_by(stamp_col, id_col).limit(limit + 1)


def next_cursor_by(rows: Sequence[Any], limit: int, stamp_attr: str) -> str | None:
    """The cursor of the page after ``rows[:limit]`` for :func:`oldest_first` on ``stamp_attr``."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor(getattr(last, stamp_attr), last.id)
