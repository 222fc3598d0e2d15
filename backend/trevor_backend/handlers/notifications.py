"""The caller's in-app notifications."""

from __future__ import annotations

from ..errors import FieldError, ValidationFailed
from ..schemas import NotificationList, NotificationOut, NotificationPatch, Problem, UnreadCount
from .base import BaseHandler
from .spec import operation


def flag(handler: BaseHandler, name: str, default: bool) -> bool:
    """A boolean query parameter: 1/0, true/false, yes/no; anything else is a 422."""
    raw = handler.query(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValidationFailed(
        f"{name} must be 1 or 0", errors=[FieldError(f"/{name}", "one of: 1, 0, true, false")]
    )


class NotificationsHandler(BaseHandler):
    @operation(
        "The caller's notifications, newest first",
        tags="notifications",
        query={
            "unread": "1 for unread only",
            "limit": "page size (1-200, default 50)",
            "cursor": "next_cursor of the previous page",
        },
        responses={200: NotificationList, 401: Problem, 422: Problem},
    )
    async def get(self) -> None:
        unread = flag(self, "unread", False)
        self.write_json(
            await self.backend.notifications.list(
                self.principal,
                unread=unread,
                limit=self.int_query("limit", 50),
                cursor=self.query("cursor"),
            )
        )


class NotificationHandler(BaseHandler):
    @operation(
        "Mark one of the caller's notifications read or unread",
        tags="notifications",
        body=NotificationPatch,
        responses={200: NotificationOut, 401: Problem, 404: Problem, 422: Problem},
    )
    async def patch(self, nid: str) -> None:
        body = self.parse(NotificationPatch)
        self.write_json(await self.backend.notifications.mark(self.principal, nid, body.read))


class UnreadCountHandler(BaseHandler):
    @operation(
        "How many of the caller's notifications are unread",
        tags="notifications",
        responses={200: UnreadCount, 401: Problem},
    )
    async def get(self) -> None:
        self.write_json(await self.backend.notifications.unread_count(self.principal))
