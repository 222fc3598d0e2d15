"""Notifications: who hears about what, and how it reaches them.

* ``recipients.py`` — who is told about a transition (the author, the project's checkers,
  admins); in-app notification rows written in the transition's own transaction.
* ``inbox.py`` — the caller's in-app notifications API (list, mark read, unread count).
* ``channels.py`` — the email and webhook channels (``Notifier`` subclasses, configured in
  ``notifier_classes``) and the templates they render.
* ``outbox.py`` — the durable queue to those channels: the dispatch and send jobs.

See docs/notifications.md.
"""
