"""What every service needs: database sessions, the object store and deployment settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import Sessions
from ..storage import ObjectStore
from .notifications.channels import Notifier


@dataclass(frozen=True)
class Settings:
    """Deployment settings the services read; filled from the traitlets application."""

    max_upload_size: int = 5 * 1024**3
    max_body_size: int = 16 * 1024**2
    required_reviews: int = 2
    sdc_params: dict[str, Any] = field(default_factory=dict)
    preview_max_bytes: int = 20 * 1024**2
    secret_key: bytes = b""
    public_url: str = "http://127.0.0.1:8585"
    # Outgoing notifications (docs/notifications.md): retries back off from outbox_backoff
    # seconds, doubling, until outbox_max_attempts.
    outbox_max_attempts: int = 8
    outbox_backoff: float = 30.0
    # Live events (GET /api/v1/events): database poll and keep-alive comment intervals.
    events_poll_interval: float = 1.0
    events_heartbeat: float = 15.0
    # Release and ingress (docs/release.md, docs/ingress.md); durations in seconds.
    release_url_lifetime: int = 7 * 24 * 3600
    crate_names_checkers: bool = False
    release_expiry_warning: int = 24 * 3600
    release_max_attempts: int = 3
    stuck_request_sla: int = 3 * 24 * 3600
    ingress_upload_url_lifetime: int = 24 * 3600


@dataclass
class Context:
    engine: AsyncEngine
    sessions: Sessions
    store: ObjectStore
    settings: Settings
    # The configured notification channels (TrevorBackend.notifier_classes).
    notifiers: list[Notifier] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name
