"""The running backend: context, services and pluggable parts, built from the application's
configuration. Handlers reach it as ``self.settings["trevor"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .auth import Authenticator
from .metrics import Metrics
from .ratelimit import RateLimiter
from .services.context import Context
from .services.previews import PreviewService
from .services.requests import RequestService
from .services.uploads import UploadService


@dataclass
class Backend:
    ctx: Context
    authenticator: Authenticator
    rate_limiter: RateLimiter | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.requests = RequestService(self.ctx)
        self.uploads = UploadService(self.ctx)
        # Imported here, not in the shared import block above, which every team edits.
        from .services.release import ReleaseService

        self.release = ReleaseService(self.ctx)
        from .services.deliveries import DeliveryService
        from .services.ingress import IngressService

        self.ingress = IngressService(self.ctx)
        self.deliveries = DeliveryService(self.ctx)
        self.previews = PreviewService(self.ctx, self.requests)
        from .services.notifications import NotificationService

        self.notifications = NotificationService(self.ctx)
        self.metrics = Metrics()

    async def close(self) -> None:
        await self.ctx.store.close()
        await self.ctx.engine.dispose()
