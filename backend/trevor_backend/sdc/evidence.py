"""Evidence at source: the per-cell facts a checker needs, computed from the raw data.

The kernel computes evidence in one grouped pass over the records (``table_evidence``) and
stores it, as JSON, next to the output it describes. The raw data never leaves the workspace;
the evidence holds only aggregates (counts, sums, the few largest contributions per cell).

Schema (``schema: "trevor.evidence/1"``), documented in docs/sdc.md:

* every kind: ``schema``, ``kind`` (``table`` | ``model`` | ``figure`` | ``survival`` |
  ``file``), ``sha256`` (of the object file, filled in when the file is written),
  ``statistic`` and ``statbarn`` (the statbarn the helper suggests);
* tables and figures drawn from a table: ``row_names``, ``col_names``, ``rows``, ``cols``
  (labels, one list per row/column), ``margin_rows``, ``margin_cols`` (positions of margin
  lines), ``top_k`` and ``cells``: a dict of row-major 2-D lists keyed ``n`` (records in the
  cell, including records whose value is missing), ``value`` (the published number),
  and when the table aggregates a variable ``n_missing``, ``sum``, ``negatives``, ``min``,
  ``max`` and ``largest`` (the ``top_k`` largest values, descending). ``null`` marks NaN.
  ``exact_sums`` (tables of a variable): per cell (row-major 2-D list of booleans), whether
  its sum is exact whatever the order of its records.
* models: ``model``, ``nobs``, ``df_resid``, ``df_model``, ``params``;
* survival: ``times``, ``at_risk``, ``events``, ``censored``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

SCHEMA = "trevor.evidence/1"
# Cells of the dense (row keys x column keys) grid we are willing to materialise.
MAX_GRID_CELLS = 20_000_000


@dataclasses.dataclass
class TableEvidence:
    """Per-cell facts of a table, aligned with the published table (rows x columns)."""

    statistic: str
    row_names: list[Any]
    col_names: list[Any]
    rows: list[tuple[Any, ...]]
    cols: list[tuple[Any, ...]]
    n: np.ndarray
    value: np.ndarray | None = None
    n_missing: np.ndarray | None = None
    sum: np.ndarray | None = None
    negatives: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    largest: np.ndarray | None = None
    margin_rows: list[int] = dataclasses.field(default_factory=list)
    margin_cols: list[int] = dataclasses.field(default_factory=list)
    top_k: int = 0
    kind: str = "table"
    statbarn: str | None = None
    sha256: str | None = None
    structural_zeros: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = dataclasses.field(
        default_factory=list
    )
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), len(self.cols))

    @property
    def has_values(self) -> bool:
        return self.sum is not None

    @property
    def n_values(self) -> np.ndarray:
        """Records with a non-missing value (the contributors to a magnitude statistic)."""
        if self.n_missing is None:
            return self.n
        return self.n - self.n_missing

    def margin_mask(self) -> np.ndarray:
        mask = np.zeros(self.shape, dtype=bool)
        if self.margin_rows:
            mask[self.margin_rows, :] = True
        if self.margin_cols:
            mask[:, self.margin_cols] = True
        return mask

    def published_mask(self) -> np.ndarray:
        """Cells the table publishes: pandas leaves some margins empty (NaN), which publish
        nothing and are not checked; inner cells always count (an empty cell tells a zero)."""
        mask = np.ones(self.shape, dtype=bool)
        if self.value is not None:
            mask &= ~(self.margin_mask() & np.isnan(self.value))
            # Cells blanked by an accepted suppression suggestion publish nothing either.
            for i, j in self.extra.get("suppressed", []):
                if np.isnan(self.value[i, j]):
                    mask[i, j] = False
        return mask

    def structural_mask(self) -> np.ndarray:
        mask = np.zeros(self.shape, dtype=bool)
        if not self.structural_zeros:
            return mask
        row_pos = {_label_key(r): i for i, r in enumerate(self.rows)}
        col_pos = {_label_key(c): j for j, c in enumerate(self.cols)}
        for row, col in self.structural_zeros:
            i = row_pos.get(_label_key(_as_tuple(row)))
            j = col_pos.get(_label_key(_as_tuple(col)))
            if i is not None and j is not None:
                mask[i, j] = True
        return mask

    def cell_labels(self, i: int, j: int) -> list[list[Any]]:
        return [_json_labels(self.rows[i]), _json_labels(self.cols[j])]

    def to_json(self) -> dict[str, Any]:
        cells: dict[str, Any] = {"n": _grid_to_json(self.n, integer=True)}
        if self.value is not None:
            cells["value"] = _grid_to_json(self.value)
        for name in ("n_missing", "negatives"):
            array = getattr(self, name)
            if array is not None:
                cells[name] = _grid_to_json(array, integer=True)
        for name in ("sum", "min", "max", "largest"):
            array = getattr(self, name)
            if array is not None:
                cells[name] = _grid_to_json(array)
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "kind": self.kind,
            "sha256": self.sha256,
            "statistic": self.statistic,
            "statbarn": self.statbarn,
            "row_names": _json_labels(self.row_names),
            "col_names": _json_labels(self.col_names),
            "rows": [_json_labels(r) for r in self.rows],
            "cols": [_json_labels(c) for c in self.cols],
            "margin_rows": list(self.margin_rows),
            "margin_cols": list(self.margin_cols),
            "top_k": self.top_k,
            "cells": cells,
            "structural_zeros": [
                [_json_labels(_as_tuple(r)), _json_labels(_as_tuple(c))]
                for r, c in self.structural_zeros
            ],
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TableEvidence:
        cells = data.get("cells")
        if not isinstance(cells, dict) or "n" not in cells:
            raise ValueError("table evidence needs cells.n")
        rows = [tuple(r) for r in data.get("rows", [])]
        cols = [tuple(c) for c in data.get("cols", [])]
        shape = (len(rows), len(cols))

        def grid(name: str, dtype: Any = float, depth: int = 2) -> np.ndarray | None:
            raw = cells.get(name)
            if raw is None:
                return None
            array = np.array(_nulls_to_nan(raw), dtype=float)
            if array.shape[:2] != shape or array.ndim != depth:
                if depth == 3 and array.size == 0 and shape[0] * shape[1] == 0:
                    return array.reshape((*shape, 0))
                raise ValueError(f"evidence cells.{name} has shape {array.shape}, not {shape}")
            return array.astype(dtype) if dtype is not float else array

        n = grid("n")
        assert n is not None
        if np.isnan(n).any():
            raise ValueError("evidence cells.n must not hold nulls")
        known = {
            "schema",
            "kind",
            "sha256",
            "statistic",
            "statbarn",
            "row_names",
            "col_names",
            "rows",
            "cols",
            "margin_rows",
            "margin_cols",
            "top_k",
            "cells",
            "structural_zeros",
        }
        return cls(
            statistic=str(data.get("statistic") or "count"),
            row_names=list(data.get("row_names", [])),
            col_names=list(data.get("col_names", [])),
            rows=rows,
            cols=cols,
            n=n.astype(np.int64),
            value=grid("value"),
            n_missing=_maybe_int(grid("n_missing")),
            sum=grid("sum"),
            negatives=_maybe_int(grid("negatives")),
            min=grid("min"),
            max=grid("max"),
            largest=grid("largest", depth=3),
            margin_rows=[int(i) for i in data.get("margin_rows", [])],
            margin_cols=[int(j) for j in data.get("margin_cols", [])],
            top_k=int(data.get("top_k") or 0),
            kind=str(data.get("kind") or "table"),
            statbarn=data.get("statbarn"),
            sha256=data.get("sha256"),
            structural_zeros=[
                (tuple(pair[0]), tuple(pair[1])) for pair in data.get("structural_zeros", [])
            ],
            extra={k: v for k, v in data.items() if k not in known},
        )


def evidence_to_json(evidence: TableEvidence | dict[str, Any]) -> dict[str, Any]:
    if isinstance(evidence, TableEvidence):
        return evidence.to_json()
    return dict(evidence)


def evidence_from_json(data: dict[str, Any]) -> TableEvidence | dict[str, Any]:
    """Table-shaped evidence becomes a TableEvidence; other kinds stay plain dicts."""
    if isinstance(data, dict) and isinstance(data.get("cells"), dict):
        return TableEvidence.from_json(data)
    return dict(data)


# --------------------------------------------------------------------------------------
# Computing evidence from raw data


@dataclasses.dataclass
class _Grid:
    """Facts per combination of observed key values, on the dense product grid."""

    row_index: pd.MultiIndex
    col_index: pd.MultiIndex
    n: np.ndarray  # (R, C)
    n_missing: np.ndarray | None = None
    sum: np.ndarray | None = None
    negatives: np.ndarray | None = None
    min: np.ndarray | None = None
    max: np.ndarray | None = None
    largest: np.ndarray | None = None  # (R, C, K)
    row_uniques: list[Any] = dataclasses.field(default_factory=list)
    col_uniques: list[Any] = dataclasses.field(default_factory=list)
    # Per cell: all values whole numbers / whole multiples of 2**-24, and the sum of sizes.
    integral: np.ndarray | None = None
    dyadic: np.ndarray | None = None
    size: np.ndarray | None = None


def _factorize(keys: Sequence[Any]) -> tuple[list[np.ndarray], list[Any]]:
    """Codes per key; uniques sorted as pandas sorts group labels (missing last)."""
    codes, uniques = [], []
    for key in keys:
        series = key if isinstance(key, pd.Series) else pd.Series(key)
        try:
            c, u = pd.factorize(series, sort=True, use_na_sentinel=False)
        except TypeError:  # labels of mixed types cannot be sorted: keep first-seen order
            c, u = pd.factorize(series, use_na_sentinel=False)
        codes.append(np.asarray(c, dtype=np.int64))
        uniques.append(u)
    return codes, uniques


def _combined(codes: list[np.ndarray], sizes: list[int], nrows: int) -> np.ndarray:
    if not codes:
        return np.zeros(nrows, dtype=np.int64)
    out = codes[0].copy()
    for c, size in zip(codes[1:], sizes[1:], strict=True):
        out *= size
        out += c
    return out


def _top_k(code: np.ndarray, v: np.ndarray, ncells: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k largest values of every cell (NaN-padded, descending) and each cell's minimum.

    Sorting every record is the expensive part, so first find candidates: split the records
    into k interleaved chunks and take each chunk's maximum per cell. Those are k distinct
    records of the cell, so the cell's k-th largest value is at least their minimum, and
    only records reaching that bound need sorting (when a chunk misses the cell, all of the
    cell's records stay candidates).
    """
    if len(v) > 64 * k * max(ncells, 1) ** 0.5:
        chunk_max = np.full((k, ncells), -np.inf)
        for c in range(k):
            np.maximum.at(chunk_max[c], code[c::k], v[c::k])
        bound = chunk_max.min(axis=0)
        keep = np.flatnonzero(v >= bound[code])
        cand_code, cand_v = code[keep], v[keep]
    else:
        cand_code, cand_v = code, v
    order = np.lexsort((-cand_v, cand_code))
    ordered = cand_v[order]
    counts = np.bincount(cand_code, minlength=ncells)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ks = np.arange(k)
    present = ks[None, :] < counts[:, None]
    if len(ordered):
        take = np.minimum(starts[:, None] + ks[None, :], len(ordered) - 1)
        largest = np.where(present, ordered[take], np.nan)
    else:
        largest = np.full((ncells, k), np.nan)
    minimum = np.full(ncells, np.inf)
    np.minimum.at(minimum, code, v)
    minimum[~np.isfinite(minimum)] = np.nan
    return largest, minimum


