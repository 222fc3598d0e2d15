"""Audit events and their search."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

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


class AuditRecordOut(AuditEventOut):
    """An audit event as the admin search shows it: with its link to the previous event."""

    actor_id: str | None
    prev_hash: str


class AuditPage(Model):
    items: list[AuditRecordOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page")


class TimelineEntry(Model):
    event: AuditRecordOut
    intact: bool = Field(description="the event's hash and its link to the previous event hold")
