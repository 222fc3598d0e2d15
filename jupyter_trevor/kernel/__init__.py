"""The kernel side of trevor: SDC-aware helpers, tagging, the tag form and display."""

from .config import configure, current_params
from .display import TrevorFrame
from .helpers import (
    check,
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