def _grid(
    row_keys: Sequence[Any],
    col_keys: Sequence[Any],
    values: Any,
    top_k: int,
    row_names: list[Any],
    col_names: list[Any],
) -> _Grid:
    nrecords = len(row_keys[0]) if row_keys else len(col_keys[0])
    rcodes, runiq = _factorize(row_keys)
    ccodes, cuniq = _factorize(col_keys)
    rsizes = [len(u) for u in runiq]
    csizes = [len(u) for u in cuniq]
    nr = int(np.prod(rsizes)) if rsizes else 1
    nc = int(np.prod(csizes)) if csizes else 1
    if nr * nc > MAX_GRID_CELLS:
        raise ValueError(f"table has {nr * nc} key combinations: too many for evidence")
    code = _combined(rcodes, rsizes, nrecords) * nc + _combined(ccodes, csizes, nrecords)
    ncells = nr * nc
    n = np.bincount(code, minlength=ncells)
    grid = _Grid(
        row_index=_index(runiq, row_names),
        col_index=_index(cuniq, col_names),
        n=n.reshape(nr, nc),
        row_uniques=runiq,
        col_uniques=cuniq,
    )
    if values is None:
        return grid
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] != nrecords:
        raise ValueError("values and keys have different lengths")
    missing = np.isnan(v)
    if missing.any():
        grid.n_missing = np.bincount(code[missing], minlength=ncells).reshape(nr, nc)
        code = code[~missing]
        v = v[~missing]
    else:
        grid.n_missing = np.zeros((nr, nc), dtype=np.int64)
    grid.sum = np.bincount(code, weights=v, minlength=ncells).reshape(nr, nc)
    grid.size = np.bincount(code, weights=np.abs(v), minlength=ncells).reshape(nr, nc)
    grid.integral = (
        np.bincount(code, weights=v != np.round(v), minlength=ncells).reshape(nr, nc) == 0
    )
    scaled = v * _DYADIC
    grid.dyadic = (
        np.bincount(code, weights=scaled != np.round(scaled), minlength=ncells).reshape(nr, nc) == 0
    )
    grid.negatives = np.bincount(code[v < 0], minlength=ncells).reshape(nr, nc)
    largest, minimum = _top_k(code, v, ncells, top_k)
    grid.largest = largest.reshape(nr, nc, top_k)
    grid.max = largest[:, 0].reshape(nr, nc)
    grid.min = minimum.reshape(nr, nc)
    return grid


