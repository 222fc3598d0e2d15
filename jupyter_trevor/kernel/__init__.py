"""The kernel side of trevor: the SDC-aware analysis API, the pre-check, tagging, the tag form
and display."""

from .analysis import (
    crosstab,
    describe,
    hist,
    logit,
    ols,
    pivot_table,
    probit,
    suppress,
    survival,
)
from .config import configure, current_params
from .display import TrevorFrame
from .precheck import check
from .tagging import TaggedOutput, outputs, provenance, tag
from .widgets import form

__all__ = [
    "TaggedOutput",
    "TrevorFrame",
    "check",
    "configure",
    "crosstab",
    "current_params",
    "describe",
    "form",
    "hist",
    "logit",
    "ols",
    "outputs",
    "pivot_table",
    "probit",
    "provenance",
    "suppress",
    "survival",
    "tag",
]
