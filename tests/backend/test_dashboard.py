"""The admin dashboard over HTTP, as an attacker and as an admin would use it: sessions from a
pasted token (cookie flags, revocation, logout), XSRF on every form, no data for anyone but
admins, escaping of user-provided text, and each action going through the services (same
rules, audited with the acting admin). The browser journey is in
tests/dashboard_browser/test_dashboard_browser.py."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import delete, select
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

from tests.backend.admin_world import build_world
from tests.fixtures.backend import LiveBackend
from trevor_backend.auth.base import LoginOption
from trevor_backend.orm import AirlockRequest, APIToken, AuditEvent

PAGES = (
    "/dashboard/",
    "/dashboard/?stuck=true",
    "/dashboard/metrics",
    "/dashboard/audit",
    "/dashboard/audit.csv",
    "/dashboard/projects",
    "/dashboard/ingress",
    "/dashboard/attention",
)


@dataclass
class Browser:
    """Just enough of a browser: a cookie jar, forms with their XSRF token, no redirects."""

    base: str
    cookies: dict[str, str] = field(default_factory=dict)

    async def request(
        self, method: str, path: str, form: dict[str, str] | None = None, xsrf: bool = True
    ) -> HTTPResponse:
        body = None
        if method == "POST":
            data = dict(form or {})
            if xsrf:
                data.setdefault("_xsrf", await self.xsrf())
            body = urlencode(data)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        reply = await AsyncHTTPClient().fetch(
            self.base + path,
            method=method,
            body=body,
            headers=headers,
            follow_redirects=False,
            raise_error=False,
        )
        for raw in reply.headers.get_list("Set-Cookie"):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            if "expires=Thu, 01 Jan 1970" in raw or value in ('""', ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return reply

    async def get(self, path: str) -> HTTPResponse:
        return await self.request("GET", path)

    async def post(self, path: str, form: dict[str, str] | None = None, **kw: Any) -> HTTPResponse:
        return await self.request("POST", path, form, **kw)

    async def xsrf(self) -> str:
        page = await self.get("/dashboard/login")
        found = re.search(r'name="_xsrf" value="([^"]+)"', page.body.decode())
        assert found
        return found.group(1)

    async def login(self, token: str) -> HTTPResponse:
        return await self.post("/dashboard/login", {"token": token, "next": "/dashboard/"})


async def admin(live: LiveBackend) -> Browser:
    b = Browser(live.url)
    reply = await b.login(live.tokens["root"])
    assert reply.code == 302 and reply.headers["Location"] == "/dashboard/", reply.body
    return b


def text(reply: HTTPResponse) -> str:
    return reply.body.decode()


async def audit_of(live: LiveBackend, type_: str) -> list[AuditEvent]:
    async with live.backend.ctx.sessions() as session:
        return list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.seq)
            )
        )


async def test_login_sets_a_locked_down_session_cookie_and_logout_ends_it(
    live: LiveBackend,
) -> None:
    anon = Browser(live.url)
    first = await anon.get("/dashboard/")
    assert first.code == 302 and first.headers["Location"].startswith("/dashboard/login")
    login_page = await anon.get("/dashboard/login")
    csp = login_page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp

    bad = await anon.login("trv_not-a-token")
    assert bad.code == 401 and "not valid" in text(bad) and "trevor_dashboard" not in anon.cookies

    b = Browser(live.url)
    reply = await b.login(live.tokens["root"])
    [cookie] = [c for c in reply.headers.get_list("Set-Cookie") if c.startswith("trevor_dashboard")]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path"} <= flags
    assert "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    # The cookie names the token; it never carries the secret.
    assert live.tokens["root"] not in cookie
    assert (await b.get("/dashboard/")).code == 200
    assert [e.actor for e in await audit_of(live, "dashboard.login")] == ["root"]

    # A forged or altered cookie is no session.
    forged = Browser(live.url, {"trevor_dashboard": b.cookies["trevor_dashboard"][:-4] + "abcd"})
    assert (await forged.get("/dashboard/")).code == 302

    out = await b.post("/dashboard/logout")
    assert out.code == 302 and "trevor_dashboard" not in b.cookies
    assert (await b.get("/dashboard/")).code == 302
    assert [e.actor for e in await audit_of(live, "dashboard.logout")] == ["root"]


async def test_revoking_the_token_ends_its_sessions(live: LiveBackend) -> None:
    b = await admin(live)
    assert (await b.get("/dashboard/metrics")).code == 200
    async with live.backend.ctx.sessions.begin() as session:
        await session.execute(
            delete(APIToken).where(
                APIToken.token_hash == hashlib.sha256(live.tokens["root"].encode()).hexdigest()
            )
        )
    assert (await b.get("/dashboard/metrics")).code == 302


async def test_forms_without_the_xsrf_token_are_refused(live: LiveBackend) -> None:
    await build_world(live)
    b = await admin(live)
    for path, form in (
        ("/dashboard/projects/p1/members", {"username": "bob", "role": "output_checker"}),
        ("/dashboard/projects/p1/members/carol/remove", {}),
        ("/dashboard/ingress/open", {"project": "p1", "title": "in"}),
        ("/dashboard/logout", {}),
        ("/dashboard/login", {"token": live.tokens["root"]}),
    ):
        missing = await b.post(path, form, xsrf=False)
        assert missing.code == 403, (path, missing.code)
        assert "XSRF" in text(missing)
        wrong = await b.post(path, {**form, "_xsrf": "2|00|00|00"}, xsrf=False)
        assert wrong.code == 403, path
    # Nothing happened: bob is no member of p1, carol still is, no ingress request opened.
    detail = (await live.client("root").get("/api/v1/projects/p1")).json
    members = {m["username"] for m in detail["members"]}
    assert "bob" not in members and "carol" in members
    listing = (await live.client("root").get("/api/v1/requests?direction=ingress")).json
    assert listing["items"] == []
    # And the session survived the refused logout.
    assert (await b.get("/dashboard/")).code == 200


async def test_non_admin_sessions_see_no_dashboard_data(live: LiveBackend) -> None:
    w = await build_world(live)
    titles = ["Admissions by region", "Length of stay", "Prescribing by practice"]
    for user in ("alice", "carol", "erin"):
        b = Browser(live.url)
        assert (await b.login(live.tokens[user])).code == 302
        for page in (*PAGES, f"/dashboard/requests/{w.released}", "/dashboard/events?follow=0"):
            reply = await b.get(page)
            assert reply.code == 403, (user, page, reply.code)
            body = text(reply)
            for secret in (*titles, w.released, "membership", "carol@"):
                assert secret not in body, (user, page, secret)
        refused = await b.post(
            "/dashboard/projects/p1/members", {"username": "bob", "role": "researcher"}
        )
        assert refused.code == 403
    anon = Browser(live.url)
    for page in PAGES:
        reply = await anon.get(page)
        assert reply.code == 302 and not any(t in text(reply) for t in titles)


async def test_user_text_renders_inert(live: LiveBackend) -> None:
    w = await build_world(live)
    b = await admin(live)
    for page in (
        "/dashboard/",
        f"/dashboard/requests/{w.stuck}",
        "/dashboard/attention",
        "/dashboard/audit?type=request.created",
    ):
        body = text(await b.get(page))
        assert "<script>alert(1)</script>" not in body, page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body or (
            "\\u003cscript\\u003e" in body
        ), page
        # The only scripts are the dashboard's own file.
        assert re.findall(r"<script[^>]*>", body) == [
            '<script src="/dashboard/static/dashboard.js" defer>'
        ], page


async def test_pages_show_the_world(live: LiveBackend) -> None:
    w = await build_world(live)
    b = await admin(live)
    overview = text(await b.get("/dashboard/"))
    for title in ("Admissions by region", "Prescribing by practice", "Outpatient visits"):
        assert title in overview
    assert "p1" in overview and "p2" in overview
    stuck = text(await b.get("/dashboard/?stuck=true"))
    assert "Readmissions" in stuck and "Outpatient visits" not in stuck
    assert 'class="age-late"' in stuck and "past SLA" in stuck
    rows = text(await b.get("/dashboard/?partial=rows&project=p2"))
    assert "Prescribing by practice" in rows and "<html" not in rows

    req = text(await b.get(f"/dashboard/requests/{w.released}"))
    assert "every event's hash and link verified" in req
    assert "release.created" in req and "BROKEN" not in req
    metrics = text(await b.get("/dashboard/metrics"))
    assert metrics.count('<svg class="chart" role="img"') == 4
    attention = text(await b.get("/dashboard/attention"))
    assert w.revised in attention and "store unavailable (test)" in attention

    # A tampered event shows as a broken chain on its request's timeline.
    async with live.backend.ctx.sessions.begin() as session:
        ev = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.request_id == w.released, AuditEvent.type == "request.submitted"
            )
        )
        assert ev is not None
        ev.payload = {**ev.payload, "to": "APPROVED"}
    tampered = text(await b.get(f"/dashboard/requests/{w.released}"))
    assert "BROKEN" in tampered and 'class="broken"' in tampered

    # The CSV download is the API's export.
    csv_reply = await b.get("/dashboard/audit.csv?project=p2")
    assert csv_reply.code == 200 and csv_reply.headers["Content-Type"].startswith("text/csv")
    api = await live.client("root").get("/api/v1/audit?format=csv&project=p2")
    assert csv_reply.body == api.body


async def test_actions_go_through_the_services_and_are_audited(live: LiveBackend) -> None:
    w = await build_world(live)
    b = await admin(live)
    added = await b.post(
        "/dashboard/projects/p1/members", {"username": "bob", "role": "output_checker"}
    )
    assert added.code == 302
    conflict = await b.post(
        "/dashboard/projects/p1/members", {"username": "alice", "role": "output_checker"}
    )
    assert conflict.code == 409
    page = text(conflict)
    assert 'data-error="p1"' in page and "alice is researcher on project p1" in page
    [set_event] = [e for e in await audit_of(live, "membership.set") if e.actor == "root"]
    assert set_event.payload == {"user": "bob", "role": "output_checker"}

    retried = await b.post(f"/dashboard/requests/{w.revised}/retry-release")
    assert retried.code == 302
    [retry] = await audit_of(live, "release.retry_requested")
    assert retry.actor == "root" and retry.request_id == w.revised
    async with live.backend.ctx.sessions() as session:
        r = await session.get(AirlockRequest, w.revised)
        assert r is not None and r.attempts == 0


async def test_ingress_links_issue_upload_and_revoke(live: LiveBackend) -> None:
    b = await admin(live)
    opened = await b.post("/dashboard/ingress/open", {"project": "p1", "title": "Lookup table"})
    assert opened.code == 302, text(opened)
    rid = (await live.client("root").get("/api/v1/requests?direction=ingress")).json["items"][0][
        "id"
    ]
    data = b"code,label\n1,a\n"
    form = {
        "filename": "lookup.csv",
        "size": str(len(data)),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    issued = await b.post(f"/dashboard/ingress/{rid}/links", form)
    assert issued.code == 201, text(issued)
    url = re.search(r'<code class="link">([^<]+)</code>', text(issued))
    assert url
    link = urlsplit(url.group(1).replace("&amp;", "&"))
    put = await AsyncHTTPClient().fetch(
        f"{live.url}{link.path}?{link.query}", method="PUT", body=data, raise_error=False
    )
    assert put.code in (200, 201), put.body
    page = text(await b.get("/dashboard/ingress"))
    assert "lookup.csv" in page and ">uploaded<" in page

    second = await b.post(f"/dashboard/ingress/{rid}/links", {**form, "filename": "second.csv"})
    link2 = urlsplit(
        re.search(r'<code class="link">([^<]+)</code>', text(second)).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    )
    oid = link2.path.rsplit("/", 1)[-1]
    revoked = await b.post(f"/dashboard/ingress/{rid}/links/{oid}/revoke")
    assert revoked.code == 302
    refused = await AsyncHTTPClient().fetch(
        f"{live.url}{link2.path}?{link2.query}", method="PUT", body=data, raise_error=False
    )
    assert refused.code == 403
    [ev] = await audit_of(live, "ingress.upload_link_revoked")
    assert ev.actor == "root" and ev.object_id == oid
    assert ">expired<" in text(await b.get("/dashboard/ingress"))
    bad = await b.post(f"/dashboard/ingress/{rid}/links", {**form, "sha256": "nope"})
    assert bad.code == 422 and "sha256" in text(bad)


async def test_live_events_for_the_session_and_login_options_hook(live: LiveBackend) -> None:
    b = await admin(live)
    stream = await b.get("/dashboard/events?follow=0&last_event_id=0")
    assert stream.code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
    assert "dashboard.login" in text(stream)
    assert (await Browser(live.url).get("/dashboard/events?follow=0")).code == 403

    # Another authenticator (issue 13: OIDC, JupyterHub) offers its buttons on the login page.
    live.backend.authenticator.login_options = lambda next_url: [  # type: ignore[method-assign]
        LoginOption("Sign in with the TRE's identity provider", f"/oauth/start?next={next_url}")
    ]
    page = text(await Browser(live.url).get("/dashboard/login?next=/dashboard/metrics"))
    assert "Sign in with the TRE&#39;s identity provider" in page
    assert 'href="/oauth/start?next=/dashboard/metrics"' in page

    # Its browser sessions are accepted by the dashboard (browser_principal), admins only.
    from trevor_backend.principal import Principal

    who: dict[str, Principal | None] = {"p": None}

    async def browser_principal(handler: Any) -> Principal | None:
        return who["p"]

    live.backend.authenticator.browser_principal = browser_principal  # type: ignore[attr-defined]
    anon = Browser(live.url)
    assert (await anon.get("/dashboard/metrics")).code == 302
    who["p"] = Principal(user_id="x", name="carol", admin=False)
    assert (await anon.get("/dashboard/metrics")).code == 403
    async with live.backend.ctx.sessions() as session:
        from trevor_backend.auth.base import principal_for
        from trevor_backend.services.projects import user_by_name

        root = await user_by_name(session, "root")
        assert root is not None
        who["p"] = await principal_for(session, root)
    assert (await anon.get("/dashboard/metrics")).code == 200
