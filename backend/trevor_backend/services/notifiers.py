"""Deprecated import path of the notification channels, kept because operators name it in
their configuration (``notifier_classes``); the channels live in ``notifications/channels.py``.
"""

import warnings

from .notifications.channels import EmailNotifier, NotificationView, Notifier, WebhookNotifier

warnings.warn(
    "trevor_backend.services.notifiers is deprecated: use "
    "trevor_backend.services.notifications.channels",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["EmailNotifier", "NotificationView", "Notifier", "WebhookNotifier"]
