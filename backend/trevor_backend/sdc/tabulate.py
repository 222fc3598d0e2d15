"""Computing evidence at source from the raw records: one grouped pass (``table_evidence``)
gives each published cell its count, sum, missing values, sign and largest contributions; the
result is a :class:`~trevor_backend.sdc.evidence.TableEvidence`, whose JSON form is
``evidence.py``'s. The raw data never leaves the workspace; only these aggregates do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .evidence import TableEvidence, _as_tuple

# Cells of the dense (row keys x column keys) grid we are willing to materialise.
MAX_GRID_CELLS = 20_000_000


def _is_margin(label: tuple[Any, ...], margins_name: Any) -> bool:
    return len(label) > 0 and label[0] == margins_name and all(x == "" for x in label[1:])


@dataclasses.dataclass
class _Magnitudes:
    """Per-cell facts of the aggregated variable: (R, C) arrays, ``largest`` (R, C, K)."""

    n_missing: np.ndarray
    sum: np.ndarray
    negatives: np.ndarray
    min: np.ndarray
    max: np.ndarray
    largest: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int], k: int) -> _Magnitudes:
        return cls(
            n_missing=np.zeros(shape, dtype=np.int64),
            sum=np.zeros(shape),
            negatives=np.zeros(shape, dtype=np.int64),
            min=np.full(shape, np.nan),
            max=np.full(shape, np.nan),
            largest=np.full((*shape, k), np.nan),
        )


@dataclasses.dataclass
class _Exactness:
    """Per cell: all values whole numbers / whole multiples of 2**-24, and the sum of sizes."""

    integral: np.ndarray
    dyadic: np.ndarray
    size: np.ndarray


@dataclasses.dataclass
class _Grid:
    """Facts per combination of observed key values, on the dense product grid; ``values``
    and ``exactness`` only when the table aggregates a variable."""

    row_index: pd.MultiIndex
    col_index: pd.MultiIndex
    n: np.ndarray  # (R, C)
    values: _Magnitudes | None = None
    exactness: _Exactness | None = None
    row_uniques: list[Any] = dataclasses.field(default_factory=list)
    col_uniques: list[Any] = dataclasses.field(default_factory=list)


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
        n_missing = np.bincount(code[missing], minlength=ncells).reshape(nr, nc)
        code = code[~missing]
        v = v[~missing]
    else:
        n_missing = np.zeros((nr, nc), dtype=np.int64)
    scaled = v * _DYADIC
    grid.exactness = _Exactness(
        integral=np.bincount(code, weights=v != np.round(v), minlength=ncells).reshape(nr, nc) == 0,
        dyadic=np.bincount(code, weights=scaled != np.round(scaled), minlength=ncells).reshape(
            nr, nc
        )
        == 0,
        size=np.bincount(code, weights=np.abs(v), minlength=ncells).reshape(nr, nc),
    )
    largest, minimum = _top_k(code, v, ncells, top_k)
    grid.values = _Magnitudes(
        n_missing=n_missing,
        sum=np.bincount(code, weights=v, minlength=ncells).reshape(nr, nc),
        negatives=np.bincount(code[v < 0], minlength=ncells).reshape(nr, nc),
        min=minimum.reshape(nr, nc),
        max=largest[:, 0].reshape(nr, nc),
        largest=largest.reshape(nr, nc, top_k),
    )
    return grid


_DYADIC = 2.0**24
_MAGNITUDES = ("n_missing", "sum", "negatives", "min", "max", "largest")


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
    m = grid.values
    if m is None:
        return out
    out["n_missing"] = m.n_missing[rsel][:, csel].sum()
    out["sum"] = m.sum[rsel][:, csel].sum()
    out["negatives"] = m.negatives[rsel][:, csel].sum()
    mins = m.min[rsel][:, csel]
    maxs = m.max[rsel][:, csel]
    out["min"] = np.nanmin(mins) if np.isfinite(mins).any() else np.nan
    out["max"] = np.nanmax(maxs) if np.isfinite(maxs).any() else np.nan
    block = m.largest[rsel][:, csel, :]
    out["largest"] = (
        _merge_largest(block.reshape(1, -1, k), 1, k)[0] if block.size else (np.full(k, np.nan))
    )
    return out


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
    # Filled here, then handed to the evidence (whose fields are each optional).
    mag = _Magnitudes.empty(shape, k) if values is not None else None

    # Inner cells: one vectorised gather from the grid.
    inner_r = np.where(ri >= 0)[0]
    inner_c = np.where(ci >= 0)[0]
    if len(inner_r) and len(inner_c):
        gr = ri[inner_r][:, None]
        gc = ci[inner_c][None, :]
        sel = np.ix_(inner_r, inner_c)
        ev.n[sel] = grid.n[gr, gc]
        if mag is not None and grid.values is not None:
            for name in _MAGNITUDES:
                getattr(mag, name)[sel] = getattr(grid.values, name)[gr, gc]

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
            if mag is not None:
                for name in _MAGNITUDES:
                    getattr(mag, name)[i, j] = agg[name]

    if mag is not None:
        for name in _MAGNITUDES:
            setattr(ev, name, getattr(mag, name))
    ev.value = _table_values(table)
    if grid.exactness is not None:
        ev.extra["exact_sums"] = _exact_cells(grid, ri, ci, shape).tolist()
    return ev


def _exact_cells(grid: _Grid, ri: np.ndarray, ci: np.ndarray, shape: tuple[int, int]) -> Any:
    """Per published cell: is its sum exact in any order (margins: over the whole line)."""
    x = grid.exactness
    assert x is not None
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
                    x.integral[rsel, csel].all(),
                    x.dyadic[rsel, csel].all(),
                    x.size[rsel, csel].sum(),
                )
            )
    return out


def _table_values(table: pd.DataFrame) -> np.ndarray | None:
    values: np.ndarray
    try:
        values = table.to_numpy(dtype=float)
    except (TypeError, ValueError):
        try:
            values = table.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        except (TypeError, ValueError):
            return None
    return values


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
        assert grid.values is not None  # values were given, so the grid aggregated them
        counts = grid.n - grid.values.n_missing
        with np.errstate(divide="ignore", invalid="ignore"):
            data = np.where(counts > 0, grid.values.sum / counts, np.nan)
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
