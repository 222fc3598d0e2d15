"""The admin dashboard at ``/dashboard/``: server-rendered pages over the same services as the
API (docs/dashboard.md)."""

from __future__ import annotations

from tornado import web


def dashboard_routes() -> list[tuple[str, type[web.RequestHandler]]]:
    return []
