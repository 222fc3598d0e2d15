"""The dashboard's Jinja2 environment: templates from ``templates/dashboard``, every value
escaped (autoescape on for all templates, not only by file extension)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "dashboard"

#: Shown for a missing figure (an en dash, written as an escape for the linter).
NONE = "\u2013"

env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else NONE


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def percent(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f} %"


env.filters.update(when=when, duration=duration, percent=percent)


def render(name: str, **context: Any) -> str:
    return env.get_template(name).render(**context)
