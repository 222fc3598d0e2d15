"""Suppression suggestions: primary cells from the failing rules, then secondary cells so
that the row and column totals cannot give a suppressed cell back.

Totals are treated as public whether or not the table shows margins: they are usually
released elsewhere (ACRO issue #198 was margins recomputed after suppression revealing the
suppressed cells). The suppressed cells of the inner table form a bipartite graph (rows and
columns are nodes, suppressed cells edges). A cell is pinned by the totals exactly when its
edge is a bridge of that graph (a line with one suppressed cell is the simplest case), so we
add the cheapest cells (fewest contributors, never an empty cell when a populated one will
do) until the graph has no bridges. Every suppressed cell then lies on a cycle, along which
values can be moved without changing any total.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .evidence import TableEvidence, json_label


def _inner(ev: TableEvidence) -> tuple[list[int], list[int]]:
    rows = [i for i in range(ev.shape[0]) if i not in ev.margin_rows]
    cols = [j for j in range(ev.shape[1]) if j not in ev.margin_cols]
    return rows, cols


def _bridges(mask: np.ndarray) -> list[tuple[int, int]]:
    """Bridges of the bipartite graph rows+cols with an edge per True cell (Tarjan)."""
    nr, nc = mask.shape
    adj: list[list[tuple[int, int]]] = [[] for _ in range(nr + nc)]
    edges: list[tuple[int, int]] = []
    for e, (i, j) in enumerate(np.argwhere(mask)):
        edges.append((int(i), int(j)))
        adj[int(i)].append((nr + int(j), e))
        adj[nr + int(j)].append((int(i), e))
    disc = [-1] * (nr + nc)
    low = [0] * (nr + nc)
    out: list[tuple[int, int]] = []
    timer = 0
    for root in range(nr + nc):
        if disc[root] != -1 or not adj[root]:
            continue
        # Iterative DFS: (node, parent edge, iterator position).
        stack: list[tuple[int, int, int]] = [(root, -1, 0)]
        disc[root] = low[root] = timer
        timer += 1
        while stack:
            node, pedge, pos = stack[-1]
            if pos < len(adj[node]):
                stack[-1] = (node, pedge, pos + 1)
                nxt, e = adj[node][pos]
                if e == pedge:
                    continue
                if disc[nxt] == -1:
                    disc[nxt] = low[nxt] = timer
                    timer += 1
                    stack.append((nxt, e, 0))
                else:
                    low[node] = min(low[node], disc[nxt])
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > disc[parent]:
                        out.append(edges[pedge])
    return out


def _component(mask: np.ndarray, start: int, cut: tuple[int, int]) -> set[int]:
    """Nodes reachable from ``start`` without crossing the edge ``cut``."""
    nr = mask.shape[0]
    seen = {start}
    todo = [start]
    while todo:
        node = todo.pop()
        if node < nr:
            nbrs = [nr + int(j) for j in np.flatnonzero(mask[node]) if (node, int(j)) != cut]
        else:
            j = node - nr
            nbrs = [int(i) for i in np.flatnonzero(mask[:, j]) if (int(i), j) != cut]
        for nb in nbrs:
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return seen


def secondary(primary: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Smallest-cost additions to ``primary`` (inner R x C) leaving no bridge."""
    mask = primary.copy()
    nr, nc = mask.shape
    if nr < 2 and nc < 2:
        return mask
    # Empty cells are a poor protection (a total can only grow them), so populated cells
    # are always preferred; ties go to the fewest contributors.
    weight = np.where(cost > 0, cost.astype(float), 1e18)
    guard = 0
    limit = 4 * (nr * nc + 1)
    while guard < limit:
        guard += 1
        if nr == 1 or nc == 1:
            # A one-way table: only the grand total links the cells.
            line = mask.ravel()
            if line.sum() == 1 and line.size > 1:
                flat_cost = np.where(line, np.inf, weight.ravel())
                line = line.copy()
                line[int(np.argmin(flat_cost))] = True
                mask = line.reshape(mask.shape)
            return mask
        bridges = _bridges(mask)
        if not bridges:
            return mask
        i, j = bridges[0]
        side_a = _component(mask, i, (i, j))
        side_b = _component(mask, nr + j, (i, j))
        rows_a = [n for n in side_a if n < nr]
        cols_a = [n - nr for n in side_a if n >= nr]
        rows_b = [n for n in side_b if n < nr]
        cols_b = [n - nr for n in side_b if n >= nr]
        # Any second edge between the two sides closes a cycle through the bridge.
        candidates = [(r, c) for r in rows_a for c in cols_b] + [
            (r, c) for r in rows_b for c in cols_a
        ]
        candidates = [(r, c) for r, c in candidates if not mask[r, c]]
        if not candidates:
            # Both sides are a single line each: grow from the bridge's row or column;
            # the new cell is itself a bridge and the next round closes the cycle.
            candidates = [(i, c) for c in range(nc) if not mask[i, c]] + [
                (r, j) for r in range(nr) if not mask[r, j]
            ]
        if not candidates:
            mask[:, :] = True
            return mask
        best = min(candidates, key=lambda rc: (weight[rc], rc))
        mask[best] = True
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