_DYADIC = 2.0**24


def _exact(integral: Any, dyadic: Any, size: Any) -> Any:
    """Whether a sum of values is exact in float64 in any order: all are whole numbers (or
    whole multiples of 2**-24) and their sizes add up below 2**53 (in those units)."""
    return (integral & (size < 2.0**53)) | (dyadic & (size * _DYADIC < 2.0**53))


def _index(uniques: list[Any], names: list[Any]) -> pd.MultiIndex:
    if not uniques:
        return pd.MultiIndex.from_arrays([[""]], names=["__none__"])
    return pd.MultiIndex.from_product(
        [pd.Index(np.asarray(u, dtype=object), dtype=object) for u in uniques], names=names
    )


def _merge_largest(stack: np.ndarray, axis: int, k: int) -> np.ndarray:
    """Top-k of the union of cells along ``axis`` from each cell's own top-k."""
    moved = np.moveaxis(stack, axis, -2)
    flat = moved.reshape(*moved.shape[:-2], moved.shape[-2] * moved.shape[-1])
    # Sorting the negation ascending puts the largest first and NaN (absent) last.
    top = -np.sort(-flat, axis=-1)[..., :k]
    if top.shape[-1] < k:
        pad = np.full((*top.shape[:-1], k - top.shape[-1]), np.nan)
        top = np.concatenate([top, pad], axis=-1)
    return top


