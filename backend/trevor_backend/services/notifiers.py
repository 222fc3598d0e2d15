"""Notification channels (SPEC §3: pluggable parts are traitlets classes).

A channel turns a notification into outbox messages (:meth:`Notifier.messages`, run by the
dispatch job inside its transaction) and later sends one message (:meth:`Notifier.send`, run by
the outbox job outside any transaction). Sending raises on failure; the outbox job retries.
"""

from __future__ import annotations

from typing import Any

from traitlets import Unicode
from traitlets.config import LoggingConfigurable


class Notifier(LoggingConfigurable):
    #: the outbox ``channel`` value; unique per configured notifier
    channel = Unicode("", help="Channel name stored on outbox rows.")

    def messages(self, notification: Any, user: Any) -> list[tuple[str, dict[str, Any]]]:
        """``(recipient, payload)`` pairs to queue for one notification; [] to skip."""
        raise NotImplementedError

    async def send(self, recipient: str, payload: dict[str, Any]) -> None:
        raise NotImplementedError
