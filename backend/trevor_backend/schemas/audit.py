"""Audit events and their search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .base import Model


class AuditEventOut(Model):
    seq: int
    created_at: datetime
    type: str
    actor: str
    project: str | None
    request: str | None
    object: str | None
    payload: dict[str, Any]
    correlation_id: str | None
    hash: str


class AuditList(Model):
    items: list[AuditEventOut]
    next_cursor: str | None
