"""Notifications: in-app API, and email (real SMTP server) and webhook (real HTTP server) delivery
through the outbox, with retries, back-off and giving up."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from traitlets.config import Config

from tests.fixtures.backend import LiveBackend
from tests.fixtures.processes import BackendProcess
from tests.fixtures.smtp import SMTPServer
from trevor_backend.contract import RequestStatus
from trevor_backend.orm import AirlockRequest, Notification, OutboxMessage, User, utcnow
from trevor_backend.principal import system
from trevor_backend.services.notifications.channels import (
    EmailNotifier,
    WebhookNotifier,
    webhook_signature,
)
from trevor_backend.services.notifications.outbox import DispatchJob, OutboxJob, backoff_seconds
from trevor_backend.services.notifications.recipients import notify_users
from trevor_backend.services.requests import lock
from trevor_backend.services.transitions import transition

SECRET = "webhook-test-secret"


@dataclass
class Hook:
    """A small real HTTP server standing in for Slack/Teams: records every POST."""

    url: str = ""
    status: int = 200
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


class _HookHandler(web.RequestHandler):
    def initialize(self, hook: Hook) -> None:
        self.hook = hook

    def post(self) -> None:
        self.hook.posts.append((dict(self.request.headers), self.request.body))
        self.set_status(self.hook.status)
        self.finish("ok")


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    h = Hook()
    sock, port = bind_unused_port()
    server = HTTPServer(web.Application([(r"/hook", _HookHandler, {"hook": h})]))
    server.add_sockets([sock])
    h.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield h
    finally:
        server.stop()
        await server.close_all_connections()


@pytest.fixture
def backend_traits(smtp_server: SMTPServer, hook: Hook) -> dict[str, Any]:
    config = Config()
    config.EmailNotifier = Config(smtp_server.traits())
    config.WebhookNotifier = Config({"url": hook.url, "secret": SECRET})
    config.Notifier = Config({"request_link": "https://lab.tre.test/lab?trevor-request={rid}"})
    return {"notifier_classes": [EmailNotifier, WebhookNotifier], "config": config}


async def _system_move(
    live: LiveBackend, rid: str, *actions: tuple[str, RequestStatus | None]
) -> None:
    """Transitions the reconciler would make, applied through the one state machine."""
    for action, to in actions:
        async with live.backend.ctx.sessions.begin() as session:
            r = await lock(session, rid)
            assert r is not None
            await transition(session, r, action, system("test"), to=to)


async def _to_human_review(live: LiveBackend, title: str = "Admissions <2024>") -> str:
    alice = live.client("alice")
    rid = (await alice.create_request(title=title))["id"]
    await alice.described_object(rid)
    assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
    await _system_move(live, rid, ("start_agent_review", None), ("finish_agent_review", None))
    return rid


async def _deliver(live: LiveBackend) -> tuple[int, int]:
    ctx = live.backend.ctx
    return await DispatchJob().run_once(ctx), await OutboxJob().run_once(ctx)


async def _outbox(live: LiveBackend) -> list[OutboxMessage]:
    async with live.backend.ctx.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.recipient)))


async def test_transition_sends_email_and_signed_webhook(
    live: LiveBackend, smtp_server: SMTPServer, hook: Hook
) -> None:
    rid = await _to_human_review(live)
    # The transition wrote the rows; nothing has been sent yet.
    assert smtp_server.messages == [] and hook.posts == []

    dispatched, sent = await _deliver(live)
    # alice: agent_report_ready; carol, dave, erin (the checkers): review_needed.
    assert dispatched == 4
    assert sent == 8  # one email and one webhook POST each

    mails = {tuple(rcpt): msg for rcpt, msg in smtp_server.messages}
    assert sorted(mails) == [
        ("alice@example.org",),
        ("carol@example.org",),
        ("dave@example.org",),
        ("erin@example.org",),
    ]
    mail = mails[("alice@example.org",)]
    assert mail["Subject"] == "[trevor] Automatic check finished: Admissions <2024>"
    assert mail["To"] == "Alice Researcher <alice@example.org>"
    assert mail["From"] == "Trevor airlock <airlock@tre.test>"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert 'disclosure check of "Admissions <2024>" has finished' in text.get_content()
    assert f"https://lab.tre.test/lab?trevor-request={rid}" in text.get_content()
    # The HTML part escapes the researcher-supplied title.
    assert "<strong>Admissions &lt;2024&gt;</strong>" in html.get_content()
    assert mails[("carol@example.org",)]["Subject"] == "[trevor] Review needed: Admissions <2024>"

    # Webhook: Slack/Teams-compatible JSON, HMAC-signed over timestamp + body.
    assert len(hook.posts) == 4
    by_user = {}
    for headers, body in hook.posts:
        signed = webhook_signature(SECRET, headers["X-Trevor-Timestamp"], body)
        assert hmac.compare_digest(headers["X-Trevor-Signature"], signed)
        assert headers["Content-Type"] == "application/json"
        doc = json.loads(body)
        by_user[doc["user"]] = doc
    assert sorted(by_user) == ["alice", "carol", "dave", "erin"]
    alice_doc = by_user["alice"]
    assert alice_doc["event"] == "agent_report_ready" and alice_doc["request"] == rid
    assert alice_doc["project"] == "p1"
    assert alice_doc["text"].startswith("[trevor] Automatic check finished: Admissions <2024>")
    # A forged body does not verify.
    headers, body = hook.posts[0]
    forged = webhook_signature(SECRET, headers["X-Trevor-Timestamp"], body + b" ")
    assert forged != headers["X-Trevor-Signature"]

    rows = await _outbox(live)
    assert len(rows) == 8 and all(r.sent_at is not None and r.attempts == 1 for r in rows)
    # Nothing left: a second pass finds no work.
    assert await _deliver(live) == (0, 0)
    assert len(smtp_server.messages) == 4

    # The researcher's in-app list shows the same event.
    items = (await live.client("alice").get("/api/v1/notifications")).json["items"]
    assert [(n["event_type"], n["request"]) for n in items] == [("agent_report_ready", rid)]


async def test_failing_smtp_is_retried_with_backoff_then_given_up(
    live: LiveBackend, smtp_server: SMTPServer, hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = live.backend.ctx
    ctx.settings = replace(ctx.settings, outbox_backoff=60.0, outbox_max_attempts=3)
    smtp_server.stop()
    rid = await _to_human_review(live)
    # The transition itself went through while the mail relay is down.
    async with ctx.sessions() as session:
        r = await session.get(AirlockRequest, rid)
        assert r is not None and r.status == RequestStatus.HUMAN_REVIEW
    dispatched, attempted = await _deliver(live)
    assert (dispatched, attempted) == (4, 8)
    rows = await _outbox(live)
    emails = [r for r in rows if r.channel == "email"]
    assert all(r.sent_at is None and r.attempts == 1 and r.last_error for r in emails)
    assert "ConnectionRefusedError" in emails[0].last_error
    for r in emails:
        wait = (r.next_attempt_at - utcnow()).total_seconds()
        assert 55 < wait <= 60  # first back-off: outbox_backoff
    # Webhooks are independent of the mail relay.
    assert all(r.sent_at is not None for r in rows if r.channel == "webhook")

    # Not due yet: nothing is attempted.
    assert await OutboxJob().run_once(ctx) == 0

    async def time_passes() -> None:
        async with ctx.sessions.begin() as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None))
                .values(next_attempt_at=utcnow() - timedelta(seconds=1))
            )

    # Second failure doubles the back-off.
    await time_passes()
    assert await OutboxJob().run_once(ctx) == 4
    for r in [r for r in await _outbox(live) if r.channel == "email"]:
        assert r.attempts == 2
        assert 115 < (r.next_attempt_at - utcnow()).total_seconds() <= 120

    # The relay comes back for all but one recipient: alice's mail is delivered on attempt 3.
    smtp_server.start()
    await time_passes()
    assert await OutboxJob().run_once(ctx) == 4
    assert sorted(rc[0] for rc, _ in smtp_server.messages) == [
        "alice@example.org",
        "carol@example.org",
        "dave@example.org",
        "erin@example.org",
    ]
    assert all(r.sent_at is not None for r in await _outbox(live))

    # A message that keeps failing is given up after outbox_max_attempts, logged and kept.
    smtp_server.stop()
    async with ctx.sessions.begin() as session:
        alice = await session.scalar(select(User).where(User.username == "alice"))
        r = await session.get(AirlockRequest, rid)
        assert alice is not None and r is not None
        await notify_users(session, [alice.id], "url_expiring", r, {"expires_at": "soon"})
    assert await DispatchJob().run_once(ctx) == 1
    caplog.set_level(logging.WARNING, logger="trevor_backend.outbox")
    for _ in range(3):
        await time_passes()
        await OutboxJob().run_once(ctx)
    await time_passes()
    assert await OutboxJob().run_once(ctx) == 0  # given up: never claimed again
    async with ctx.sessions() as session:
        dead = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.channel == "email", OutboxMessage.sent_at.is_(None)
            )
        )
    assert dead is not None and dead.attempts == 3 and dead.last_error
    assert any("giving up email message" in rec.getMessage() for rec in caplog.records)


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(30, n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff_seconds(30, 40) == 6 * 3600


async def test_concurrent_dispatchers_and_senders_do_each_thing_once(
    live: LiveBackend, smtp_server: SMTPServer, hook: Hook
) -> None:
    ctx = live.backend.ctx
    async with ctx.sessions.begin() as session:
        users = list(await session.scalars(select(User).order_by(User.username)))
        r = AirlockRequest(project_id="p1", title="bulk", created_by=users[0].id)
        session.add(r)
        await session.flush()
        for i in range(10):
            await notify_users(session, [u.id for u in users], "approved", r, {"n": i})
    total = 10 * len(users)
    # Three "processes" (separate engines would behave the same: the claim is in SQL).
    done = await asyncio.gather(*(DispatchJob().run_once(ctx) for _ in range(3)))
    assert sum(done) == total
    async with ctx.sessions() as session:
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
        undispatched = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.dispatched_at.is_(None))
        )
    assert queued == 2 * total and undispatched == 0

    sent = 0
    while True:
        batch = await asyncio.gather(*(OutboxJob().run_once(ctx) for _ in range(3)))
        if not sum(batch):
            break
        sent += sum(batch)
    assert sent == 2 * total
    assert len(smtp_server.messages) == total and len(hook.posts) == total
    ids = [h["X-Trevor-Delivery"] for h, _ in hook.posts]
    assert len(set(ids)) == total


async def test_users_without_email_get_no_mail_but_other_channels(
    live: LiveBackend, smtp_server: SMTPServer, hook: Hook
) -> None:
    ctx = live.backend.ctx
    async with ctx.sessions.begin() as session:
        await session.execute(update(User).where(User.username == "alice").values(email=None))
    await _to_human_review(live)
    await _deliver(live)
    rcpts = sorted(r[0] for r, _ in smtp_server.messages)
    assert rcpts == ["carol@example.org", "dave@example.org", "erin@example.org"]
    assert "alice" in {json.loads(b)["user"] for _, b in hook.posts}


async def test_webhook_error_status_is_retried(live: LiveBackend, hook: Hook) -> None:
    hook.status = 503
    await _to_human_review(live)
    await _deliver(live)
    rows = [r for r in await _outbox(live) if r.channel == "webhook"]
    assert rows and all(r.sent_at is None and "503" in (r.last_error or "") for r in rows)


async def test_in_app_notifications_api(live: LiveBackend) -> None:
    ctx = live.backend.ctx
    alice, carol = live.client("alice"), live.client("carol")
    async with ctx.sessions.begin() as session:
        uid = await session.scalar(select(User.id).where(User.username == "alice"))
        assert uid is not None
        r = AirlockRequest(project_id="p1", title="t", created_by=uid)
        session.add(r)
        await session.flush()
        base = utcnow()
        for i in range(5):
            session.add(
                Notification(
                    user_id=uid,
                    event_type=f"e{i}",
                    request_id=r.id,
                    payload={"i": i},
                    created_at=base + timedelta(seconds=i),
                )
            )

    page1 = (await alice.get("/api/v1/notifications?limit=2")).json
    assert [n["event_type"] for n in page1["items"]] == ["e4", "e3"]
    assert page1["items"][0]["read"] is False and page1["items"][0]["payload"] == {"i": 4}
    page2 = (await alice.get(f"/api/v1/notifications?limit=2&cursor={page1['next_cursor']}")).json
    page3 = (await alice.get(f"/api/v1/notifications?limit=2&cursor={page2['next_cursor']}")).json
    assert [n["event_type"] for n in page2["items"] + page3["items"]] == ["e2", "e1", "e0"]
    assert page3["next_cursor"] is None

    assert (await alice.get("/api/v1/notifications/unread-count")).json == {"unread": 5}
    nid = page1["items"][1]["id"]
    marked = await alice.request("PATCH", f"/api/v1/notifications/{nid}", {"read": True})
    assert marked.status == 200 and marked.json["read"] is True and marked.json["read_at"]
    assert (await alice.get("/api/v1/notifications/unread-count")).json == {"unread": 4}
    unread = (await alice.get("/api/v1/notifications?unread=1")).json["items"]
    assert [n["event_type"] for n in unread] == ["e4", "e2", "e1", "e0"]
    back = await alice.request("PATCH", f"/api/v1/notifications/{nid}", {"read": False})
    assert back.json["read"] is False and back.json["read_at"] is None

    # Someone else's notification does not exist for carol; she has none of her own.
    other = await carol.request("PATCH", f"/api/v1/notifications/{nid}", {"read": True})
    assert other.status == 404 and other.content_type.startswith("application/problem+json")
    assert (await carol.get("/api/v1/notifications")).json == {"items": [], "next_cursor": None}
    assert (await carol.get("/api/v1/notifications/unread-count")).json == {"unread": 0}

    bad = await alice.request("PATCH", f"/api/v1/notifications/{nid}", {"read": "maybe"})
    assert bad.status == 422 and bad.json["errors"][0]["pointer"] == "/read"
    extra = await alice.request("PATCH", f"/api/v1/notifications/{nid}", {"read": True, "x": 1})
    assert extra.status == 422
    cursor = await alice.get("/api/v1/notifications?cursor=%%%")
    assert cursor.status == 422 and cursor.json["errors"][0]["pointer"] == "/cursor"
    flag = await alice.get("/api/v1/notifications?unread=maybe")
    assert flag.status == 422 and flag.json["errors"][0]["pointer"] == "/unread"
    limit = await alice.get("/api/v1/notifications?limit=lots")
    assert limit.status == 422
    assert (await live.client(None).get("/api/v1/notifications")).status == 401
    assert (await alice.get("/api/v1/notifications/unread-count")).json == {"unread": 5}


async def test_two_backend_processes_send_each_email_once(
    live: LiveBackend, smtp_server: SMTPServer, tmp_path: Path
) -> None:
    """Two real `trevor-backend serve` processes share the database and run the reconciler
    (agent review, dispatch, outbox) as deployed; every email still goes out exactly once."""
    config = tmp_path / "trevor_backend_config.py"
    config.write_text(
        "from trevor_backend.services.notifications.channels import EmailNotifier\n"
        "c.TrevorBackend.notifier_classes = [EmailNotifier]\n"
        "c.TrevorBackend.reconcile_interval = 0.1\n"
        f"c.EmailNotifier.smtp_host = {smtp_server.host!r}\n"
        f"c.EmailNotifier.smtp_port = {smtp_server.port}\n"
    )
    procs = [
        BackendProcess(live.data_dir, live.app.database_url, args=["--config", str(config)])
        for _ in range(2)
    ]
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in procs))
    try:
        alice = live.client("alice")
        rid = (await alice.create_request(title="Two replicas"))["id"]
        await alice.described_object(rid)
        assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
        for _ in range(300):
            if len(smtp_server.messages) >= 4:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # time for a duplicate to show up, were there one
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
    rcpts = sorted(r[0] for r, _ in smtp_server.messages)
    assert rcpts == [
        "alice@example.org",
        "carol@example.org",
        "dave@example.org",
        "erin@example.org",
    ], [p.log.read_text()[-2000:] for p in procs]
    rows = await _outbox(live)
    assert len(rows) == 4 and all(r.sent_at and r.attempts == 1 for r in rows)


EVENTS = [
    "submitted",
    "agent_report_ready",
    "review_needed",
    "changes_requested",
    "approved",
    "rejected",
    "released",
    "url_expiring",
    "request_stuck",
    "release_failed",
]


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_has_its_own_text_and_html_email(event: str) -> None:
    from trevor_backend.services.notifications.channels import (
        TEMPLATES,
        NotificationView,
        render_email,
    )

    assert (TEMPLATES / f"{event}.txt").exists() and (TEMPLATES / f"{event}.html").exists()
    note = NotificationView(
        id="n1",
        event_type=event,
        created_at="2026-01-01T00:00:00+00:00",
        payload={"title": "T <&> 1", "status": "HUMAN_REVIEW", "expires_at": "2026-02-01"},
        username="alice",
        display_name="Alice",
        email="alice@example.org",
        request_id="r1",
        project_id="p1",
        request_url="https://lab.tre.test/r1",
    )
    subject, text, html = render_email(note)
    assert subject.startswith("[trevor] ") and subject.endswith("T <&> 1")
    assert "\n" not in subject
    assert "Hello Alice," in text and "https://lab.tre.test/r1" in text
    assert "T &lt;&amp;&gt; 1" in html and "T <&> 1" not in html
    assert 'href="https://lab.tre.test/r1"' in html
    generic = render_email(replace(note, event_type="something_new"))[0]
    assert generic == "[trevor] Something new: T <&> 1"


async def test_starttls_login_and_certificate_checks(smtp_tls_server: SMTPServer) -> None:
    """The SMTP options against a relay that requires STARTTLS and a login."""
    import smtplib
    import ssl

    cert = smtp_tls_server.tls[0] if smtp_tls_server.tls else None
    good = {
        "smtp_host": smtp_tls_server.host,
        "smtp_port": smtp_tls_server.port,
        "smtp_starttls": True,
        "smtp_ca_file": str(cert),
        "smtp_user": "trevor",
        "smtp_password": "s3cret",
        "smtp_from": "airlock@tre.test",
    }
    payload = {"to": "alice@example.org", "subject": "s", "text": "t", "html": "<p>h</p>"}
    await EmailNotifier(**good).send("m1", "alice@example.org", payload)
    assert smtp_tls_server.logins == ["trevor"]
    ((rcpts, msg),) = smtp_tls_server.messages
    assert rcpts == ["alice@example.org"] and msg["Subject"] == "s"
    assert msg["Message-ID"].startswith("<") and "m1" in msg["Message-ID"]

    with pytest.raises(smtplib.SMTPException):  # plain text refused: 530 STARTTLS first
        await EmailNotifier(**(good | {"smtp_starttls": False})).send("m2", "a@x", payload)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        await EmailNotifier(**(good | {"smtp_password": "wrong"})).send("m3", "a@x", payload)
    with pytest.raises(ssl.SSLCertVerificationError):  # an unknown CA is not trusted
        await EmailNotifier(**(good | {"smtp_ca_file": ""})).send("m4", "a@x", payload)
    assert len(smtp_tls_server.messages) == 1


def test_the_old_channel_path_in_an_operators_config_still_works() -> None:
    """Operators' configuration files name ``trevor_backend.services.notifiers.EmailNotifier``:
    that path keeps working, with a deprecation warning."""
    import sys

    from trevor_backend.app import TrevorBackend

    sys.modules.pop("trevor_backend.services.notifiers", None)
    with pytest.warns(DeprecationWarning, match="services.notifications.channels"):
        app = TrevorBackend(notifier_classes=["trevor_backend.services.notifiers.EmailNotifier"])
        assert app.notifier_classes == [EmailNotifier]
