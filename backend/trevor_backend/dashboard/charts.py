"""Server-rendered SVG charts for the Metrics page.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by a ``<desc>``
that states the figures in words, and the page puts the same numbers in a table beside it, so
nothing depends on seeing the bars. Labels are escaped here (``markupsafe``) because the markup
is built in Python, not in a template.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

#: Colours with at least 3:1 contrast against the white background (WCAG 1.4.11).
OUTCOME_COLOURS = {"approved": "#1b7a3d", "changes_requested": "#9a5b00", "rejected": "#b3261e"}
BAR = "#2457a6"
TEXT = "#1a1a1a"
_ids = itertools.count(1)


def _frame(title: str, desc: str, width: int, height: int, body: str) -> Markup:
    n = next(_ids)
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" aria-labelledby="chart-t{n} chart-d{n}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="chart-t{n}">{escape(title)}</title>'
        f'<desc id="chart-d{n}">{escape(desc)}</desc>{body}</svg>'
    )


def bars(
    title: str,
    items: Sequence[tuple[str, float]],
    fmt: Callable[[float], str] = lambda v: f"{v:g}",
    colour: str = BAR,
) -> Markup:
    """Horizontal bars, one per (label, value)."""
    desc = "; ".join(f"{label}: {fmt(v)}" for label, v in items) or "no data"
    label_w, bar_w, row_h = 230, 300, 26
    width, height = label_w + bar_w + 90, max(1, len(items)) * row_h + 10
    top = max((v for _, v in items), default=0) or 1
    body = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * row_h
        w = round(bar_w * value / top, 1)
        body.append(
            f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end" fill="{TEXT}" '
            f'font-size="13">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row_h - 8}" fill="{colour}"/>'
            f'<text x="{label_w + w + 6}" y="{y + 17}" fill="{TEXT}" font-size="13">'
            f"{escape(fmt(value))}</text>"
        )
    if not items:
        body.append(f'<text x="10" y="20" fill="{TEXT}" font-size="13">no data</text>')
    return _frame(title, desc, width, height, "".join(body))


def stacked(
    title: str, categories: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]]
) -> Markup:
    """Vertical stacked bars: one column per category, one band per (name, colour, values)."""
    parts = []
    for i, cat in enumerate(categories):
        counts = ", ".join(f"{name.replace('_', ' ')} {vals[i]}" for name, _, vals in series)
        parts.append(f"{cat}: {counts}")
    desc = "; ".join(parts) or "no data"
    col_w, plot_h, left, bottom = 56, 180, 40, 60
    legend_h = 22 * len(series)
    width = left + max(1, len(categories)) * col_w + 20
    width = max(width, 320)
    height = plot_h + bottom + legend_h + 10
    top = max((sum(vals[i] for _, _, vals in series) for i in range(len(categories))), default=0)
    top = top or 1
    body = [
        f'<line x1="{left}" y1="{plot_h + 10}" x2="{width - 10}" y2="{plot_h + 10}" '
        f'stroke="{TEXT}"/>',
        f'<text x="{left - 6}" y="{20}" text-anchor="end" fill="{TEXT}" font-size="12">'
        f"{top}</text>",
    ]
    for i, cat in enumerate(categories):
        x = left + 8 + i * col_w
        y = plot_h + 10.0
        for _, colour, vals in series:
            h = round(plot_h * vals[i] / top, 1)
            if h:
                y -= h
                body.append(
                    f'<rect x="{x}" y="{y}" width="{col_w - 16}" height="{h}" fill="{colour}"/>'
                )
        body.append(
            f'<text x="{x + (col_w - 16) / 2}" y="{plot_h + 28}" text-anchor="middle" '
            f'fill="{TEXT}" font-size="11">{escape(cat[5:])}</text>'
        )
    for j, (name, colour, _) in enumerate(series):
        y = plot_h + bottom + j * 22
        body.append(
            f'<rect x="{left}" y="{y}" width="14" height="14" fill="{colour}"/>'
            f'<text x="{left + 20}" y="{y + 12}" fill="{TEXT}" font-size="13">'
            f"{escape(name.replace('_', ' '))}</text>"
        )
    return _frame(title, desc, width, height, "".join(body))
