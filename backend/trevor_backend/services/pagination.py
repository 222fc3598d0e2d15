"""Opaque keyset cursors for newest-first listings ordered by (created_at, id)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from ..errors import FieldError, ValidationFailed


def encode_cursor(created_at: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(stamp), row_id
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "invalid cursor", errors=[FieldError("/cursor", "not a cursor from this API")]
        ) from exc
