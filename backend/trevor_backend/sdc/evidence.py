"""Evidence at source: the per-cell facts a checker needs (:class:`TableEvidence`) and their
JSON form.

The kernel computes evidence in one grouped pass over the records (``tabulate.table_evidence``)
and stores it, as JSON, next to the output it describes. The raw data never leaves the workspace;
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
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

SCHEMA = "trevor.evidence/1"


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
        n_values: np.ndarray = self.n - self.n_missing
        return n_values

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

    def exact_sums(self) -> np.ndarray | None:
        """Per cell, whether its sum is exact in any order (``exact_sums`` recorded at source),
        when what was recorded has the table's shape."""
        recorded = self.extra.get("exact_sums")
        if not isinstance(recorded, list):
            return None
        exact = np.asarray(recorded, dtype=bool)
        return exact if exact.shape == self.shape else None

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


def _as_tuple(label: Any) -> tuple[Any, ...]:
    if isinstance(label, tuple):
        return label
    if isinstance(label, list):
        return tuple(label)
    return (label,)


def _label_key(label: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(None if _isnan(x) else x for x in label)


def _isnan(x: Any) -> bool:
    try:
        return x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and math.isnan(x))
    except TypeError:
        return False


# --- labels and grids in JSON -------------------------------------------------------------


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
    cells: list[Any]
    if integer:
        cells = np.asarray(array, dtype=np.int64).tolist()
        return cells
    out = np.asarray(array, dtype=object)
    out[~np.isfinite(np.asarray(array, dtype=float))] = None
    cells = out.tolist()
    return cells


def _nulls_to_nan(raw: Any) -> Any:
    if raw is None:
        return np.nan
    if isinstance(raw, list):
        return [_nulls_to_nan(x) for x in raw]
    return raw


def _maybe_int(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    counts: np.ndarray = np.nan_to_num(array, nan=0).astype(np.int64)
    return counts


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
    times: Iterable[float],
    at_risk: Iterable[float],
    events: Iterable[float],
    censored: Iterable[float],
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