def _aggregate(
    grid: _Grid, rsel: np.ndarray | slice, csel: np.ndarray | slice, k: int
) -> dict[str, Any]:
    """Facts of the union of grid cells rsel x csel (used for margins)."""
    out: dict[str, Any] = {"n": grid.n[rsel][:, csel].sum()}
    if grid.sum is None:
        return out
    out["n_missing"] = grid.n_missing[rsel][:, csel].sum()
    out["sum"] = grid.sum[rsel][:, csel].sum()
    out["negatives"] = grid.negatives[rsel][:, csel].sum()
    mins = grid.min[rsel][:, csel]
    maxs = grid.max[rsel][:, csel]
    out["min"] = np.nanmin(mins) if np.isfinite(mins).any() else np.nan
    out["max"] = np.nanmax(maxs) if np.isfinite(maxs).any() else np.nan
    block = grid.largest[rsel][:, csel, :]
    out["largest"] = (
        _merge_largest(block.reshape(1, -1, k), 1, k)[0] if block.size else (np.full(k, np.nan))
    )
    return out


def _as_tuple(label: Any) -> tuple[Any, ...]:
    if isinstance(label, tuple):
        return label
    if isinstance(label, list):
        return tuple(label)
    return (label,)


def _is_margin(label: tuple[Any, ...], margins_name: Any) -> bool:
    return len(label) > 0 and label[0] == margins_name and all(x == "" for x in label[1:])


