"""The route table and the Tornado application."""

from __future__ import annotations

from typing import Any

from tornado import web

from .handlers import base, health, objects, requests, users

ID = r"(?P<{}>[A-Za-z0-9_-]+)"
RID, OID = ID.format("rid"), ID.format("oid")


def api_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    """Every API route; the OpenAPI document is generated from (and tested against) this."""
    return [
        (r"/health", health.HealthHandler),
        (r"/ready", health.ReadyHandler),
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
        (rf"/api/v1/requests/{RID}/objects/{OID}/metadata", objects.ObjectMetadataHandler),
        (rf"/api/v1/requests/{RID}/objects/{OID}/evidence", objects.ObjectEvidenceHandler),
    ]


def make_app(backend: Any, **settings: Any) -> web.Application:
    return web.Application(
        api_routes(),
        default_handler_class=base.NotFoundHandler,
        trevor=backend,
        **settings,
    )
