"""The route table and the Tornado application."""

from __future__ import annotations

from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.log import access_log

from .handlers import base, health, metrics, objects, previews, requests, streaming, users
from .handlers.request import CLIENT_CLOSED_REQUEST

ID = r"(?P<{}>[A-Za-z0-9_-]+)"
RID, OID = ID.format("rid"), ID.format("oid")


def _notification_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    from .handlers import events, notifications

    return [
        (r"/api/v1/events", events.EventsHandler),
        (r"/api/v1/notifications", notifications.NotificationsHandler),
        # Before the {nid} route, whose pattern would also match "unread-count".
        (r"/api/v1/notifications/unread-count", notifications.UnreadCountHandler),
        (rf"/api/v1/notifications/{ID.format('nid')}", notifications.NotificationHandler),
    ]


def _review_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    from .handlers import reviews, sources

    return [
        (r"/api/v1/review-queue", reviews.ReviewQueueHandler),
        (rf"/api/v1/requests/{RID}/reviews", reviews.ReviewsHandler),
        (rf"/api/v1/requests/{RID}/report", reviews.ReportHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/lineage", reviews.LineageHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/source", sources.ObjectSourceHandler),
    ]


def _admin_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    from .handlers import audit, projects, summary

    pid = ID.format("pid")
    return [
        (rf"/api/v1/projects/{pid}", projects.ProjectHandler),
        (rf"/api/v1/projects/{pid}/members/(?P<username>[^/]+)", projects.MemberHandler),
        (r"/api/v1/audit", audit.AuditSearchHandler),
        (r"/api/v1/metrics/summary", summary.MetricsSummaryHandler),
    ]


def _apidocs_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    from .handlers import apidocs

    return [
        (r"/api/v1/", apidocs.ApiIndexHandler),
        (r"/api/v1", apidocs.ApiRootHandler),
        (r"/api/v1/openapi.json", apidocs.OpenApiHandler),
        (r"/api/v1/docs", apidocs.ApiDocsHandler),
        (r"/api/v1/docs/(?P<asset>[A-Za-z0-9._-]+)", apidocs.ApiDocsAssetHandler),
    ]


def _token_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    from .handlers import tokens

    return [
        (r"/api/v1/tokens", tokens.TokensHandler),
        (rf"/api/v1/tokens/{ID.format('token_id')}", tokens.TokenHandler),
    ]


def api_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """Every API route; the OpenAPI document is generated from (and tested against) this."""
    # Imported here so each team's handler modules stay out of one shared import line.
    from .handlers import ingress, release

    return [
        (r"/health", health.HealthHandler),
        (r"/ready", health.ReadyHandler),
        (r"/metrics", metrics.MetricsHandler),
        *_apidocs_routes(),
        (r"/api/v1/users/me", users.MeHandler),
        (r"/api/v1/projects", users.ProjectsHandler),
        (r"/api/v1/statbarns", users.StatbarnsHandler),
        (r"/api/v1/requests", requests.RequestsHandler),
        (rf"/api/v1/requests/{RID}", requests.RequestHandler),
        (rf"/api/v1/requests/{RID}/submit", requests.SubmitHandler),
        (rf"/api/v1/requests/{RID}/resubmit", requests.ResubmitHandler),
        (rf"/api/v1/requests/{RID}/withdraw", requests.WithdrawHandler),
        (rf"/api/v1/requests/{RID}/audit", requests.RequestAuditHandler),
        (rf"/api/v1/requests/{RID}/objects", objects.ObjectUploadHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}", objects.ObjectHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/content", objects.ObjectContentHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/preview", previews.ObjectPreviewHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/metadata", objects.ObjectMetadataHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/evidence", objects.ObjectEvidenceHandler),
        (rf"/api/v1/requests/{RID}/release", release.ReleaseHandler),
        (rf"/api/v1/requests/{RID}/release/refresh", release.ReleaseRefreshHandler),
        (rf"/api/v1/requests/{RID}/release/retry", release.ReleaseRetryHandler),
        (rf"/releases/{RID}/download", release.ReleaseDownloadHandler),
        (rf"/api/v1/requests/{RID}/uploads", ingress.UploadSlotsHandler),
        (rf"/api/v1/requests/{RID}/uploads/{OID}/finalize", ingress.UploadFinalizeHandler),
        (rf"/uploads/{OID}", ingress.SignedUploadHandler),
        (r"/api/v1/deliveries", ingress.DeliveriesHandler),
        (rf"/api/v1/deliveries/{OID}/ack", ingress.DeliveryAckHandler),
        *_review_routes(),
        *_notification_routes(),
        *_token_routes(),
        *_admin_routes(),
    ]


def make_server(app: web.Application, *, max_body_size: int, **options: Any) -> HTTPServer:
    """The HTTP server of ``app``: chunked uploads read and stream a MiB at a time (uploads of
    known length are read by their handler, ``streaming.StreamedUploadHandler``), every other
    request Tornado's 64 KiB."""
    server = HTTPServer(
        app, max_body_size=max_body_size, chunk_size=streaming.UPLOAD_CHUNK, **options
    )
    # HTTPServer gives its chunk size to every connection's reads too; connections take this
    # attribute when they open (TCPServer._handle_connection).
    server.read_chunk_size = streaming.READ_CHUNK
    return server


def make_app(backend: Any, **settings: Any) -> web.Application:
    from .dashboard import dashboard_routes

    return web.Application(
        # Browser login pages of the authenticator (OIDC: /login, /oauth/callback, /logout).
        [
            *api_routes(),
            *dashboard_routes(),
            *getattr(backend.authenticator, "login_handlers", list)(),
        ],
        default_handler_class=base.NotFoundHandler,
        log_function=_log_and_measure(backend),
        trevor=backend,
        api_routes=api_routes,
        **settings,
    )


def _log_and_measure(backend: Any) -> Any:
    def log_function(handler: web.RequestHandler) -> None:
        backend.metrics.observe(handler)
        status = handler.get_status()
        level = access_log.info if status < 400 else access_log.warning
        if status >= 500:
            level = access_log.error
        elif status == CLIENT_CLOSED_REQUEST:
            level = access_log.info  # the client's choice, not a fault of either side
        req = handler.request
        level(
            "%d %s %s (%s) %.2fms",
            status,
            req.method,
            req.uri,
            req.remote_ip,
            1000.0 * req.request_time(),
        )

    return log_function