def _label_key(label: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(None if _isnan(x) else x for x in label)


def _isnan(x: Any) -> bool:
    try:
        return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))
    except TypeError:
        return False


def table_evidence(
    table: pd.DataFrame,
    row_keys: Sequence[Any],
    col_keys: Sequence[Any],
    values: Any = None,
    *,
    statistic: str,
    top_k: int = 5,
    margins_name: Any = "All",
    row_names: list[Any] | None = None,
    col_names: list[Any] | None = None,
    statbarn: str | None = None,
) -> TableEvidence:
    """Evidence for ``table``, a crosstab/pivot of ``values`` by row and column keys.

    ``row_keys``/``col_keys`` are the grouping arrays (one per level), ``values`` the
    aggregated variable (None for a frequency table). Missing keys form their own group,
    as in ``pandas.crosstab(..., dropna=False)``; margins are aggregated over every record
    of the line, whatever the table shows.
    """
    row_names, col_names = _names(row_keys, col_keys, row_names, col_names)
    grid = _grid(row_keys, col_keys, values, top_k, row_names, col_names)
    return _align(
        table,
        grid,
        len(col_keys),
        values is not None,
        statistic=statistic,
        top_k=top_k,
        margins_name=margins_name,
        statbarn=statbarn,
    )


def _names(
    row_keys: Sequence[Any],
    col_keys: Sequence[Any],
    row_names: list[Any] | None,
    col_names: list[Any] | None,
) -> tuple[list[Any], list[Any]]:
    if not row_keys and not col_keys:
        raise ValueError("a table needs at least one key")
    rows = (
        list(row_names) if row_names is not None else [getattr(k, "name", None) for k in row_keys]
    )
    cols = (
        list(col_names) if col_names is not None else [getattr(k, "name", None) for k in col_keys]
    )
    return rows, cols


