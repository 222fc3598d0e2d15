"""The base of every dashboard page: session authentication (admins only), XSRF on every
form, a strict Content-Security-Policy, and errors rendered as pages.

Handlers here translate forms and query strings into calls of the same services the API uses,
and render templates; they hold no rules of their own.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from markupsafe import Markup
from tornado import web

from ..errors import TrevorError
from ..handlers.request import TrevorRequestHandler
from ..principal import Principal, correlation_id
from . import session
from .render import render

log = logging.getLogger("trevor_backend.dashboard")

#: No inline script or style anywhere; scripts, styles and the event stream from this origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
NAV = (
    ("overview", "/dashboard/", "Overview"),
    ("metrics", "/dashboard/metrics", "Metrics"),
    ("audit", "/dashboard/audit", "Audit"),
    ("projects", "/dashboard/projects", "Projects & members"),
    ("ingress", "/dashboard/ingress", "Ingress"),
    ("attention", "/dashboard/attention", "Attention"),
)


class DashboardHandler(TrevorRequestHandler):
    #: the login page answers without a session
    public = False
    #: which NAV entry is current
    page = ""

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")

    @property
    def secure_cookies(self) -> bool:
        # Browsers keep Secure cookies only over HTTPS (and on loopback, where tests and demos
        # run without TLS); a deployment's public URL says which it is.
        return self.request.protocol == "https" or self.ctx.settings.public_url.startswith("https:")

    def session_cookie(self) -> str | None:
        return self.get_cookie(session.COOKIE)

    async def prepare(self) -> None:
        self.correlate()
        if self.request.method not in ("GET", "HEAD"):
            # Tornado's XSRF check (a token in the form matching the _xsrf cookie), run here
            # because the API beside the dashboard authenticates with bearer tokens instead.
            self.check_xsrf_cookie()
        s = session.decode(self.ctx.settings.secret_key, self.session_cookie())
        self.current_user = await session.principal_of(self.ctx, s) if s else None
        if self.current_user is None:
            # A session from the identity provider's browser login (auth/oidc_login.py).
            browser = getattr(self.backend.authenticator, "browser_principal", None)
            self.current_user = await browser(self) if browser is not None else None
        if self.public:
            return
        if self.current_user is None:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/dashboard/login?next=" + quote(self.request.uri or "/dashboard/"))
                return
            raise web.HTTPError(401, "sign in first")
        if not self.principal.admin:
            raise web.HTTPError(403, "the dashboard is for admins")

    def page_context(self) -> dict[str, Any]:
        return {
            "nav": NAV,
            "page": self.page,
            "me": self.current_user,
            "xsrf": Markup(self.xsrf_form_html()),
        }

    def show(self, template: str, status: int = 200, **context: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(render(template, **self.page_context(), **context))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TrevorError):
            status_code, detail = exc.status, exc.detail
        elif isinstance(exc, web.HTTPError):
            detail = exc.log_message or HTTPStatus(exc.status_code).phrase
            if "_xsrf" in detail or "XSRF" in detail:
                detail = "the form was not sent from this dashboard (missing or wrong XSRF token)"
        else:
            detail = f"internal error (request id {correlation_id.get()})"
        if status_code >= 500:
            detail = f"internal error (request id {correlation_id.get()})"
        # An error page shows nobody's data: no navigation for a caller who is not an admin.
        admin = isinstance(self.current_user, Principal) and self.current_user.admin
        self.set_status(status_code)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            render(
                "error.html",
                nav=NAV if admin else (),
                page="",
                me=self.current_user if admin else None,
                xsrf=Markup(self.xsrf_form_html()),
                status=status_code,
                title=HTTPStatus(status_code).phrase,
                detail=detail,
            )
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, TrevorError | web.HTTPError):
            log.info("%s %s -> %s", self.request.method, self.request.path, value)
        else:
            super().log_exception(typ, value, tb)

    def arg(self, name: str) -> str | None:
        value = self.get_argument(name, None)
        return value.strip() if value and value.strip() else None

    def query(self, name: str, default: str | None = None) -> str | None:
        """The query-string reader the API's parameter parsers expect."""
        return self.arg(name) or default
