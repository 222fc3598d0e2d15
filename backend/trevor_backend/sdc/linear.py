"""What an attacker knows about a table, as linear equations: the model that both secondary
suppression and its audit solve.

A table's cells are the unknowns. Every total is an equation: a displayed margin cell is
itself an unknown (it can be suppressed like any cell), and the totals the table does not
show are treated as public constants, because they are usually released elsewhere (ACRO
issue #198 was a margin recomputed after suppression giving the cells back). For a table
whose row and column keys have several levels (a 3-way table is rows ``a`` by columns
``(b, c)``) the hidden totals are every marginal of the hypercube of key values: summing out
any non-empty subset of the variables. Levels with a single value add nothing (their "total"
is the cell itself) and are dropped, so a one-row table is a one-way table of its columns;
a hidden "total" of a single cell is the cell, not extra knowledge, and is left out too.
So is a hidden total of fewer than ``threshold`` records: it fails the threshold rule
wherever it would be published, so no release gives it to the attacker.

Frequency tables relate counts; magnitude tables (sums and means) relate each cell's sum of
values, because with the counts public (they usually are, and ``n`` is in the evidence) a
mean and its cell's sum give each other away. Counts are never negative, nor are sums of
non-negative values; the sum of an empty cell is known to be zero.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
from scipy import sparse

from .evidence import TableEvidence, _label_key

# Statistics whose published cells add up along a line (the margin is the sum of the cells).
FREQUENCY_STATISTICS = ("count", "size", "histogram")
MAGNITUDE_STATISTICS = ("sum", "mean")


def kind_of(ev: TableEvidence) -> str:
    """``frequency`` or ``magnitude`` (linear relations), or ``other`` (medians, spreads,
    extremes: no linear relation ties a margin to its cells)."""
    if ev.statistic in FREQUENCY_STATISTICS or ev.extra.get("normalize"):
        return "frequency"
    if ev.statistic in MAGNITUDE_STATISTICS and ev.sum is not None:
        return "magnitude"
    return "other"


@dataclasses.dataclass
class LinearTable:
    """The unknowns (cells of the table body, margins included) and their equations."""

    kind: str
    shape: tuple[int, int]
    positions: np.ndarray  # (m, 2): each unknown's [row, column] in the published table
    value: np.ndarray  # (m,) the additive quantity: count, or sum of values
    lower: np.ndarray  # (m,) bounds everyone knows (non-negativity, empty cells)
    upper: np.ndarray
    is_margin: np.ndarray  # (m,) bool
    relations: sparse.csr_matrix  # (k, m): relations @ x == rhs
    rhs: np.ndarray  # (k,) hidden totals (0 where the total is an unknown itself)
    weight: np.ndarray  # (m,) information lost by suppressing the cell
    index: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)
    # Hypercube coordinates of the inner unknowns (the first ``len(coords)``), one column
    # per key level with two or more values.
    coords: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros((0, 0), np.int64))

    @property
    def size(self) -> int:
        return len(self.value)

    def var(self, i: int, j: int) -> int | None:
        return self.index.get((int(i), int(j)))


def _level_codes(labels: list[tuple[Any, ...]]) -> np.ndarray:
    """Per-level integer codes of ``labels`` (tuples), keeping only levels with 2+ values."""
    if not labels:
        return np.zeros((0, 0), dtype=np.int64)
    depth = max(len(x) for x in labels)
    columns = []
    for level in range(depth):
        keys = [_label_key(x)[level] if level < len(x) else None for x in labels]
        seen: dict[Any, int] = {}
        codes = [seen.setdefault(repr(k), len(seen)) for k in keys]
        if len(seen) > 1:
            columns.append(codes)
    if not columns:
        return np.zeros((len(labels), 0), dtype=np.int64)
    return np.array(columns, dtype=np.int64).T


def quantity(ev: TableEvidence, kind: str) -> np.ndarray:
    """The additive quantity per cell of the published table."""
    if kind == "magnitude":
        assert ev.sum is not None
        magnitude: np.ndarray = np.nan_to_num(np.asarray(ev.sum, dtype=float), nan=0.0)
        return magnitude
    if ev.statistic == "count" and ev.has_values:
        return ev.n_values.astype(float)
    return ev.n.astype(float)


def build(ev: TableEvidence, kind: str | None = None, public_min: int = 1) -> LinearTable:
    """The model of ``ev``; hidden totals of fewer than ``public_min`` records are unknown."""
    kind = kind or kind_of(ev)
    nr, nc = ev.shape
    published = ev.published_mask()
    margin_rows = [i for i in ev.margin_rows if 0 <= i < nr]
    margin_cols = [j for j in ev.margin_cols if 0 <= j < nc]
    inner_rows = [i for i in range(nr) if i not in margin_rows]
    inner_cols = [j for j in range(nc) if j not in margin_cols]
    q = quantity(ev, kind)

    positions: list[tuple[int, int]] = [(i, j) for i in inner_rows for j in inner_cols]
    margin_cells = [
        (i, j)
        for i in range(nr)
        for j in range(nc)
        if (i in margin_rows or j in margin_cols) and published[i, j]
    ]
    positions += margin_cells
    index = {p: k for k, p in enumerate(positions)}
    m = len(positions)
    pos = np.array(positions, dtype=np.int64).reshape(-1, 2)
    value = q[pos[:, 0], pos[:, 1]] if m else np.zeros(0)
    is_margin = np.zeros(m, dtype=bool)
    is_margin[len(positions) - len(margin_cells) :] = True

    rows_data: list[list[int]] = []  # each relation: unknowns with coefficient +1 ...
    totals: list[int | None] = []  # ... minus this unknown (None: a hidden constant total)

    # Displayed margins: each is the sum of the inner cells of its line.
    for i in margin_rows:
        for j in inner_cols:
            if (i, j) in index:
                rows_data.append([index[(r, j)] for r in inner_rows])
                totals.append(index[(i, j)])
        for j in margin_cols:
            if (i, j) in index:
                rows_data.append([index[(r, c)] for r in inner_rows for c in inner_cols])
                totals.append(index[(i, j)])
                # The corner is also the sum of the margin row's and column's cells.
                row_cells = [index[(i, c)] for c in inner_cols if (i, c) in index]
                if len(row_cells) == len(inner_cols):
                    rows_data.append(row_cells)
                    totals.append(index[(i, j)])
                col_cells = [index[(r, j)] for r in inner_rows if (r, j) in index]
                if len(col_cells) == len(inner_rows):
                    rows_data.append(col_cells)
                    totals.append(index[(i, j)])
    for j in margin_cols:
        for i in inner_rows:
            if (i, j) in index:
                rows_data.append([index[(i, c)] for c in inner_cols])
                totals.append(index[(i, j)])

    # Hidden totals: every marginal of the hypercube of (non-trivial) key levels.
    rcodes = _level_codes([ev.rows[i] for i in inner_rows])
    ccodes = _level_codes([ev.cols[j] for j in inner_cols])
    nrd, ncd = rcodes.shape[1], ccodes.shape[1]
    dims = nrd + ncd
    coords = np.zeros((len(inner_rows) * len(inner_cols), dims), dtype=np.int64)
    inner_n: np.ndarray = (
        ev.n[np.ix_(inner_rows, inner_cols)].ravel()
        if inner_rows and inner_cols
        else np.zeros(0, dtype=np.int64)
    )
    if inner_rows and inner_cols and dims:
        coords = np.concatenate(
            [
                np.repeat(rcodes, len(inner_cols), axis=0),
                np.tile(ccodes, (len(inner_rows), 1)),
            ],
            axis=1,
        )
        shown_row_margin = any((i, inner_cols[0]) in index for i in margin_rows)
        shown_col_margin = any((inner_rows[0], j) in index for j in margin_cols)
        shown_corner = any((i, j) in index for i in margin_rows for j in margin_cols)
        row_dims = frozenset(range(nrd))
        col_dims = frozenset(range(nrd, dims))
        for size in range(1, dims + 1):
            for summed in itertools.combinations(range(dims), size):
                s = frozenset(summed)
                if s == frozenset(range(dims)) and shown_corner:
                    continue
                if s == row_dims and col_dims and shown_row_margin:
                    continue
                if s == col_dims and row_dims and shown_col_margin:
                    continue
                if s == row_dims and not col_dims and shown_corner:
                    continue  # one-way table by rows: the corner is its total
                if s == col_dims and not row_dims and shown_corner:
                    continue
                kept = [d for d in range(dims) if d not in s]
                if kept:
                    _, group = np.unique(coords[:, kept], axis=0, return_inverse=True)
                    group = np.asarray(group).ravel()
                else:
                    group = np.zeros(len(coords), dtype=np.int64)
                order = np.argsort(group, kind="stable")
                bounds = np.flatnonzero(np.diff(group[order])) + 1
                for members in np.split(order, bounds):
                    if len(members) > 1 and inner_n[members].sum() >= public_min:
                        rows_data.append([int(k) for k in members])
                        totals.append(None)

    data: list[float] = []
    cols: list[int] = []
    indptr = [0]
    rhs: list[float] = []
    for row, total in zip(rows_data, totals, strict=True):
        cols.extend(row)
        data.extend([1.0] * len(row))
        if total is not None:
            cols.append(total)
            data.append(-1.0)
            rhs.append(0.0)
        else:
            rhs.append(float(np.sum(value[row])))
        indptr.append(len(cols))
    relations = sparse.csr_matrix(
        (np.array(data), np.array(cols, dtype=np.int64), np.array(indptr)),
        shape=(len(rows_data), m),
    )
    if relations.nnz:
        relations.sum_duplicates()

    lower = np.zeros(m)
    upper = np.full(m, np.inf)
    if kind == "magnitude":
        if ev.negatives is not None and (ev.negatives > 0).any():
            lower[:] = -np.inf
        empty = ev.n[pos[:, 0], pos[:, 1]] == 0 if m else np.zeros(0, dtype=bool)
        lower[empty] = value[empty]
        upper[empty] = value[empty]
    # Information lost by blanking a cell: its contributors (frequency) or its value
    # (magnitude), plus one so that no cell is free to take.
    if kind == "magnitude":
        scale = float(np.abs(value).mean()) if m else 1.0
        weight = np.abs(value) + (scale if scale > 0 else 1.0) * 0.01
    else:
        weight = value + 1.0
    return LinearTable(
        kind=kind,
        shape=(nr, nc),
        positions=pos,
        value=value,
        lower=lower,
        upper=upper,
        is_margin=is_margin,
        relations=relations,
        rhs=np.array(rhs, dtype=float),
        weight=weight,
        index=index,
        coords=coords,
    )