def _align(
    table: pd.DataFrame,
    grid: _Grid,
    nck: int,
    has_values: bool,
    *,
    statistic: str,
    top_k: int,
    margins_name: Any,
    statbarn: str | None,
) -> TableEvidence:
    """Evidence cells in the table's own order, margins aggregated from the grid."""
    values = True if has_values else None
    row_names = list(grid.row_index.names) if grid.row_uniques else []
    col_names = list(grid.col_index.names) if grid.col_uniques else []
    rows = [_as_tuple(r) for r in table.index]
    cols_full = [_as_tuple(c) for c in table.columns]
    cols_match = [c[len(c) - nck :] if nck else () for c in cols_full]
    margin_rows = [i for i, r in enumerate(rows) if _is_margin(r, margins_name)]
    margin_cols = [j for j, c in enumerate(cols_match) if nck and _is_margin(c, margins_name)]
    ri = grid.row_index.get_indexer(pd.MultiIndex.from_tuples(rows)) if rows else np.array([])
    if nck:
        ci = grid.col_index.get_indexer(pd.MultiIndex.from_tuples(cols_match))
    else:
        ci = np.zeros(len(cols_full), dtype=np.int64)
    ri = np.asarray(ri, dtype=np.int64)
    ci = np.asarray(ci, dtype=np.int64)
    for i in margin_rows:
        ri[i] = -2
    for j in margin_cols:
        ci[j] = -2

    shape = (len(rows), len(cols_full))
    k = top_k
    ev = TableEvidence(
        statistic=statistic,
        row_names=row_names,
        col_names=col_names,
        rows=rows,
        cols=cols_full,
        n=np.zeros(shape, dtype=np.int64),
        margin_rows=margin_rows,
        margin_cols=margin_cols,
        top_k=k if values is not None else 0,
        statbarn=statbarn,
    )
    if values is not None:
        ev.n_missing = np.zeros(shape, dtype=np.int64)
        ev.sum = np.zeros(shape)
        ev.negatives = np.zeros(shape, dtype=np.int64)
        ev.min = np.full(shape, np.nan)
        ev.max = np.full(shape, np.nan)
        ev.largest = np.full((*shape, k), np.nan)

    # Inner cells: one vectorised gather from the grid.
    inner_r = np.where(ri >= 0)[0]
    inner_c = np.where(ci >= 0)[0]
    if len(inner_r) and len(inner_c):
        gr = ri[inner_r][:, None]
        gc = ci[inner_c][None, :]
        sel = np.ix_(inner_r, inner_c)
        ev.n[sel] = grid.n[gr, gc]
        if values is not None:
            ev.n_missing[sel] = grid.n_missing[gr, gc]
            ev.sum[sel] = grid.sum[gr, gc]
            ev.negatives[sel] = grid.negatives[gr, gc]
            ev.min[sel] = grid.min[gr, gc]
            ev.max[sel] = grid.max[gr, gc]
            ev.largest[sel] = grid.largest[gr, gc]

    # Margins: aggregate over every record of the line (all observed key values).
    all_r = slice(None)
    all_c = slice(None)
    for i in range(shape[0]):
        for j in range(shape[1]):
            if ri[i] >= 0 and ci[j] >= 0:
                continue
            if ri[i] == -1 or ci[j] == -1:
                continue  # a label absent from the data: an empty cell
            rsel = all_r if ri[i] == -2 else np.array([ri[i]])
            csel = all_c if ci[j] == -2 else np.array([ci[j]])
            agg = _aggregate(grid, rsel, csel, k)
            ev.n[i, j] = agg["n"]
            if values is not None:
                for name in ("n_missing", "sum", "negatives", "min", "max"):
                    getattr(ev, name)[i, j] = agg[name]
                ev.largest[i, j] = agg["largest"]

    ev.value = _table_values(table)
    if grid.size is not None:
        ev.extra["exact_sums"] = _exact_cells(grid, ri, ci, shape).tolist()
    return ev


def _exact_cells(grid: _Grid, ri: np.ndarray, ci: np.ndarray, shape: tuple[int, int]) -> Any:
    """Per published cell: is its sum exact in any order (margins: over the whole line)."""
    assert grid.integral is not None and grid.dyadic is not None and grid.size is not None
    out = np.zeros(shape, dtype=bool)
    for i in range(shape[0]):
        for j in range(shape[1]):
            if ri[i] == -1 or ci[j] == -1:
                out[i, j] = True  # no records: the sum is 0
                continue
            rsel = slice(None) if ri[i] == -2 else slice(ri[i], ri[i] + 1)
            csel = slice(None) if ci[j] == -2 else slice(ci[j], ci[j] + 1)
            out[i, j] = bool(
                _exact(
                    grid.integral[rsel, csel].all(),
                    grid.dyadic[rsel, csel].all(),
                    grid.size[rsel, csel].sum(),
                )
            )
    return out


def _table_values(table: pd.DataFrame) -> np.ndarray | None:
    try:
        return table.to_numpy(dtype=float)
    except (TypeError, ValueError):
        try:
            return table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        except (TypeError, ValueError):
            return None


def counts_from_table(table: pd.DataFrame) -> TableEvidence | None:
    """A published frequency table read as its own counts (numeric columns only), or None
    when its numbers are not non-negative whole counts."""
    numeric = table.select_dtypes("number")
    if numeric.empty:
        return None
    values = numeric.to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    if (finite < 0).any() or not np.allclose(finite, np.round(finite)):
        return None
    return TableEvidence(
        statistic="count",
        row_names=list(numeric.index.names),
        col_names=list(numeric.columns.names),
        rows=[_as_tuple(r) for r in numeric.index],
        cols=[_as_tuple(c) for c in numeric.columns],
        n=np.nan_to_num(values, nan=0).astype(np.int64),
        value=values,
        statbarn="Frequencies",
    )


_FAST_STATISTICS = ("count", "mean")


