"""The dashboard's read-only pages: overview, request, metrics, audit, attention; and the
session login/logout pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tornado import web

from ..contract import Direction, RequestStatus
from ..errors import FieldError, Unauthorized, ValidationFailed
from ..handlers.audit import audit_query, stream_csv, time_query
from ..orm import utcnow
from ..services.audit_search import request_timeline
from ..services.metrics_summary import DECISION_EVENTS, OUTCOME_LABELS
from ..services.sla import WAITING_STATES
from . import charts, session
from .base import DashboardHandler


def _enum(handler: DashboardHandler, name: str, enum: type[Any]) -> Any:
    raw = handler.arg(name)
    if raw is None:
        return None
    try:
        return enum(raw)
    except ValueError as exc:
        raise ValidationFailed(
            f"unknown {name} {raw!r}", errors=[FieldError(f"/{name}", raw)]
        ) from exc


def _duration(handler: DashboardHandler, name: str) -> float | None:
    from ..handlers.requests import duration_query

    return duration_query(handler, name)  # type: ignore[arg-type]


class LoginHandler(DashboardHandler):
    public = True

    def _next(self) -> str:
        target = self.get_argument("next", "/dashboard/")
        # Only back into the dashboard: never an open redirect to another site.
        return target if target.startswith("/dashboard/") and "//" not in target else "/dashboard/"

    def _form(self, status: int = 200, error: str | None = None) -> None:
        options = self.backend.authenticator.login_options(self._next())
        self.show("login.html", status, next=self._next(), error=error, options=options)

    async def get(self) -> None:
        self._form()

    async def post(self) -> None:
        token = self.get_argument("token", "")
        try:
            s, _ = await session.login(self.ctx, token)
        except Unauthorized:
            self._form(401, "That token is not valid. Paste an API token of yours.")
            return
        self.set_cookie(
            session.COOKIE,
            session.encode(self.ctx.settings.secret_key, s),
            path="/dashboard",
            httponly=True,
            secure=self.secure_cookies,
            samesite="Strict",
            expires_days=session.SESSION_HOURS / 24,
        )
        self.redirect(self._next())


class LogoutHandler(DashboardHandler):
    public = True

    async def post(self) -> None:
        if self.current_user is not None and self.principal.auth_method == "oidc-session":
            self.redirect("/logout")  # ends it here and at the provider (auth/oidc_login.py)
            return
        if self.current_user is not None:
            await session.logout(self.ctx, self.principal)
        self.clear_cookie(session.COOKIE, path="/dashboard")
        self.redirect("/dashboard/login")


class RootRedirect(web.RequestHandler):
    def get(self) -> None:
        self.redirect("/dashboard/")


def sla_class(status: str, updated_at: datetime, sla: int, now: datetime) -> tuple[str, str]:
    """How late a request is against the stuck-request SLA: a CSS class and words (colour is
    never the only signal)."""
    if RequestStatus(status) not in WAITING_STATES:
        return "", ""
    age = (now - updated_at).total_seconds()
    if age >= sla:
        return "age-late", "past SLA"
    if age >= sla / 2:
        return "age-warn", "half of SLA"
    return "age-ok", "within SLA"


class OverviewHandler(DashboardHandler):
    page = "overview"

    async def get(self) -> None:
        p = self.principal
        filters = {
            "project": self.arg("project"),
            "status": _enum(self, "status", RequestStatus),
            "direction": _enum(self, "direction", Direction),
            "stuck": self.arg("stuck") in ("true", "1", "on"),
            "older_than": _duration(self, "older_than"),
        }
        listing = await self.backend.requests.list(
            p, limit=100, cursor=self.arg("cursor"), **filters
        )
        now, sla = utcnow(), self.ctx.settings.stuck_request_sla
        rows = [(r, *sla_class(r.status, r.updated_at, sla, now)) for r in listing.items]
        kept = {
            k: v
            for k, v in {
                "project": filters["project"],
                "status": self.arg("status"),
                "direction": self.arg("direction"),
                "stuck": "true" if filters["stuck"] else None,
                "older_than": self.arg("older_than"),
            }.items()
            if v
        }
        more = (
            f"?{urlencode({**kept, 'cursor': listing.next_cursor})}"
            if listing.next_cursor
            else None
        )
        if self.get_argument("partial", None) == "rows":
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            from .render import render

            self.finish(render("_rows.html", rows=rows))
            return
        projects = (await self.backend.projects.list(p)).items
        self.show(
            "overview.html",
            rows=rows,
            filters=kept,
            projects=projects,
            statuses=list(RequestStatus),
            more=more,
            sla=sla,
        )


class RequestPage(DashboardHandler):
    page = "overview"

    async def get(self, rid: str) -> None:
        p = self.principal
        req = await self.backend.requests.get(p, rid)
        report = await self.backend.reviews.report(p, rid)
        reviews = await self.backend.reviews.list(p, rid)
        timeline = await request_timeline(self.ctx, p, rid)
        links = await self.backend.ingress_links.list(p, rid)
        self.show(
            "request.html",
            req=req,
            report=report,
            reviews=reviews,
            timeline=timeline,
            chain_ok=all(t.intact for t in timeline),
            links=links,
        )


class MetricsPage(DashboardHandler):
    page = "metrics"

    async def get(self) -> None:
        project = self.arg("project")
        summary = await self.backend.metrics_summary.summary(
            self.principal,
            project=project,
            since=time_query(self, "since"),  # type: ignore[arg-type]
            until=time_query(self, "until"),  # type: ignore[arg-type]
        )
        weeks = [w.week for w in summary.weekly]
        graphs = {
            "review_time": charts.bars(
                "Time from submission to first human review",
                [(b.label, b.count) for b in summary.first_review_histogram],
                lambda v: f"{v:g} requests",
            ),
            "weekly": charts.stacked(
                "Decisions per week by outcome",
                weeks,
                [
                    (name, charts.OUTCOME_COLOURS[name], [getattr(w, name) for w in summary.weekly])
                    for name in DECISION_EVENTS.values()
                ],
            ),
            "checkers": charts.bars(
                "Reviews per checker",
                [(c.checker, c.reviews) for c in summary.checkers],
                lambda v: f"{v:g} reviews",
            ),
            "agreement": charts.bars(
                "Agent recommendation against the human decision",
                [
                    (f"agent {rec}, {OUTCOME_LABELS[out]}", n)
                    for rec, row in sorted(summary.agreement.matrix.items())
                    for out, n in sorted(row.items())
                ],
                lambda v: f"{v:g} rounds",
            ),
        }
        projects = (await self.backend.projects.list(self.principal)).items
        self.show(
            "metrics.html",
            s=summary,
            graphs=graphs,
            projects=projects,
            project=project,
            since=self.arg("since") or "",
            until=self.arg("until") or "",
            outcome_labels=OUTCOME_LABELS,
        )


class AuditPage(DashboardHandler):
    page = "audit"

    async def get(self) -> None:
        q = audit_query(self)  # type: ignore[arg-type]
        page = await self.backend.audit_search.page(
            self.principal, q, cursor=self.arg("cursor"), limit=50
        )
        kept = {
            k: self.arg(k)
            for k in ("project", "request", "actor", "type", "since", "until")
            if self.arg(k)
        }
        more = f"?{urlencode({**kept, 'cursor': page.next_cursor})}" if page.next_cursor else None
        self.show(
            "audit.html",
            items=page.items,
            filters=kept,
            more=more,
            csv_url="/dashboard/audit.csv" + (f"?{urlencode(kept)}" if kept else ""),
        )


class AuditCsv(DashboardHandler):
    """The same streamed export as ``GET /api/v1/audit?format=csv``, for the session."""

    async def get(self) -> None:
        q = audit_query(self)  # type: ignore[arg-type]
        await stream_csv(self, q)


class AttentionPage(DashboardHandler):
    page = "attention"

    async def get(self) -> None:
        p = self.principal
        summary = await self.backend.metrics_summary.summary(p)
        failed = await self.backend.attention.failed_notifications(p)
        self.show("attention.html", s=summary, failed=failed, done=self.arg("done"))
