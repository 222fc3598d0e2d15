"""The SDC rules as pure functions over evidence and parameters.

Each rule returns a ``Finding`` (or None when it has nothing to say). Table rules are
vectorised over the cells of a ``TableEvidence``; they follow ACRO's arithmetic exactly
(see docs/sdc.md for the formulas and for the few places where trevor deliberately differs).

Over 500 lines on purpose: every rule is here, in the order of docs/sdc.md, so that a reviewer
can check the rule set against the reference in one reading.
"""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction
from typing import Any, SupportsFloat

import numpy as np

from . import statbarns as sb
from .evidence import TableEvidence
from .params import Params

PASS, FAIL, REVIEW = "pass", "fail", "review"
_ORDER = {PASS: 0, REVIEW: 1, FAIL: 2}


def worst(statuses: list[str]) -> str:
    """fail beats review beats pass (ACRO's overall status)."""
    return max(statuses, key=_ORDER.__getitem__, default=PASS)


@dataclasses.dataclass
class Finding:
    rule: str
    status: str
    message: str
    cells: list[list[list[Any]]] = dataclasses.field(default_factory=list)
    value: Any = None
    limit: Any = None
    values: list[Any] = dataclasses.field(default_factory=list)
    positions: list[list[int]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status,
            "message": self.message,
            "cells": self.cells,
            "value": _jsonable(self.value),
            "limit": _jsonable(self.limit),
            "values": [_jsonable(v) for v in self.values],
            "positions": self.positions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        known: dict[str, Any] = {
            f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data
        }
        return cls(**known)


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _cells_finding(
    rule: str,
    status: str,
    ev: TableEvidence,
    mask: np.ndarray,
    measured: np.ndarray,
    limit: Any,
    message: str,
    worst_is_min: bool = True,
) -> Finding | None:
    positions = np.argwhere(mask)
    if len(positions) == 0:
        return None
    values = [measured[i, j] for i, j in positions]
    finite = [v for v in values if v is not None and np.isfinite(v)]
    value = _jsonable((min(finite) if worst_is_min else max(finite)) if finite else None)
    if (
        isinstance(value, float)
        and value.is_integer()
        and np.issubdtype(np.asarray(measured).dtype, np.integer)
    ):
        value = int(value)
    return Finding(
        rule=rule,
        status=status,
        message=message.format(
            count=len(positions), value=value, limit=limit, s="" if len(positions) == 1 else "s"
        ),
        cells=[ev.cell_labels(int(i), int(j)) for i, j in positions],
        value=value,
        limit=limit,
        values=[_jsonable(v) for v in values],
        positions=[[int(i), int(j)] for i, j in positions],
    )


# --------------------------------------------------------------------------------------
# Table rules


def threshold(ev: TableEvidence, params: Params) -> Finding | None:
    """Fewer than ``threshold`` records in a cell (records with missing values count)."""
    exempt = ev.structural_mask() & (ev.n == 0)
    mask = (ev.n < params.threshold) & ev.published_mask() & ~exempt
    return _cells_finding(
        sb.THRESHOLD,
        FAIL,
        ev,
        mask,
        ev.n,
        params.threshold,
        "{count} cell{s} with fewer than {limit} contributors (smallest {value})",
    )


def zeros(ev: TableEvidence, params: Params) -> Finding | None:
    """Empty cells are disclosive unless declared structural."""
    if not params.zeros_are_disclosive:
        return None
    mask = (ev.n == 0) & ev.published_mask() & ~ev.structural_mask()
    return _cells_finding(
        sb.ZEROS,
        FAIL,
        ev,
        mask,
        ev.n,
        0,
        "{count} empty cell{s}: zeros reveal that nobody in the group has the attribute",
    )


def class_disclosure(ev: TableEvidence, params: Params) -> Finding | None:
    """A row or column whose whole count sits in one cell discloses everyone's class."""
    inner = ~ev.margin_mask()
    rows = [i for i in range(ev.shape[0]) if i not in ev.margin_rows]
    cols = [j for j in range(ev.shape[1]) if j not in ev.margin_cols]
    if len(rows) < 2 or len(cols) < 2:
        return None
    structural = ev.structural_mask()
    mask = np.zeros(ev.shape, dtype=bool)
    n = np.where(inner, ev.n, 0)
    for axis in (0, 1):
        lines = rows if axis == 0 else cols
        for line in lines:
            cells = n[line, :] if axis == 0 else n[:, line]
            struct = structural[line, :] if axis == 0 else structural[:, line]
            keep = cols if axis == 0 else rows
            counts = cells[keep]
            nonzero = np.flatnonzero(counts)
            # Zeros declared structural are impossible combinations, not disclosure.
            possible = [p for p, k in enumerate(keep) if not struct[k]]
            if counts.sum() > 0 and len(nonzero) == 1 and len(possible) > 1:
                k = keep[nonzero[0]]
                if axis == 0:
                    mask[line, k] = True
                else:
                    mask[k, line] = True
    return _cells_finding(
        sb.CLASS_DISCLOSURE,
        REVIEW,
        ev,
        mask,
        ev.n,
        None,
        "{count} cell{s} hold the whole of their row or column: everyone in that group"
        " shares the attribute",
    )


def _value_rules_possible(ev: TableEvidence, rule: str) -> Finding | None:
    if not ev.has_values:
        return Finding(
            rule=rule,
            status=REVIEW,
            message="the evidence has no values for this table, so dominance cannot be checked",
        )
    return None


def negatives(ev: TableEvidence, params: Params) -> Finding | None:
    """Dominance is undefined with negative values: the cells holding them need review."""
    if not ev.has_values:
        return None
    assert ev.negatives is not None
    mask = (ev.negatives > 0) & ev.published_mask()
    return _cells_finding(
        sb.NEGATIVE,
        REVIEW,
        ev,
        mask,
        ev.negatives,
        0,
        "{count} cell{s} contain negative values: dominance rules are not defined, review by hand",
        worst_is_min=False,
    )


def _has_negatives(ev: TableEvidence) -> bool:
    return ev.negatives is not None and bool((ev.negatives > 0).any())


def _insufficient_top(ev: TableEvidence, needed: int) -> np.ndarray:
    """Cells with more contributors than the evidence kept largest values for."""
    assert ev.largest is not None
    kept = ev.largest.shape[2]
    insufficient: np.ndarray = (needed > kept) & (ev.n_values > kept)
    return insufficient


# Exact decisions at the limit. A cell's sum is exact, whatever the order of its records,
# when every value is a whole multiple of 2**-24 and the sum of their sizes stays below
# 2**53 (the kernel checks this per cell and records ``exact_sums``); then the comparison is done in
# rational arithmetic with the parameter read as the decimal the operator wrote. Otherwise
# the float sum is off by at most (n - 1) units in the last place of the sum of sizes, and a
# cell whose exact value could lie on either side of the limit is decided as failing.
_UNIT = 2.0**-53


def _decide(
    ev: TableEvidence,
    lhs: np.ndarray,
    rhs: np.ndarray,
    scale: np.ndarray,
    strict: bool,
    exact_lhs: Any,
    exact_rhs: Any,
) -> np.ndarray:
    """Cells where ``lhs >= rhs`` (or ``lhs > rhs`` when ``strict``) holds for the exact
    values, deciding for "holds" (the failing side) where floating point cannot tell.

    ``scale`` bounds the size of the terms; ``exact_lhs``/``exact_rhs`` give, for one cell,
    the exact rational value of each side."""
    holds = lhs > rhs if strict else lhs >= rhs
    n = np.asarray(ev.n_values, dtype=float)
    band = 4.0 * (n + 4.0) * _UNIT * np.abs(scale)
    near = np.abs(lhs - rhs) <= band
    if not near.any():
        return holds
    recorded = ev.exact_sums()
    exact = recorded if recorded is not None else np.zeros(ev.shape, dtype=bool)
    for i, j in np.argwhere(near):
        if not exact[i, j]:
            holds[i, j] = True
            continue
        a, b = exact_lhs(i, j), exact_rhs(i, j)
        holds[i, j] = a > b if strict else a >= b
    return holds


def _fraction(x: SupportsFloat) -> Fraction:
    return Fraction(float(x))


def nk_rule(ev: TableEvidence, params: Params) -> Finding | None:
    """N-k dominance: the nk_n largest values make up nk_k or more of the cell total."""
    missing = _value_rules_possible(ev, sb.NK_RULE)
    if missing or _has_negatives(ev):
        return missing
    assert ev.largest is not None and ev.sum is not None
    top = np.nansum(ev.largest[:, :, : params.nk_n], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = top / ev.sum
    short = _insufficient_top(ev, params.nk_n)
    if short.any():
        return _cells_finding(
            sb.NK_RULE,
            REVIEW,
            ev,
            short & ev.published_mask(),
            ev.n_values,
            params.nk_n,
            "the evidence keeps fewer largest values than nk_n={limit} for {count} cell{s}",
        )
    k = Fraction(str(params.nk_k))
    top_n = ev.largest[:, :, : params.nk_n]
    # Dominated: top >= k * total, decided exactly at the limit (empty cells never are).
    dominated = _decide(
        ev,
        top,
        params.nk_k * ev.sum,
        ev.sum,
        False,
        lambda i, j: sum((_fraction(x) for x in top_n[i, j] if np.isfinite(x)), Fraction(0)),
        lambda i, j: k * _fraction(ev.sum[i, j]),
    )
    mask = dominated & (ev.n_values > 0) & (ev.sum != 0) & ev.published_mask()
    return (
        _cells_finding(
            sb.NK_RULE,
            FAIL,
            ev,
            mask,
            ratio,
            params.nk_k,
            "{count} cell{s} dominated: the largest "
            + str(params.nk_n)
            + " contributions make up {value:.3g} or more of the total (limit {limit})",
            worst_is_min=False,
        )
        if mask.any()
        else None
    )


def p_ratio(ev: TableEvidence, params: Params) -> Finding | None:
    """p% rule: (total - two largest) / largest < p_ratio (ACRO's p-ratio form)."""
    missing = _value_rules_possible(ev, sb.P_RATIO)
    if missing or _has_negatives(ev):
        return missing
    assert ev.largest is not None and ev.sum is not None
    top1 = ev.largest[:, :, 0]
    top2 = np.nansum(ev.largest[:, :, :2], axis=2)
    rest = ev.sum - top2
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(top1 == 0, rest, rest / top1)
    # An empty cell (no values, largest is NaN) is not dominated.
    p = np.where(np.isnan(p), 1.0, p)
    # Fails: total - x1 - x2 < p_ratio * x1 (with x1 = 0: the rest < p_ratio), decided
    # exactly at the limit.
    ratio = Fraction(str(params.p_ratio))
    x1 = np.nan_to_num(top1, nan=0.0)
    below = _decide(
        ev,
        np.where(x1 == 0, params.p_ratio, params.p_ratio * x1),
        rest,
        ev.sum,
        True,
        lambda i, j: ratio * (_fraction(x1[i, j]) if x1[i, j] != 0 else Fraction(1)),
        lambda i, j: (
            _fraction(ev.sum[i, j])
            - sum((_fraction(x) for x in ev.largest[i, j, :2] if np.isfinite(x)), Fraction(0))
        ),
    )
    mask = below & ~np.isnan(top1) & ev.published_mask()
    return (
        _cells_finding(
            sb.P_RATIO,
            FAIL,
            ev,
            mask,
            p,
            params.p_ratio,
            "{count} cell{s} fail the p% rule: the others add up to {value:.3g} of the largest"
            " contribution (limit {limit})",
        )
        if mask.any()
        else None
    )


def missing_values(ev: TableEvidence, params: Params) -> Finding | None:
    if not params.check_missing_values or ev.n_missing is None:
        return None
    mask = (ev.n_missing > 0) & ev.published_mask()
    return _cells_finding(
        sb.MISSING,
        REVIEW,
        ev,
        mask,
        ev.n_missing,
        0,
        "{count} cell{s} include records with missing values, left out of the statistic:"
        " check this is intended",
        worst_is_min=False,
    )


def cell_dof(ev: TableEvidence, params: Params) -> Finding | None:
    """Shape statistics: each cell's non-missing values less one must reach ``dof``."""
    dof = ev.n_values - 1
    mask = (dof < params.dof) & ev.published_mask()
    return _cells_finding(
        sb.DOF,
        FAIL,
        ev,
        mask,
        dof,
        params.dof,
        "{count} cell{s} rest on fewer than {limit} degrees of freedom (smallest {value})",
    )


def endpoints(ev: TableEvidence, params: Params) -> Finding | None:
    mask = ev.published_mask() & (ev.n > 0)
    return _cells_finding(
        sb.ENDPOINTS,
        REVIEW,
        ev,
        mask,
        ev.n,
        None,
        "{count} cell{s} publish a minimum or maximum: the value of one individual",
    )


TABLE_RULES = {
    sb.THRESHOLD: threshold,
    sb.ZEROS: zeros,
    sb.CLASS_DISCLOSURE: class_disclosure,
    sb.NEGATIVE: negatives,
    sb.NK_RULE: nk_rule,
    sb.P_RATIO: p_ratio,
    sb.MISSING: missing_values,
    sb.DOF: cell_dof,
    sb.ENDPOINTS: endpoints,
}

# Rules whose failing cells are suppressed (primary suppression).
SUPPRESSIBLE = (sb.THRESHOLD, sb.ZEROS, sb.NK_RULE, sb.P_RATIO, sb.DOF)


def table_findings(statbarn: sb.Statbarn, ev: TableEvidence, params: Params) -> list[Finding]:
    findings: list[Finding] = []
    for check in statbarn.checks:
        rule = TABLE_RULES.get(check)
        if rule is None:
            continue
        if check == sb.MISSING and not params.check_missing_values:
            continue
        found = rule(ev, params)
        if found is not None:
            findings.append(found)
    if params.check_missing_values and sb.MISSING not in statbarn.checks:
        found = missing_values(ev, params)
        if found is not None:
            findings.append(found)
    return findings


# --------------------------------------------------------------------------------------
# Other kinds of evidence


def model_dof(evidence: dict[str, Any], params: Params) -> Finding:
    dof = evidence.get("df_resid")
    if dof is None:
        return Finding(
            rule=sb.DOF,
            status=REVIEW,
            message="the evidence does not state the residual degrees of freedom",
        )
    dof = float(dof)
    value = int(dof) if dof.is_integer() else dof
    if dof < params.dof:
        return Finding(
            rule=sb.DOF,
            status=FAIL,
            value=value,
            limit=params.dof,
            message=f"the model has {value} residual degrees of freedom, fewer than {params.dof}",
        )
    return Finding(
        rule=sb.DOF,
        status=PASS,
        value=value,
        limit=params.dof,
        message=f"the model has {value} residual degrees of freedom (at least {params.dof})",
    )


def survival(evidence: dict[str, Any], params: Params) -> list[Finding]:
    at_risk = np.asarray(evidence.get("at_risk") or [], dtype=float)
    events = np.asarray(evidence.get("events") or [], dtype=float)
    times = evidence.get("times") or list(range(len(at_risk)))
    findings: list[Finding] = []
    low = np.flatnonzero(at_risk < params.survival_threshold)
    if len(low):
        findings.append(
            Finding(
                rule=sb.SURVIVAL,
                status=FAIL,
                value=int(at_risk[low].min()),
                limit=params.survival_threshold,
                cells=[[[times[i]], ["num at risk"]] for i in low],
                values=[int(at_risk[i]) for i in low],
                positions=[[int(i), 0] for i in low],
                message=f"{len(low)} time points have fewer than {params.survival_threshold}"
                " units at risk",
            )
        )
    single = np.flatnonzero(events == 1)
    if len(single):
        findings.append(
            Finding(
                rule=sb.SURVIVAL,
                status=REVIEW,
                value=1,
                limit=2,
                cells=[[[times[i]], ["num events"]] for i in single],
                values=[1] * len(single),
                positions=[[int(i), 1] for i in single],
                message=f"{len(single)} time points have a single event: group event times",
            )
        )
    return findings


def file_findings(filename: str, size: int | None, params: Params) -> list[Finding]:
    findings: list[Finding] = []
    if size is not None and size == 0:
        findings.append(
            Finding(rule="empty_file", status=FAIL, value=0, limit=1, message="the file is empty")
        )
    if size is not None and size > params.max_file_size:
        findings.append(
            Finding(
                rule="file_size",
                status=FAIL,
                value=size,
                limit=params.max_file_size,
                message=f"the file is {size} bytes, more than the {params.max_file_size} allowed",
            )
        )
    lowered = filename.lower()
    # Match the longest suffix too, so ".tar.gz"-style entries in the list work.
    blocked = [ext for ext in params.blocked_extensions if lowered.endswith(ext)]
    if blocked or os.path.splitext(lowered)[1] in params.blocked_extensions:
        ext = blocked[0] if blocked else os.path.splitext(lowered)[1]
        findings.append(
            Finding(
                rule="blocked_extension",
                status=FAIL,
                value=ext,
                message=f"files ending {ext} may not leave the TRE",
            )
        )
    return findings
