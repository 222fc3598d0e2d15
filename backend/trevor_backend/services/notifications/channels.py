"""Notification channels (SPEC §3: pluggable parts are traitlets classes).

A channel does two things, at two different times:

* :meth:`Notifier.messages` — run by the dispatch job *inside* its transaction — turns one
  notification into outbox rows ``(recipient, payload)``. Emails are rendered here, so a queued
  message is self-contained: what is retried is exactly what was first attempted.
* :meth:`Notifier.send` — run by the outbox job outside any transaction — delivers one row and
  raises on failure; the outbox job records the error and retries with back-off.

Configure channels with ``c.TrevorBackend.notifier_classes = [EmailNotifier, WebhookNotifier]``
and each one under its own name (``c.EmailNotifier.smtp_host = …``); see docs/notifications.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
import time
from dataclasses import dataclass, replace
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path
from typing import Any

import jinja2
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from ...orm import utcnow

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"


@dataclass(frozen=True)
class NotificationView:
    """What a channel may know about a notification (no ORM objects leave the dispatcher)."""

    id: str
    event_type: str
    created_at: str
    payload: dict[str, Any]
    username: str
    display_name: str
    email: str | None
    request_id: str | None
    project_id: str | None
    request_url: str | None


class Notifier(LoggingConfigurable):
    #: the outbox ``channel`` value; unique per configured notifier
    channel = Unicode("", help="Channel name stored on outbox rows.").tag(config=True)
    events = List(
        Unicode(),
        [],
        help="Event types this channel carries (e.g. ['review_needed']); empty means all.",
    ).tag(config=True)

    request_link = Unicode(
        "",
        help="Link to a request put in messages, with {rid} and {project} filled in (e.g. "
        "'https://lab.tre.example/lab?trevor-request={rid}'); empty means no link.",
    ).tag(config=True)

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events

    def linked(self, note: NotificationView) -> NotificationView:
        if not self.request_link or not note.request_id:
            return note
        url = self.request_link.format(rid=note.request_id, project=note.project_id or "")
        return replace(note, request_url=url)

    def messages(self, note: NotificationView) -> list[tuple[str, dict[str, Any]]]:
        """``(recipient, payload)`` pairs to queue for one notification; [] to skip."""
        raise NotImplementedError

    async def send(self, message_id: str, recipient: str, payload: dict[str, Any]) -> None:
        """Deliver one queued message; raise to have it retried."""
        raise NotImplementedError


# --- text shared by every channel ------------------------------------------------------------

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.ChainableUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def _template(event_type: str, ext: str) -> jinja2.Template:
    try:
        return _env.get_template(f"{event_type}.{ext}")
    except jinja2.TemplateNotFound:
        return _env.get_template(f"_generic.{ext}")


def render_email(note: NotificationView) -> tuple[str, str, str]:
    """``(subject, plain text, html)`` from the event's templates.

    The subject is the ``subject`` variable the plain-text template sets; the HTML template is
    autoescaped, so a request title such as ``<b>`` arrives as text.
    """
    context = {
        "note": note,
        "event": note.event_type,
        "user": {"username": note.username, "display_name": note.display_name},
        "p": note.payload,
        "title": note.payload.get("title") or "(untitled)",
        "request_id": note.request_id,
        "project": note.project_id,
        "url": note.request_url,
    }
    text_module = _template(note.event_type, "txt").make_module(context)
    subject = " ".join(str(getattr(text_module, "subject", "") or "").split())
    html = _template(note.event_type, "html").render(context | {"subject": subject})
    return subject or f"[trevor] {note.event_type}", str(text_module), html


def summary_line(note: NotificationView) -> str:
    """One line for chat channels: the email subject, which every event defines."""
    return render_email(note)[0]


# --- email -----------------------------------------------------------------------------------


class EmailNotifier(Notifier):
    """Email over SMTP (STARTTLS or implicit TLS), multipart/alternative text + HTML."""

    channel = Unicode("email").tag(config=True)
    smtp_host = Unicode("localhost", help="SMTP server host.").tag(config=True)
    smtp_port = Int(25, help="SMTP server port (587 with STARTTLS, 465 with smtp_ssl).").tag(
        config=True
    )
    smtp_user = Unicode("", help="SMTP login; empty means no AUTH.").tag(config=True)
    smtp_password = Unicode("", help="SMTP password (env TREVOR_SMTP_PASSWORD).").tag(config=True)
    smtp_starttls = Bool(False, help="Upgrade the connection with STARTTLS.").tag(config=True)
    smtp_ssl = Bool(False, help="Implicit TLS from the first byte (port 465).").tag(config=True)
    smtp_ca_file = Unicode(
        "", help="CA bundle to verify the relay's certificate (default: the system store)."
    ).tag(config=True)
    smtp_from = Unicode("trevor@localhost", help="From address.").tag(config=True)
    smtp_from_name = Unicode("Trevor airlock", help="Display name in From.").tag(config=True)
    smtp_timeout = Float(30.0, help="Seconds for each SMTP network operation.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import os

        if not self.smtp_password and os.environ.get("TREVOR_SMTP_PASSWORD"):
            self.smtp_password = os.environ["TREVOR_SMTP_PASSWORD"]

    def messages(self, note: NotificationView) -> list[tuple[str, dict[str, Any]]]:
        email = note.email
        if not email or not self.wants(note.event_type):
            return []  # users without an email address simply get no mail
        note = self.linked(note)
        subject, text, html = render_email(note)
        to = formataddr((note.display_name, email)) if note.display_name else email
        return [(email, {"to": to, "subject": subject, "text": text, "html": html})]

    def build(self, message_id: str, payload: dict[str, Any]) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = formataddr((self.smtp_from_name, self.smtp_from))
        msg["To"] = payload["to"]
        msg["Subject"] = payload["subject"]
        msg["Date"] = format_datetime(utcnow())
        # Stable per outbox row: a message resent after a crash can be recognised as a repeat.
        domain = self.smtp_from.rpartition("@")[2] or "trevor"
        msg["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(payload["text"])
        msg.add_alternative(payload["html"], subtype="html")
        return msg

    def _send_sync(self, msg: EmailMessage) -> None:
        context = ssl.create_default_context(cafile=self.smtp_ca_file or None)
        cls = smtplib.SMTP_SSL if self.smtp_ssl else smtplib.SMTP
        kwargs: dict[str, Any] = {"timeout": self.smtp_timeout}
        if self.smtp_ssl:
            kwargs["context"] = context
        with cls(self.smtp_host, self.smtp_port, **kwargs) as smtp:
            if self.smtp_starttls and not self.smtp_ssl:
                smtp.starttls(context=context)
            if self.smtp_user:
                smtp.login(self.smtp_user, self.smtp_password)
            smtp.send_message(msg)

    async def send(self, message_id: str, recipient: str, payload: dict[str, Any]) -> None:
        # smtplib blocks; a thread keeps the event loop (and the API) responsive.
        await asyncio.to_thread(self._send_sync, self.build(message_id, payload))


# --- webhook ---------------------------------------------------------------------------------


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body``; including the timestamp
    lets receivers refuse replays of old deliveries."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookNotifier(Notifier):
    """A JSON POST per notification. The ``text`` field makes it a valid Slack / Teams incoming
    webhook message; the other fields are for programs. Signed with HMAC-SHA256 when a secret
    is set (headers ``X-Trevor-Timestamp`` and ``X-Trevor-Signature``)."""

    channel = Unicode("webhook").tag(config=True)
    url = Unicode("", help="Where to POST; empty disables the channel.").tag(config=True)
    secret = Unicode("", help="HMAC key for X-Trevor-Signature (env TREVOR_WEBHOOK_SECRET).").tag(
        config=True
    )
    headers = Dict(
        value_trait=Unicode(), help="Extra HTTP headers (e.g. an Authorization header)."
    ).tag(config=True)
    timeout = Float(15.0, help="Seconds for the whole POST.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import os

        if not self.secret and os.environ.get("TREVOR_WEBHOOK_SECRET"):
            self.secret = os.environ["TREVOR_WEBHOOK_SECRET"]

    def messages(self, note: NotificationView) -> list[tuple[str, dict[str, Any]]]:
        if not self.url or not self.wants(note.event_type):
            return []
        note = self.linked(note)
        text = summary_line(note) + (f" <{note.request_url}>" if note.request_url else "")
        body = {
            "text": text,
            "event": note.event_type,
            "notification_id": note.id,
            "created_at": note.created_at,
            "user": note.username,
            "project": note.project_id,
            "request": note.request_id,
            "url": note.request_url,
            "payload": note.payload,
        }
        return [(self.url, body)]

    async def send(self, message_id: str, recipient: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "trevor-backend",
            # Receivers can drop repeats: a message resent after a crash keeps its id.
            "X-Trevor-Delivery": message_id,
            "X-Trevor-Timestamp": timestamp,
            **self.headers,
        }
        if self.secret:
            headers["X-Trevor-Signature"] = webhook_signature(self.secret, timestamp, body)
        request = HTTPRequest(
            recipient,
            method="POST",
            body=body,
            headers=headers,
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        # raise_error: a non-2xx answer (or no answer) is a failure, retried later.
        await AsyncHTTPClient().fetch(request, raise_error=True)
