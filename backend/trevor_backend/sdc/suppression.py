"""Suppression suggestions: primary cells from the failing rules, then secondary cells so
that the row and column totals cannot give a suppressed cell back.

Totals are treated as public whether or not the table shows margins: they are usually
released elsewhere (ACRO issue #198 was margins recomputed after suppression revealing the
suppressed cells). An attacker knows every published cell, every row and column total, and
that counts are not negative. A suppressed cell can then take other values exactly when
there is a cycle of suppressed cells through it, alternating between rows and columns, along
which we can add to every other cell and take from the rest without making any cell
negative (the null space of the totals is spanned by such cycles). In the digraph with an
arc row->column for every suppressed cell (it may grow) and column->row for every suppressed
cell holding more than zero (it may shrink), that is a directed cycle through the cell's
arc. ``protected`` tests it; ``secondary`` adds the cheapest cells (fewest contributors,
never an empty cell when a populated one will do) until every primary cell is protected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .evidence import TableEvidence, json_label


def _inner(ev: TableEvidence) -> tuple[list[int], list[int]]:
    rows = [i for i in range(ev.shape[0]) if i not in ev.margin_rows]
    cols = [j for j in range(ev.shape[1]) if j not in ev.margin_cols]
    return rows, cols


def _reach(
    rows: np.ndarray, cols: np.ndarray, grow: np.ndarray, shrink: np.ndarray, forward: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Nodes reachable from (forward) or reaching (not forward) the start nodes."""
    rows, cols = rows.copy(), cols.copy()
    front_r, front_c = rows.copy(), cols.copy()
    while front_r.any() or front_c.any():
        if forward:
            new_c = grow[front_r].any(axis=0) & ~cols
            new_r = shrink[:, front_c].any(axis=1) & ~rows
        else:
            new_r = grow[:, front_c].any(axis=1) & ~rows
            new_c = shrink[front_r].any(axis=0) & ~cols
        rows |= new_r
        cols |= new_c
        front_r, front_c = new_r, new_c
    return rows, cols


