"""The running backend: context, services and pluggable parts, built from the application's
configuration. Handlers reach it as ``self.settings["trevor"]`` (``BaseHandler.backend``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth import Authenticator
from .metrics import Metrics
from .ratelimit import RateLimiter
from .services.attention import AttentionService
from .services.audit_export import AuditExport
from .services.audit_search import AuditSearch
from .services.context import Context
from .services.deliveries import DeliveryService
from .services.eventbus import EventBus
from .services.ingress import IngressService
from .services.ingress_links import IngressLinks
from .services.lineage import LineageService
from .services.memberships import MembershipService
from .services.metrics_summary import MetricsService
from .services.notifications.inbox import NotificationService
from .services.previews import PreviewService
from .services.projects import ProjectService
from .services.release import ReleaseService
from .services.requests import RequestService
from .services.reviews import ReviewService
from .services.tokens import TokenService
from .services.uploads import UploadService


@dataclass
class Backend:
    ctx: Context
    authenticator: Authenticator
    rate_limiter: RateLimiter | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.authenticator.sessions = self.ctx.sessions
        self.projects = ProjectService(self.ctx)
        self.requests = RequestService(self.ctx)
        self.uploads = UploadService(self.ctx)
        self.reviews = ReviewService(self.ctx)
        self.lineage = LineageService(self.ctx)
        self.previews = PreviewService(self.ctx, self.requests)
        self.release = ReleaseService(self.ctx)
        self.ingress = IngressService(self.ctx)
        self.deliveries = DeliveryService(self.ctx)
        self.notifications = NotificationService(self.ctx)
        self.tokens = TokenService(self.ctx)
        self.events = EventBus(self.ctx)
        self.ingress_links = IngressLinks(self.ctx)
        self.attention = AttentionService(self.ctx)
        self.memberships = MembershipService(self.ctx)
        self.audit_search = AuditSearch(self.ctx)
        self.audit_export = AuditExport(self.ctx)
        self.metrics_summary = MetricsService(self.ctx)
        self.metrics = Metrics()

    async def close(self) -> None:
        await self.events.close()
        drain = getattr(self.authenticator, "drain", None)
        if drain is not None:
            await drain()
        await self.ctx.store.close()
        if self.ctx.reads is not None:
            await self.ctx.reads.close()
        await self.ctx.engine.dispose()
