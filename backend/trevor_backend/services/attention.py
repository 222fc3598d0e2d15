"""What needs an admin's hand: notifications that could not be delivered (the Attention page;
stuck requests and parked releases come from ``metrics_summary``)."""

from __future__ import annotations

from sqlalchemy import select

from ..orm import Notification, OutboxMessage
from ..principal import Principal
from ..schemas import FailedNotification
from .context import Context
from .memberships import require_admin


class AttentionService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def failed_notifications(
        self, p: Principal, limit: int = 100
    ) -> list[FailedNotification]:
        """Messages the outbox gave up on (``outbox_max_attempts`` reached, never sent)."""
        require_admin(p)
        m = OutboxMessage
        async with self.ctx.sessions() as session:
            rows = await session.execute(
                select(m, Notification.event_type, Notification.request_id)
                .outerjoin(Notification, Notification.id == m.notification_id)
                .where(m.sent_at.is_(None), m.attempts >= self.ctx.settings.outbox_max_attempts)
                .order_by(m.created_at.desc())
                .limit(limit)
            )
            return [
                FailedNotification(
                    id=msg.id,
                    channel=msg.channel,
                    recipient=msg.recipient,
                    event_type=event_type,
                    request=request_id,
                    attempts=msg.attempts,
                    last_error=msg.last_error,
                    created_at=msg.created_at,
                )
                for msg, event_type, request_id in rows
            ]
