"""Protection levels and the attacker's view: the audit every suppression passes before it is
offered.

Protection levels follow tau-ARGUS. An attacker knows the published cells, the totals
(``linear.py``) and the bounds (counts are never negative, empty cells hold nothing), and
solves, for every suppressed cell, the smallest and largest value it can take. That interval
must cover the cell's protection:

* frequency tables: at least ``protection_level`` wide (default ``threshold``) and reaching
  at least ``protection_level`` above zero, so a count of 4 cannot be told from 0 or from a
  safe 10;
* magnitude tables (sums, means): p% of the cell's value either side of it
  (``protection_ratio``, default ``p_ratio``);
* every suppressed cell, primary or not: more than one value (never recovered exactly).

The interval is the linear programming relaxation: an attacker who also uses that counts
are whole numbers gets exactly these bounds for two-way tables (their equations are totally
unimodular) and at most narrower ones for three-way tables (docs/sdc.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from .linear import LinearTable
from .lp import LinearProgram
from .params import Params

# Relative slack for comparing solver output with a requirement (HiGHS works to 1e-7).
TOLERANCE = 1e-6


@dataclasses.dataclass
class Levels:
    """Required protection of the primary unknowns: the attacker's interval must reach
    ``value - lower`` and ``value + upper``; for frequencies also ``reach`` above zero and a
    ``width``."""

    vars: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    width: np.ndarray
    reach: np.ndarray


def protection_level(params: Params) -> int:
    return params.protection_level if params.protection_level is not None else params.threshold


def protection_ratio(params: Params) -> float:
    return params.protection_ratio if params.protection_ratio is not None else params.p_ratio


def levels(lt: LinearTable, primary_vars: np.ndarray, params: Params) -> Levels:
    primary_vars = np.asarray(primary_vars, dtype=np.int64)
    a = lt.value[primary_vars]
    if lt.kind == "frequency":
        t = float(protection_level(params))
        # Split the width between the two sides, never below zero: [a - lower, a + upper]
        # is then at least t wide and reaches t.
        lower = np.minimum(a, np.floor(t / 2))
        upper = t - lower
        return Levels(primary_vars, lower, upper, np.full(len(a), t), np.full(len(a), t))
    ratio = protection_ratio(params)
    inner = np.abs(lt.value[~lt.is_margin])
    positive = inner[inner > 0]
    scale = float(np.median(positive)) if len(positive) else 1.0
    # A zero-valued cell still needs room: p% of a typical cell.
    need = ratio * np.where(a != 0, np.abs(a), scale)
    fixed = lt.lower[primary_vars] == lt.upper[primary_vars]
    # An empty cell of a magnitude table is known empty from the counts: no room exists.
    need = np.where(fixed, 0.0, need)
    zeros = np.zeros(len(a))
    return Levels(primary_vars, need, need, zeros, zeros)


@dataclasses.dataclass
class Audit:
    """The attacker's view of a suppressed table: an interval per suppressed unknown."""

    passed: bool
    low: np.ndarray  # per suppressed unknown (in ``vars`` order), -inf when unbounded
    high: np.ndarray
    vars: np.ndarray
    failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)


