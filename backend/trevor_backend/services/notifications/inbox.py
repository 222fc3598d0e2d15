"""The caller's in-app notifications: list (newest first, cursor), mark read/unread, count."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select

from ...errors import NotFound
from ...orm import Notification, utcnow
from ...principal import Principal
from ...schemas import NotificationList, NotificationOut, UnreadCount
from ..context import Context
from ..pagination import newest_first, next_cursor

MAX_PAGE = 200


def notification_out(n: Notification) -> NotificationOut:
    return NotificationOut(
        id=n.id,
        event_type=n.event_type,
        request=n.request_id,
        payload=dict(n.payload or {}),
        created_at=n.created_at,
        read_at=n.read_at,
        read=n.read_at is not None,
    )


class NotificationService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @staticmethod
    def _mine(p: Principal) -> list[ColumnElement[bool]]:
        # The system principal has no inbox; user_id None then matches nothing.
        return [Notification.user_id == (p.user_id or "")]

    async def list(
        self, p: Principal, *, unread: bool = False, limit: int = 50, cursor: str | None = None
    ) -> NotificationList:
        limit = max(1, min(limit, MAX_PAGE))
        q = select(Notification).where(*self._mine(p))
        if unread:
            q = q.where(Notification.read_at.is_(None))
        q = newest_first(q, Notification, cursor, limit)
        async with self.ctx.sessions() as session:
            rows = list(await session.scalars(q))
        return NotificationList(
            items=[notification_out(n) for n in rows[:limit]],
            next_cursor=next_cursor(rows, limit),
        )

    async def mark(self, p: Principal, nid: str, read: bool) -> NotificationOut:
        async with self.ctx.sessions.begin() as session:
            n = await session.scalar(
                select(Notification).where(Notification.id == nid, *self._mine(p))
            )
            if n is None:
                # Someone else's notification is as absent as a missing one.
                raise NotFound("notification not found")
            if read and n.read_at is None:
                n.read_at = utcnow()
            elif not read:
                n.read_at = None
            await session.flush()
            return notification_out(n)

    async def unread_count(self, p: Principal) -> UnreadCount:
        async with self.ctx.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(*self._mine(p), Notification.read_at.is_(None))
            )
        return UnreadCount(unread=int(count or 0))
