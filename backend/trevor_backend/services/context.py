"""What every service needs: database sessions, the object store and deployment settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ..db import Sessions
from ..reads import ReadDriver
from ..storage import ObjectStore
from .notifications.channels import Notifier


@dataclass(frozen=True)
class Settings:
    """The deployment settings the services read: the names and types of
    ``TrevorBackend``'s traits of the same name, whose definitions (default, help, validation)
    are the only ones; ``TrevorBackend.settings()`` fills every field from its trait, so there
    are no defaults here to drift from them."""

    max_upload_size: int
    max_body_size: int
    required_reviews: int
    sdc_params: dict[str, Any]
    preview_max_bytes: int
    secret_key: bytes  # the trait's text, encoded
    public_url: str  # without a trailing slash
    outbox_max_attempts: int
    outbox_backoff: float
    events_poll_interval: float
    events_heartbeat: float
    release_url_lifetime: int
    crate_names_checkers: bool
    release_expiry_warning: int
    release_max_attempts: int
    stuck_request_sla: int
    ingress_upload_url_lifetime: int


@dataclass
class Context:
    engine: AsyncEngine
    sessions: Sessions
    store: ObjectStore
    settings: Settings
    # The configured notification channels (TrevorBackend.notifier_classes).
    notifiers: list[Notifier] = field(default_factory=list)
    # The lean read path's driver (services/lean.py); None keeps every read on the ORM.
    reads: ReadDriver | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name