def _one(n: int, k: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[k] = True
    return out


def _arcs(
    mask: np.ndarray, positive: np.ndarray, cell: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    grow = mask.copy()
    shrink = mask & positive
    grow[cell] = shrink[cell] = False
    return grow, shrink


def protected(mask: np.ndarray, positive: np.ndarray, cell: tuple[int, int]) -> bool:
    """Whether the totals leave suppressed ``cell`` free to take more than one value."""
    nr, nc = mask.shape
    i, j = cell
    if nr == 1 or nc == 1:
        # One line: only its total links the cells.
        others = mask.ravel().copy()
        others[i * nc + j] = False
        return bool((others & positive.ravel()).any()) or bool(positive[cell] and others.any())
    grow, shrink = _arcs(mask, positive, cell)
    # Grow the cell: back from its column to its row.
    rows, _ = _reach(np.zeros(nr, bool), _one(nc, j), grow, shrink, forward=True)
    if rows[i]:
        return True
    if positive[cell]:
        # Shrink it: from its row round to its column.
        _, cols = _reach(_one(nr, i), np.zeros(nc, bool), grow, shrink, forward=True)
        return bool(cols[j])
    return False


def _cheapest_cycle(
    mask: np.ndarray,
    positive: np.ndarray,
    weight: np.ndarray,
    cell: tuple[int, int],
    grow: bool,
) -> tuple[float, list[tuple[int, int]]]:
    """Cheapest set of cells to suppress so a cycle runs through ``cell`` (Dijkstra).

    ``grow``: the cell's arc is row->column and we need a path column->row back; else the
    cell shrinks (column->row) and we need row->column. Suppressed cells cost nothing.
    """
    nr, nc = mask.shape
    inf = np.inf
    # Arc row->col: any cell may grow; an empty free cell only as a last resort.
    rc = np.where(mask, 0.0, np.where(positive, weight, 1e9))
    # Arc col->row: only populated cells may shrink.
    cr = np.where(positive, np.where(mask, 0.0, weight), inf)
    rc[cell] = cr[cell] = inf
    i, j = cell
    dist = np.full(nr + nc, inf)  # rows 0..nr-1, columns nr..nr+nc-1
    prev = np.full(nr + nc, -1)
    done = np.zeros(nr + nc, dtype=bool)
    start, target = (nr + j, i) if grow else (i, nr + j)
    dist[start] = 0.0
    while True:
        pending = np.where(done, inf, dist)
        node = int(np.argmin(pending))
        if not np.isfinite(pending[node]) or node == target:
            break
        done[node] = True
        if node < nr:
            cand = dist[node] + rc[node, :]
            better = (cand < dist[nr:]) & ~done[nr:]
            dist[nr:][better] = cand[better]
            prev[nr:][better] = node
        else:
            cand = dist[node] + cr[:, node - nr]
            better = (cand < dist[:nr]) & ~done[:nr]
            dist[:nr][better] = cand[better]
            prev[:nr][better] = node
    if not np.isfinite(dist[target]):
        return inf, []
    cells: list[tuple[int, int]] = []
    node = target
    while node != start:
        before = int(prev[node])
        pair = (before, node - nr) if node >= nr else (node, before - nr)
        if not mask[pair]:
            cells.append(pair)
        node = before
    return float(dist[target]), cells


def _four_cycles(mask: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Cells protected by a cycle of four suppressed cells, for the whole table at once.

    Growing (i, j): shrink (r, j), grow (r, c), shrink (i, c); shrinking it: grow (i, c),
    shrink (r, c), grow (r, j). Matrix products count such (r, c); the terms where r = i or
    c = j reuse the cell itself and are taken out again.
    """
    m = mask.astype(np.int64)
    p = (mask & positive).astype(np.int64)
    row_p = p.sum(axis=1)[:, None]
    col_p = p.sum(axis=0)[None, :]
    grow = p @ m.T @ p - p * (row_p + col_p) + p
    shrink = m @ p.T @ m - m * (row_p + col_p) + p
    return mask & ((grow > 0) | ((shrink > 0) & positive))


def secondary(primary: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Cheapest additions to ``primary`` (inner R x C) that protect every primary cell."""
    mask = primary.copy()
    nr, nc = mask.shape
    positive = cost > 0
    # Populated cells first (an empty cell can only grow), then fewest contributors.
    weight = np.where(positive, cost.astype(float), 1e9)
    # Adding cells never removes a cycle, so cells protected now stay protected.
    quick = _four_cycles(mask, positive) if nr > 1 and nc > 1 else np.zeros_like(mask)
    for cell in map(tuple, np.argwhere(primary)):
        if quick[cell] or mask.all() or protected(mask, positive, cell):
            continue
        if nr == 1 or nc == 1:
            free = [tuple(p) for p in np.argwhere(~mask)]
            mask[min(free, key=lambda rc: (weight[rc], rc))] = True
            if not protected(mask, positive, cell):
                mask[:, :] = True
            continue
        options = [_cheapest_cycle(mask, positive, weight, cell, grow=True)]
        if positive[cell]:
            options.append(_cheapest_cycle(mask, positive, weight, cell, grow=False))
        total, cells = min(options, key=lambda o: o[0])
        if not np.isfinite(total):
            mask[:, :] = True
            continue
        for pair in cells:
            mask[pair] = True
    return mask


def suggest(
    ev: TableEvidence, primary_positions: list[list[int]], rounding_base: int
) -> dict[str, Any] | None:
    """The suppressed table (JSON) for a failing table, or None when nothing fails."""
    if not primary_positions:
        return None
    rows, cols = _inner(ev)
    primary_full = np.zeros(ev.shape, dtype=bool)
    for i, j in primary_positions:
        primary_full[i, j] = True
    inner_primary = primary_full[np.ix_(rows, cols)]
    inner_cost = ev.n[np.ix_(rows, cols)]
    inner_mask = secondary(inner_primary, inner_cost)
    full = primary_full.copy()
    full[np.ix_(rows, cols)] |= inner_mask
    secondary_full = full & ~primary_full
    values = ev.value if ev.value is not None else ev.n.astype(float)
    table = np.where(full, np.nan, values)
    rounded = None
    if ev.statistic in ("count", "size", "histogram"):
        base = rounding_base
        rounded = np.round(values / base) * base
    return {
        "method": "cell_suppression",
        "rows": [[json_label(x) for x in r] for r in ev.rows],
        "cols": [[json_label(x) for x in c] for c in ev.cols],
        "values": _to_json(table),
        "primary": [[int(i), int(j)] for i, j in np.argwhere(primary_full)],
        "secondary": [[int(i), int(j)] for i, j in np.argwhere(secondary_full)],
        "rounded": None if rounded is None else _to_json(rounded),
        "rounding_base": rounding_base,
    }


def _to_json(array: np.ndarray) -> list[list[Any]]:
    out = np.asarray(array, dtype=object)
    out[~np.isfinite(np.asarray(array, dtype=float))] = None
    return out.tolist()


def apply(table: Any, suggestion: dict[str, Any]) -> Any:
    """Blank the suggested cells of a pandas table (same shape as the evidence)."""
    out = table.copy()
    for i, j in suggestion["primary"] + suggestion["secondary"]:
        out.iat[i, j] = np.nan
    return out
