"""Where a newcomer to the API starts: ``/api/v1/`` (links), ``/api/v1/openapi.json`` (the
OpenAPI document, generated from the route table exactly as ``docs/openapi.json`` is) and
``/api/v1/docs`` (Swagger UI, a human-readable API reference).

Swagger UI comes from npm (``swagger-ui-dist``, pinned in ``labextension/yarn.lock``) and is
copied into ``trevor_backend/static/apidocs/vendor/`` by the labextension build
(``labextension/scripts/vendor-apidocs.js``), so the page loads nothing from any other host:
it works in an offline TRE, and its Content-Security-Policy says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path

from ..contract import API_VERSION
from ..errors import NotFound, Unavailable
from ..openapi import Routes, build
from ..schemas import ApiIndex, ApiLink
from ..version import __version__
from .base import BaseHandler
from .spec import operation

STATIC = Path(__file__).resolve().parent.parent / "static" / "apidocs"
#: The page's files and their media types; nothing else under STATIC is served.
ASSETS = {
    "swagger-ui-bundle.js": ("vendor/swagger-ui-bundle.js", "text/javascript; charset=UTF-8"),
    "swagger-ui.css": ("vendor/swagger-ui.css", "text/css; charset=UTF-8"),
    "init.js": ("init.js", "text/javascript; charset=UTF-8"),
}
#: Same-origin scripts only; Swagger UI sets inline styles and draws icons as data: images.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
BASE = "/api/v1/"
_LINKS = {
    "openapi": ("openapi.json", "The REST API as an OpenAPI 3.1 document"),
    "docs": ("docs", "Human-readable API reference (Swagger UI)"),
    "me": ("users/me", "Who the token belongs to, and in which projects"),
    "projects": ("projects", "The caller's projects"),
    "statbarns": ("statbarns", "Statistical output types and their checks"),
    "requests": ("requests", "Airlock requests the caller may see"),
    "review_queue": ("review-queue", "Requests awaiting the caller's review (checkers)"),
    "events": ("events", "Live events (server-sent events)"),
}


@cache
def _asset(name: str) -> bytes | None:
    """The bytes of one of the page's files (read once per process), or None."""
    rel = ASSETS.get(name, (None, ""))[0]
    path = STATIC / rel if rel else None
    return path.read_bytes() if path is not None and path.is_file() else None


@cache
def _openapi_text(routes: Callable[[], Routes]) -> str:
    return json.dumps(build(routes()), indent=2)


class ApiIndexHandler(BaseHandler):
    public = True

    @operation(
        "Start here: links to the API description and the main resources",
        tags="service",
        responses={200: ApiIndex},
        public=True,
    )
    async def get(self) -> None:
        self.write_json(
            ApiIndex(
                name="trevor review backend",
                version=__version__,
                api_version=API_VERSION,
                links={k: ApiLink(href=BASE + p, title=t) for k, (p, t) in _LINKS.items()},
            )
        )


class ApiRootHandler(ApiIndexHandler):
    """``/api/v1`` without the slash answers the same (its own class: one operation id each)."""


class OpenApiHandler(BaseHandler):
    public = True

    @operation(
        "This API as an OpenAPI 3.1 document", tags="service", responses={200: None}, public=True
    )
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        # The route table this handler is one of (``web.make_app`` hands it over).
        self.finish(_openapi_text(self.settings["api_routes"]))


class ApiDocsHandler(BaseHandler):
    public = True

    @operation(
        "Human-readable API reference (Swagger UI, served from this backend)",
        tags="service",
        responses={200: "text/html", 503: None},
        public=True,
    )
    async def get(self) -> None:
        if _asset("swagger-ui-bundle.js") is None:
            # A checkout whose labextension was never built has no vendored Swagger UI.
            raise Unavailable(
                "Swagger UI is not vendored in this installation (run "
                "scripts/build-labextension.sh); /api/v1/openapi.json works meanwhile."
            )
        self.set_header("Content-Security-Policy", DOCS_CSP)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(PAGE)


class ApiDocsAssetHandler(BaseHandler):
    public = True

    @operation(
        "A file of the API reference page (Swagger UI)",
        tags="service",
        responses={200: ("text/javascript", "text/css"), 404: None},
        public=True,
    )
    async def get(self, asset: str) -> None:
        data = _asset(asset)
        if data is None:
            raise NotFound(f"no API docs file {asset!r}")
        self.set_header("Content-Type", ASSETS[asset][1])
        # Versioned with the package: a browser may keep it for a day.
        self.set_header("Cache-Control", "public, max-age=86400")
        self.finish(data)


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>trevor review backend: API reference</title>
<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<noscript>The API reference needs JavaScript; the raw document is at
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</noscript>
<script src="/api/v1/docs/swagger-ui-bundle.js"></script>
<script src="/api/v1/docs/init.js"></script>
</body>
</html>
"""
