"""Run ACRO (the reference implementation) and trevor on the same data and parameters.

ACRO reports, per output, an overall status and a per-cell outcome table naming the checks
that flag each cell; this module turns both engines' results into the same shape:
``{rule: set of (row position, column position)}`` plus a status.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd

import jupyter_trevor as trevor
from trevor_backend.sdc import Params
from trevor_backend.sdc.checks import worst

logging.getLogger("acro").setLevel(logging.ERROR)
warnings.filterwarnings("ignore", module="acro")

# ACRO check names -> trevor rule families.
ACRO_RULES = {
    "MinimumThresholdCheck": "threshold",
    "PresenceOfZeroCheck": "zeros",
    "NKCheck": "nk_rule",
    "PPercentCheck": "p_ratio",
    "MinimumDoFCheck": "dof",
    "MissingCheck": "missing",
}
# trevor rules ACRO has no counterpart for; each is explained in docs/sdc.md.
TREVOR_ONLY = {"class_disclosure", "endpoints", "linked_tables"}

ACRO_NAMES = {
    "threshold": "safe_threshold",
    "dof": "safe_dof_threshold",
    "nk_n": "safe_nk_n",
    "nk_k": "safe_nk_k",
    "p_ratio": "safe_pratio_p",
    "zeros_are_disclosive": "zeros_are_disclosive",
    "check_missing_values": "check_missing_values",
    "survival_threshold": "survival_safe_threshold",
}


@dataclasses.dataclass
class Outcome:
    status: str
    cells: dict[str, set[tuple[int, int]]]
    table: pd.DataFrame | None = None
    extra_status: str = "pass"  # worst status of trevor-only findings


_ACRO: Any = None


def acro_session(params: dict[str, Any]) -> Any:
    """One ACRO object, reconfigured per call (its constructor re-reads YAML each time)."""
    global _ACRO
    import acro

    if _ACRO is None:
        _ACRO = acro.ACRO(suppress=False)
    merged = Params.from_mapping(params)
    for ours, theirs in ACRO_NAMES.items():
        _ACRO.config[theirs] = getattr(merged, ours)
    return _ACRO


def _acro_last(session: Any) -> Any:
    results = session.results.results
    return results[f"output_{session.results.output_id - 1}"]


def _acro_cells(outcome: pd.DataFrame, table: pd.DataFrame) -> dict[str, set[tuple[int, int]]]:
    cells: dict[str, set[tuple[int, int]]] = {rule: set() for rule in ACRO_RULES.values()}
    if outcome is None or outcome.empty:
        return cells
    aligned = outcome.reindex(index=table.index, columns=table.columns)
    for (i, j), text in np.ndenumerate(aligned.to_numpy(dtype=object)):
        if not isinstance(text, str):
            continue
        for check, rule in ACRO_RULES.items():
            if check in text:
                cells[rule].add((i, j))
    return cells


def _trevor_outcome(result: Any, params: dict[str, Any]) -> Outcome:
    report = trevor.check(result, **params)
    cells = {rule: report.cells(rule) for rule in ACRO_RULES.values()}
    # ACRO reports cells with negative values under NKCheck and PPercentCheck.
    negative = report.cells("negative")
    if negative:
        cells["nk_rule"] |= negative
        cells["p_ratio"] |= negative
    core = worst([f.status for f in report.findings if f.rule not in TREVOR_ONLY])
    extra = worst([f.status for f in report.findings if f.rule in TREVOR_ONLY])
    assert report.status == worst([core, extra])
    table = pd.DataFrame(result) if isinstance(result, pd.DataFrame) else None
    return Outcome(status=core, cells=cells, table=table, extra_status=extra)


def crosstab(params: dict[str, Any], *args: Any, **kwargs: Any) -> tuple[Outcome, Outcome]:
    session = acro_session(params)
    acro_table = session.crosstab(*args, **kwargs)
    record = _acro_last(session)
    ours = trevor.crosstab(*args, **kwargs)
    acro_out = Outcome(
        status=record.status, cells=_acro_cells(record.outcome, acro_table), table=acro_table
    )
    return acro_out, _trevor_outcome(ours, params)


def pivot_table(
    params: dict[str, Any], data: pd.DataFrame, **kwargs: Any
) -> tuple[Outcome, Outcome]:
    session = acro_session(params)
    acro_table = session.pivot_table(data, **kwargs)
    record = _acro_last(session)
    ours = trevor.pivot_table(data, **kwargs)
    acro_out = Outcome(
        status=record.status, cells=_acro_cells(record.outcome, acro_table), table=acro_table
    )
    return acro_out, _trevor_outcome(ours, params)


def model(kind: str, params: dict[str, Any], endog: Any, exog: Any) -> tuple[Outcome, Outcome]:
    """kind: ols, logit or probit, fitted by both engines on the same data."""
    session = acro_session(params)
    getattr(session, kind)(endog, exog)
    record = _acro_last(session)
    ours = getattr(trevor, kind)(endog, exog)
    return Outcome(status=record.status, cells={}), _trevor_outcome(ours, params)


def ols(params: dict[str, Any], endog: Any, exog: Any) -> tuple[Outcome, Outcome]:
    return model("ols", params, endog, exog)
