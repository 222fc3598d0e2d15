"""Suppression suggestions: primary cells from the failing rules, secondary cells chosen so
that every primary cell keeps its protection level (``protection.py``) against the
published cells and totals (``linear.py``), then an audit by the attacker's own programme.

Secondary cells come from one linear programme per primary cell and direction (the classic
formulation of Kelly, Golden and Assad, as in tau-ARGUS): find a change of the table that
keeps every published cell and every total, moves the primary cell up by its upper
protection (or down by its lower) and stays within the known bounds, at the least
information lost, where a cell already suppressed costs nothing and any other costs its
weight (contributors, or value) per unit it moves. Every cell the change moves is
suppressed. That change is itself a table the attacker cannot rule out, so the primary
cell's interval reaches that far, and suppressing more cells later only widens it. The
programmes differ in a few bounds and costs, so HiGHS re-solves each from the last basis.

Tables of medians, spreads and extremes have no linear totals: a margin gives a cell away
only when it covers that single non-empty cell, and those pairs are suppressed together.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from .evidence import TableEvidence, json_label
from .linear import LinearTable, build, kind_of
from .lp import LinearProgram
from .params import Params
from .protection import (
    Audit,
    Levels,
    audit,
    json_bound,
    levels,
    protection_level,
    protection_ratio,
    unprotected,
)

# Deviations smaller than this (relative to the table's scale) are solver noise.
_MOVED = 1e-9

ADVICE = (
    "merge small categories (fewer, larger cells), drop the margins or publish the table"
    " without the problem line, or publish the rounded table instead"
)


class Unprotectable(Exception):
    """No suppression of this table protects every primary cell."""

    def __init__(self, cells: list[tuple[int, ...]], why: list[str]) -> None:
        super().__init__("; ".join(why))
        self.cells = cells
        self.why = why


def _scale(lt: LinearTable) -> float:
    top = float(np.max(np.abs(lt.value))) if lt.size else 1.0
    return top if lt.kind == "magnitude" and top > 0 else 1.0


# Above this many (primary cells x unknowns), boxes are tried before the programmes.
BOX_FIRST = 100_000


def secondary_boxes(lt: LinearTable, need: Levels, suppressed: np.ndarray) -> list[int]:
    """Protect primary cells with boxes (tau-ARGUS's hypercube method), cheapest first.

    A box around an inner primary cell takes another value on every key level; adding the
    protection to the corners with an even number of changed levels and taking it from
    the odd ones keeps every total of the hypercube, so it is a table the attacker cannot
    rule out. Each primary gets the cheapest box whose corners have room (vectorised over
    all boxes at once); ``suppressed`` is updated in place. Returns the indices (into
    ``need``) of primaries without a box (margins, tables that are not a full product).
    """
    n_inner, dims = lt.coords.shape
    order = np.argsort(-(need.lower + need.upper), kind="stable")
    if dims == 0 or n_inner == 0:
        return [int(k) for k in order]
    sizes = tuple(int(s) for s in lt.coords.max(axis=0) + 1)
    cube = np.full(sizes, -1, dtype=np.int64)
    cube[tuple(lt.coords.T)] = np.arange(n_inner)
    if (cube < 0).any():
        return [int(k) for k in order]
    grow = (lt.upper - lt.value)[cube]
    shrink = (lt.value - lt.lower)[cube]
    weight = lt.weight[cube]
    free = ~suppressed[cube]
    subsets = [[d for d in range(dims) if bits >> d & 1] for bits in range(1, 2**dims)]
    leftover = []
    for k in order:
        var = int(need.vars[k])
        if var >= n_inner:
            leftover.append(int(k))
            continue
        up, down = need.upper[k], need.lower[k]
        slack = 1e-9 * max(1.0, up, down)
        c = lt.coords[var]
        cost = np.zeros(sizes)
        ok = np.ones(sizes, dtype=bool)
        for changed in subsets:
            index = tuple(slice(None) if d in changed else int(c[d]) for d in range(dims))
            shape = tuple(sizes[d] if d in changed else 1 for d in range(dims))
            if len(changed) % 2:  # shrinks when the cell grows
                room = (shrink[index] >= up - slack) & (grow[index] >= down - slack)
            else:
                room = (grow[index] >= up - slack) & (shrink[index] >= down - slack)
            cost = cost + (weight[index] * free[index]).reshape(shape)
            ok &= room.reshape(shape)
        for d in range(dims):
            ok[(slice(None),) * d + (int(c[d]),)] = False
        if not ok.any():
            leftover.append(int(k))
            continue
        best = np.unravel_index(int(np.argmin(np.where(ok, cost, np.inf))), sizes)
        for changed in subsets:
            corner = tuple(best[d] if d in changed else int(c[d]) for d in range(dims))
            free[corner] = False
            suppressed[cube[corner]] = True
    return leftover


def secondary_linear(
    lt: LinearTable,
    need: Levels,
    suppressed: np.ndarray | None = None,
    only: list[int] | None = None,
) -> np.ndarray:
    """Suppressed unknowns (bool mask) protecting every primary one; raises Unprotectable.

    ``suppressed``: cells already chosen; ``only``: the primaries (indices into ``need``)
    still to protect."""
    m = lt.size
    if suppressed is None:
        suppressed = np.zeros(m, dtype=bool)
        suppressed[need.vars] = True
    if only is None:
        if len(need.vars) * m > BOX_FIRST:
            # Boxes first, then a programme only for primaries still short of protection
            # (most are covered by the other primaries and boxes around them).
            only = unprotected(lt, suppressed, need, secondary_boxes(lt, need, suppressed))
        else:
            only = [int(k) for k in np.argsort(-(need.lower + need.upper), kind="stable")]
    if not only:
        return suppressed
    scale = _scale(lt)
    value = lt.value / scale
    grow = (lt.upper - lt.value) / scale  # room up
    shrink = (lt.value - lt.lower) / scale  # room down
    weight = lt.weight / scale
    a = lt.relations
    if a.shape[0] == 0:
        return suppressed  # nothing ties the cells: blanking is enough
    # Columns: d_up (m) then d_down (m); relations @ (d_up - d_down) == 0.
    lp = LinearProgram(
        np.concatenate([weight, weight]) * ~np.concatenate([suppressed, suppressed]),
        np.zeros(2 * m),
        np.concatenate([grow, shrink]),
        sparse.hstack([a, -a]),
        np.zeros(a.shape[0]),
        np.zeros(a.shape[0]),
    )
    del value

    def move(var: int, up: bool, amount: float) -> bool:
        """Find the cheapest change moving ``var`` by ``amount``; suppress what it moves."""
        col, other = (var, m + var) if up else (m + var, var)
        lp.set_bounds(np.array([col, other]), np.array([amount, 0.0]), np.array([amount, 0.0]))
        status, _, x = lp.solve()
        lp.set_bounds(
            np.array([var, m + var]), np.array([0.0, 0.0]), np.array([grow[var], shrink[var]])
        )
        if status != "optimal":
            return False
        moved = (np.abs(x[:m]) + np.abs(x[m:])) > _MOVED * max(1.0, amount)
        new = np.flatnonzero(moved & ~suppressed)
        if len(new):
            suppressed[new] = True
            lp.set_costs(np.concatenate([new, new + m]), np.zeros(2 * len(new)))
        return True

    def furthest(var: int, up: bool) -> float:
        """How far ``var`` can move at all (every cell may be suppressed)."""
        col, other = (var, m + var) if up else (m + var, var)
        costs = np.concatenate([weight, weight]) * ~np.concatenate([suppressed, suppressed])
        lp.set_costs(np.arange(2 * m), np.zeros(2 * m))
        lp.set_costs(np.array([col]), np.array([-1.0]))
        lp.set_bounds(np.array([other]), np.array([0.0]), np.array([0.0]))
        status, objective, _ = lp.solve()
        lp.set_bounds(
            np.array([var, m + var]), np.array([0.0, 0.0]), np.array([grow[var], shrink[var]])
        )
        lp.set_costs(np.arange(2 * m), costs)
        return -objective if status == "optimal" else (np.inf if status == "unbounded" else 0)

    failed: list[tuple[int, str]] = []
    for k in only:
        var = int(need.vars[k])
        upper, lower = need.upper[k] / scale, need.lower[k] / scale
        ok_up = upper <= 0 or move(var, True, upper)
        ok_down = lower <= 0 or move(var, False, lower)
        if not (ok_up and ok_down) and lt.kind == "frequency":
            # The width may be split differently: lower + upper = level, lower <= value.
            most_up, most_down = furthest(var, True), furthest(var, False)
            level = float(need.width[k])
            low_end = max(0.0, level - most_up)
            high_end = min(float(lt.value[var]), most_down)
            if low_end <= high_end + 1e-9:
                lower = min(max(lower, low_end), high_end)
                upper = level - lower
                ok_up = upper <= 0 or move(var, True, upper)
                ok_down = lower <= 0 or move(var, False, lower)
                need.lower[k], need.upper[k] = lower, upper
        if not ok_up:
            failed.append((var, "upwards"))
        if not ok_down:
            failed.append((var, "downwards"))
    if failed:
        raise Unprotectable(
            [tuple(int(v) for v in lt.positions[var]) for var, _ in failed],
            [
                f"no change of the table moves cell {tuple(int(v) for v in lt.positions[var])}"
                f" {direction} far enough without changing a published total"
                for var, direction in failed
            ],
        )
    return suppressed


def secondary_other(lt: LinearTable, ev: TableEvidence, primary: np.ndarray) -> np.ndarray:
    """Non-additive statistics: a margin covering a single non-empty cell equals it."""
    full = primary.copy()
    nr, nc = ev.shape
    inner_rows = [i for i in range(nr) if i not in ev.margin_rows]
    inner_cols = [j for j in range(nc) if j not in ev.margin_cols]
    pairs = []
    for i, j in map(tuple, np.argwhere(ev.margin_mask() & ev.published_mask())):
        rows = inner_rows if i in ev.margin_rows else [i]
        cols = inner_cols if j in ev.margin_cols else [j]
        members = [(r, c) for r in rows for c in cols if ev.n[r, c] > 0]
        if len(members) == 1:
            pairs.append(((int(i), int(j)), members[0]))
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            if full[a] != full[b]:
                full[a] = full[b] = True
                changed = True
    return full


def _offer(lt: LinearTable, suppressed_vars: np.ndarray, need: Levels) -> Audit:
    result = audit(lt, suppressed_vars, need)
    if not result.passed:
        raise Unprotectable(
            [tuple(int(v) for v in lt.positions[var]) for var, _ in result.failures],
            [
                f"cell {tuple(int(v) for v in lt.positions[var])}: {why}"
                for var, why in result.failures
            ],
        )
    return result


def plan(ev: TableEvidence, primary_full: np.ndarray, params: Params) -> tuple[np.ndarray, Any]:
    """The suppressed cells (full-table mask) and the audit, for one statistic's table."""
    kind = kind_of(ev)
    if kind == "other":
        lt = build(ev, "frequency", public_min=params.threshold)
        return secondary_other(lt, ev, primary_full), None
    lt = build(ev, kind, public_min=params.threshold)
    primary_vars = np.array(
        [lt.var(i, j) for i, j in np.argwhere(primary_full) if lt.var(i, j) is not None],
        dtype=np.int64,
    )
    need = levels(lt, primary_vars, params)
    vars_mask = secondary_linear(lt, need)
    result = _offer(lt, vars_mask, need)
    full = primary_full.copy()
    for var in np.flatnonzero(vars_mask):
        full[tuple(lt.positions[var])] = True
    return full, (lt, need, result)


def audit_pattern(
    ev: TableEvidence, suppressed_full: np.ndarray, primary_full: np.ndarray, params: Params
) -> Any:
    """Audit a given suppression pattern (e.g. the union over a table's statistics)."""
    kind = kind_of(ev)
    if kind == "other":
        return None
    lt = build(ev, kind, public_min=params.threshold)
    mask = np.zeros(lt.size, dtype=bool)
    for i, j in np.argwhere(suppressed_full):
        var = lt.var(i, j)
        if var is not None:
            mask[var] = True
    primary_vars = np.array(
        [lt.var(i, j) for i, j in np.argwhere(primary_full) if lt.var(i, j) is not None],
        dtype=np.int64,
    )
    need = levels(lt, primary_vars, params)
    return lt, need, _offer(lt, mask, need)


def attacker_view(audited: Any, primary_full: np.ndarray) -> list[dict[str, Any]]:
    """Per suppressed cell: the interval the published table still allows, and what its
    protection required (report field ``intervals``)."""
    if audited is None:
        return []
    lt, need, result = audited
    required = {int(v): k for k, v in enumerate(need.vars)}
    out = []
    for k, var in enumerate(result.vars):
        i, j = (int(v) for v in lt.positions[var])
        entry: dict[str, Any] = {
            "position": [i, j],
            "primary": bool(primary_full[i, j]),
            "low": json_bound(result.low[k]),
            "high": json_bound(result.high[k]),
        }
        if int(var) in required:
            r = required[int(var)]
            if lt.kind == "frequency":
                entry["required_width"] = json_bound(need.width[r])
                entry["required_high"] = json_bound(need.reach[r])
            else:
                entry["required_low"] = json_bound(lt.value[var] - need.lower[r])
                entry["required_high"] = json_bound(lt.value[var] + need.upper[r])
        out.append(entry)
    return out


def suggest(
    ev: TableEvidence, primary_positions: list[list[int]], params: Params
) -> dict[str, Any] | None:
    """The audited suppressed table (JSON) for a failing table, or None when nothing fails.

    Raises Unprotectable when no suppression passes its own audit."""
    if not primary_positions:
        return None
    primary_full = np.zeros(ev.shape, dtype=bool)
    for i, j in primary_positions:
        primary_full[i, j] = True
    full, audited = plan(ev, primary_full, params)
    return suggestion_json(
        ev, full, primary_full, attacker_view(audited, primary_full), params, kind_of(ev)
    )


def suggestion_json(
    ev: TableEvidence,
    full: np.ndarray,
    primary_full: np.ndarray,
    intervals: list[dict[str, Any]],
    params: Params,
    kind: str,
) -> dict[str, Any]:
    """The report's ``suppression`` member for an audited pattern."""
    secondary_full = full & ~primary_full
    values = ev.value if ev.value is not None else ev.n.astype(float)
    table = np.where(full, np.nan, values)
    rounded = None
    if ev.statistic in ("count", "size", "histogram"):
        base = params.rounding_base
        rounded = np.round(values / base) * base

    return {
        "method": "cell_suppression",
        "rows": [[json_label(x) for x in r] for r in ev.rows],
        "cols": [[json_label(x) for x in c] for c in ev.cols],
        "values": _to_json(table),
        "primary": [[int(i), int(j)] for i, j in np.argwhere(primary_full)],
        "secondary": [[int(i), int(j)] for i, j in np.argwhere(secondary_full)],
        "rounded": None if rounded is None else _to_json(rounded),
        "rounding_base": params.rounding_base,
        "audit": {
            "status": "pass",
            "model": kind,
            "solver": "HiGHS",
            "protection_level": protection_level(params) if kind == "frequency" else None,
            "protection_ratio": protection_ratio(params) if kind == "magnitude" else None,
            "cells_checked": int(full.sum()),
        },
        "intervals": intervals,
        "information_loss": {
            "cells": int(full.sum()),
            "contributors": int(ev.n[full & ~ev.margin_mask()].sum()),
        },
    }


def _to_json(array: np.ndarray) -> list[list[Any]]:
    out = np.asarray(array, dtype=object)
    out[~np.isfinite(np.asarray(array, dtype=float))] = None
    rows: list[list[Any]] = out.tolist()
    return rows


def apply(table: Any, suggestion: dict[str, Any]) -> Any:
    """Blank the suggested cells of a pandas table (same shape as the evidence)."""
    out = table.copy()
    for i, j in suggestion["primary"] + suggestion["secondary"]:
        out.iat[i, j] = np.nan
    return out
