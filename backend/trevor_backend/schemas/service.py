"""The service's own endpoints: health, readiness, the API index and version."""

from __future__ import annotations

from typing import Literal

from .base import Model


class Health(Model):
    status: str


class Ready(Model):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


class ApiLink(Model):
    href: str
    title: str


class ApiIndex(Model):
    """``GET /api/v1/``: where to start (links to the API description and the main lists)."""

    name: str
    version: str
    api_version: str
    links: dict[str, ApiLink]


class Version(Model):
    version: str
    api: str
