"""In-app notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .base import Model


class NotificationOut(Model):
    id: str
    event_type: str
    request: str | None
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    read: bool


class NotificationList(Model):
    items: list[NotificationOut]
    next_cursor: str | None


class NotificationPatch(Model):
    read: bool


class UnreadCount(Model):
    unread: int


class FailedNotification(Model):
    id: str
    channel: str
    recipient: str
    event_type: str | None
    request: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