def intervals(
    lt: LinearTable, suppressed: np.ndarray, only: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vars, low, high): the range each suppressed unknown can take given everything else.

    ``only`` limits the solves to these unknowns (others get NaN)."""
    sup = np.flatnonzero(suppressed)
    low = np.full(len(sup), np.nan)
    high = np.full(len(sup), np.nan)
    if len(sup) == 0:
        return sup, low, high
    wanted = np.ones(len(sup), dtype=bool) if only is None else np.isin(sup, only)
    scale = _scale(lt)
    pub = np.flatnonzero(~suppressed)
    a = lt.relations
    known = a[:, pub] @ (lt.value[pub] / scale) if len(pub) else np.zeros(a.shape[0])
    rhs = lt.rhs / scale - known
    a_s = sparse.csr_matrix(a[:, sup])
    used = np.diff(a_s.indptr) > 0
    a_s, rhs = a_s[used], rhs[used]
    lower = lt.lower[sup] / scale
    upper = lt.upper[sup] / scale
    # Unknowns tied by no equation take any value within their bounds.
    touched = np.zeros(len(sup), dtype=bool)
    touched[np.unique(a_s.indices)] = True
    low[~touched] = lower[~touched]
    high[~touched] = upper[~touched]
    k = a_s.shape[0]
    graph = sparse.bmat([[None, a_s], [a_s.T, None]], format="csr") if k else None
    if graph is not None:
        _, labels = connected_components(graph, directed=False)
        col_labels = labels[k:]
        row_labels = labels[:k]
        for comp in np.unique(col_labels[touched]):
            cols = np.flatnonzero((col_labels == comp) & touched)
            if not wanted[cols].any():
                continue
            rows = np.flatnonzero(row_labels == comp)
            sub = a_s[rows][:, cols]
            lp = LinearProgram(
                np.zeros(len(cols)),
                lower[cols],
                upper[cols],
                sub,
                rhs[rows],
                rhs[rows],
                primal=True,
            )
            # Every solution is a table the attacker cannot rule out: a bound some earlier
            # solution already reaches (zero, or the most an equation allows) needs no solve.
            ceiling = _ceilings(sub, rhs[rows], lower[cols])
            seen_low = np.full(len(cols), np.inf)
            seen_high = np.full(len(cols), -np.inf)
            tol = 1e-9 * max(1.0, float(np.max(np.abs(rhs[rows]), initial=0.0)))
            for local, var in enumerate(cols):
                if not wanted[var]:
                    continue
                for sense in (1.0, -1.0):
                    if sense > 0 and seen_low[local] <= lower[var] + tol:
                        low[var] = lower[var]
                        continue
                    if sense < 0 and seen_high[local] >= ceiling[local] - tol:
                        high[var] = ceiling[local]
                        continue
                    lp.set_costs(np.array([local]), np.array([sense]))
                    status, objective, x = lp.solve()
                    if status == "infeasible":
                        raise RuntimeError("the published table contradicts its own totals")
                    if status == "optimal":
                        np.minimum(seen_low, x, out=seen_low)
                        np.maximum(seen_high, x, out=seen_high)
                    bound = objective if status == "optimal" else -np.inf
                    if sense > 0:
                        low[var] = bound
                    else:
                        high[var] = -bound
                lp.set_costs(np.array([local]), np.array([0.0]))
    return sup, low * scale, high * scale


def _ceilings(a: sparse.csr_matrix, rhs: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The most each unknown can hold by any one equation whose terms are all added and
    bounded below: its total less the others' lower bounds (infinite when none applies)."""
    out = np.full(a.shape[1], np.inf)
    a = sparse.csr_matrix(a)
    for r in range(a.shape[0]):
        members = a.indices[a.indptr[r] : a.indptr[r + 1]]
        coeffs = a.data[a.indptr[r] : a.indptr[r + 1]]
        if (coeffs != 1).any() or not np.isfinite(lower[members]).all():
            continue
        room = rhs[r] - (lower[members].sum() - lower[members])
        out[members] = np.minimum(out[members], room)
    return out


def unprotected(
    lt: LinearTable, suppressed: np.ndarray, need: Levels, which: list[int]
) -> list[int]:
    """The primaries (indices into ``need``) among ``which`` the pattern does not protect."""
    if not which:
        return []
    sup, low, high = intervals(lt, suppressed, only=need.vars[which])
    return [k for k, _ in _short(lt, need, sup, low, high, which)]


def _short(
    lt: LinearTable,
    need: Levels,
    sup: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    which: list[int] | range,
) -> list[tuple[int, str]]:
    tol = TOLERANCE * _scale(lt)
    position = {int(v): k for k, v in enumerate(sup)}
    out = []
    for k in which:
        var = int(need.vars[k])
        if var not in position:
            out.append((k, "not suppressed"))
            continue
        lo, hi = low[position[var]], high[position[var]]
        x = lt.value[var]
        if lt.lower[var] == lt.upper[var]:
            continue  # known from the counts whatever is suppressed
        if lt.kind == "frequency":
            short = hi - lo < need.width[k] - tol or hi < need.reach[k] - tol
        else:
            short = lo > x - need.lower[k] + tol or hi < x + need.upper[k] - tol
        if short:
            out.append((k, f"the attacker narrows it to {_span(lo, hi)}"))
    return out


def audit(lt: LinearTable, suppressed: np.ndarray, need: Levels) -> Audit:
    """Solve the attacker's programme for every suppressed unknown and test each primary
    unknown's protection level; a suppressed unknown pinned to one value fails too."""
    sup, low, high = intervals(lt, suppressed)
    tol = TOLERANCE * _scale(lt)
    failures = [
        (int(need.vars[k]), why)
        for k, why in _short(lt, need, sup, low, high, range(len(need.vars)))
    ]
    for k, var in enumerate(sup):
        if lt.lower[var] != lt.upper[var] and high[k] - low[k] <= tol:
            failures.append((int(var), f"recovered exactly ({_span(low[k], high[k])})"))
    return Audit(passed=not failures, low=low, high=high, vars=sup, failures=failures)


def _scale(lt: LinearTable) -> float:
    if lt.kind != "magnitude" or lt.size == 0:
        return 1.0
    top = float(np.max(np.abs(lt.value)))
    return top if top > 0 else 1.0


def _span(lo: float, hi: float) -> str:
    return f"[{_num(lo)}, {_num(hi)}]"


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "∞" if x > 0 else "-∞"
    return f"{x:.6g}"


def json_bound(x: float) -> Any:
    if not np.isfinite(x):
        return None
    r = round(float(x), 9)
    return int(r) if r.is_integer() else r
