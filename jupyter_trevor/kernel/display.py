"""How results render in a notebook: tables with their SDC pre-check (failing cells marked),
and the verdict banner shown under a cell."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from trevor_backend.sdc.checks import FAIL, SUPPRESSIBLE
from trevor_backend.sdc.report import ObjectReport

from .evidence import EvidenceFrame
from .precheck import check

#: Above this many cells a table's display leaves its suppression offer to
#: ``trevor.suppress``: the offer's audited search solves linear programs per blanked cell,
#: seconds for a thousand cells and over a quarter of a minute for 6,000 small ones, and the
#: display shows only the verdict, so the cell would hang for something it never shows.
MAX_OFFER_CELLS = 1000


def shown_check(obj: Any, statbarn: str | None = None) -> tuple[ObjectReport, bool]:
    """The pre-check a display shows (a table's, a tagging form's), and whether it holds the
    suppression offer (left out above ``MAX_OFFER_CELLS``)."""
    offer = not (isinstance(obj, pd.DataFrame) and obj.size > MAX_OFFER_CELLS)
    return check(obj, statbarn, offer_suppression=offer), offer


class TrevorFrame(EvidenceFrame):
    """A DataFrame returned by a trevor helper, with its SDC evidence attached; in a notebook
    it shows its pre-check."""

    def _repr_html_(self) -> str | None:
        try:
            report, offer = shown_check(self)
        except Exception as exc:  # the table must still render if the check breaks
            return f"<p>SDC pre-check unavailable: {html.escape(str(exc))}</p>" + (
                pd.DataFrame(self)._repr_html_() or ""
            )
        return render_table(pd.DataFrame(self), report, offered=offer)


_COLOURS = {"pass": "#1a7f37", "review": "#9a6700", "fail": "#cf222e"}


#: Said under a table whose display skipped the suppression offer and that fails a rule
#: suppression can answer (``trevor.suppress`` has nothing to offer for the others).
NOT_OFFERED = (
    "<li>a suppression that passes the attacker's audit is worked out by"
    " <code>trevor.suppress(result)</code> (not on display for a table this large)</li>"
)


def verdict_banner(report: ObjectReport, *, offered: bool = True) -> str:
    colour = _COLOURS.get(report.status, "#57606a")
    items = "".join(
        f"<li><b>{html.escape(f.rule)}</b>: {html.escape(f.message)}</li>" for f in report.failing
    )
    if not offered and any(f.status == FAIL and f.rule in SUPPRESSIBLE for f in report.findings):
        items += NOT_OFFERED
    return (
        f"<div class='trevor-verdict trevor-{report.status}' style='border-left:4px solid"
        f" {colour};padding:2px 8px;margin:4px 0'><b style='color:{colour}'>SDC pre-check:"
        f" {report.status.upper()}</b> &middot; statbarn {html.escape(str(report.statbarn))}"
        + (f"<ul style='margin:2px 0'>{items}</ul>" if items else "")
        + "</div>"
    )


def cell_marks(report: ObjectReport, shape: tuple[int, int]) -> np.ndarray:
    """Per cell, the rules that flag it (empty string when none)."""
    marks = np.full(shape, "", dtype=object)
    for finding in report.failing:
        for i, j in finding.positions:
            if i < shape[0] and j < shape[1]:
                marks[i, j] = (marks[i, j] + " " + finding.rule).strip()
    return marks


# Above this many cells the table renders as pandas truncates it, without per-cell marks.
MAX_STYLED_CELLS = 5000


def render_table(table: pd.DataFrame, report: ObjectReport, *, offered: bool = True) -> str:
    banner = verdict_banner(report, offered=offered)
    if table.size > MAX_STYLED_CELLS:
        plain: str = table._repr_html_() or table.to_html()
        return banner + plain
    marks = cell_marks(report, table.shape)
    fails = {f.rule for f in report.findings if f.status == "fail"}

    def style(_: pd.DataFrame) -> pd.DataFrame:
        css = np.full(table.shape, "", dtype=object)
        for (i, j), rules in np.ndenumerate(marks):
            if rules:
                bad = any(r in fails for r in rules.split())
                css[i, j] = (
                    "background-color:#ffebe9;outline:1px solid #cf222e"
                    if bad
                    else "background-color:#fff8c5"
                )
        return pd.DataFrame(css, index=table.index, columns=table.columns)

    try:
        styler = table.style.apply(style, axis=None)
        titles = pd.DataFrame(marks, index=table.index, columns=table.columns)
        styler = styler.set_tooltips(titles) if marks.any() else styler
        body = styler.to_html()
    except Exception:  # Styler needs jinja2; fall back to the plain table
        body = table.to_html()
    html: str = banner + body
    return html