def crosstab_with_evidence(
    row_keys: Sequence[Any],
    col_keys: Sequence[Any],
    values: Any,
    *,
    statistic: str,
    top_k: int = 5,
    row_names: list[Any] | None = None,
    col_names: list[Any] | None = None,
    statbarn: str | None = None,
) -> tuple[pd.DataFrame, TableEvidence] | None:
    """A frequency or mean crosstab built from the same grouped pass as its evidence.

    Returns None when pandas must build the table (other statistics, categorical keys,
    missing keys, labels that do not sort): the result is then identical to
    ``pandas.crosstab(..., dropna=False)`` but costs one pass over the data, not two.
    """
    if statistic not in _FAST_STATISTICS or (statistic == "count") != (values is None):
        return None
    if not row_keys or not col_keys:
        return None
    for key in (*row_keys, *col_keys):
        if isinstance(getattr(key, "dtype", None), pd.CategoricalDtype):
            return None
    row_names, col_names = _names(row_keys, col_keys, row_names, col_names)
    grid = _grid(row_keys, col_keys, values, top_k, row_names, col_names)
    for uniques in (*grid.row_uniques, *grid.col_uniques):
        u = pd.Index(uniques)
        if u.hasnans or not (u.is_monotonic_increasing and u.is_unique):
            return None
    index = _label_index(grid.row_uniques, row_names)
    columns = _label_index(grid.col_uniques, col_names)
    if values is None:
        data = grid.n
    else:
        counts = grid.n - grid.n_missing
        with np.errstate(divide="ignore", invalid="ignore"):
            data = np.where(counts > 0, grid.sum / counts, np.nan)
    table = pd.DataFrame(data, index=index, columns=columns)
    evidence = _align(
        table,
        grid,
        len(col_keys),
        values is not None,
        statistic=statistic,
        top_k=top_k,
        margins_name=None,
        statbarn=statbarn,
    )
    return table, evidence


def _label_index(uniques: list[Any], names: list[Any]) -> pd.Index:
    if len(uniques) == 1:
        return pd.Index(uniques[0], name=names[0])
    return pd.MultiIndex.from_product([pd.Index(u) for u in uniques], names=names)


# --------------------------------------------------------------------------------------
# JSON helpers


def json_label(x: Any) -> Any:
    if _isnan(x):
        return None
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, bool | int | str):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, pd.Timestamp | pd.Timedelta | pd.Period | pd.Interval):
        return str(x)
    return str(x)


def _json_labels(labels: Sequence[Any]) -> list[Any]:
    return [json_label(x) for x in labels]


def _grid_to_json(array: np.ndarray, integer: bool = False) -> list[Any]:
    if integer:
        return np.asarray(array, dtype=np.int64).tolist()
    out = np.asarray(array, dtype=object)
    out[~np.isfinite(np.asarray(array, dtype=float))] = None
    return out.tolist()


def _nulls_to_nan(raw: Any) -> Any:
    if raw is None:
        return np.nan
    if isinstance(raw, list):
        return [_nulls_to_nan(x) for x in raw]
    return raw


def _maybe_int(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    return np.nan_to_num(array, nan=0).astype(np.int64)


def model_evidence(
    *,
    model: str,
    nobs: float,
    df_resid: float,
    df_model: float | None = None,
    params: list[str] | None = None,
    statbarn: str = "CorrelationCoefficients",
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "model",
        "sha256": None,
        "statistic": "model",
        "statbarn": statbarn,
        "model": model,
        "nobs": float(nobs),
        "df_resid": float(df_resid),
        "df_model": None if df_model is None else float(df_model),
        "params": list(params or []),
    }


def survival_evidence(
    *,
    times: Sequence[float],
    at_risk: Sequence[float],
    events: Sequence[float],
    censored: Sequence[float],
    nobs: int,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": "survival",
        "sha256": None,
        "statistic": "survival",
        "statbarn": "HazardSurvivalTables",
        "times": [json_label(t) for t in times],
        "at_risk": [int(x) for x in at_risk],
        "events": [int(x) for x in events],
        "censored": [int(x) for x in censored],
        "nobs": int(nobs),
    }
