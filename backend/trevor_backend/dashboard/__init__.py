"""The admin dashboard at ``/dashboard/``: server-rendered pages over the same services as the
API (docs/dashboard.md)."""

from __future__ import annotations

from pathlib import Path

from tornado import web

STATIC = Path(__file__).resolve().parent / "static"
RID = r"(?P<rid>[A-Za-z0-9_-]+)"
PID = r"(?P<pid>[A-Za-z0-9][A-Za-z0-9._-]*)"


def dashboard_routes() -> list[
    tuple[str, type[web.RequestHandler]] | tuple[str, type[web.RequestHandler], dict[str, str]]
]:
    from . import admin_pages as a
    from . import events, pages

    return [
        (r"/dashboard", pages.RootRedirect),
        (r"/dashboard/", pages.OverviewHandler),
        (r"/dashboard/login", pages.LoginHandler),
        (r"/dashboard/logout", pages.LogoutHandler),
        (r"/dashboard/events", events.DashboardEventsHandler),
        (rf"/dashboard/requests/{RID}", pages.RequestPage),
        (rf"/dashboard/requests/{RID}/retry-release", a.RetryReleaseAction),
        (r"/dashboard/metrics", pages.MetricsPage),
        (r"/dashboard/audit", pages.AuditPage),
        (r"/dashboard/audit\.csv", pages.AuditCsv),
        (r"/dashboard/attention", pages.AttentionPage),
        (r"/dashboard/projects", a.ProjectsPage),
        (rf"/dashboard/projects/{PID}/members", a.MemberSetAction),
        (rf"/dashboard/projects/{PID}/members/(?P<username>[^/]+)/remove", a.MemberRemoveAction),
        (r"/dashboard/ingress", a.IngressPage),
        (r"/dashboard/ingress/open", a.IngressOpenAction),
        (rf"/dashboard/ingress/{RID}/links", a.UploadLinkAction),
        (
            rf"/dashboard/ingress/{RID}/links/(?P<oid>[A-Za-z0-9_-]+)/revoke",
            a.UploadLinkRevokeAction,
        ),
        (r"/dashboard/static/(.*)", StaticFiles, {"path": str(STATIC)}),
    ]


class StaticFiles(web.StaticFileHandler):
    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", "default-src 'none'")
