"""Tables of several statistics: ``pivot_table(aggfunc=[...])``, several values columns.

pandas puts each (statistic, values column) side by side under a column prefix. The
evidence of such a table is one ``TableEvidence`` whose ``blocks`` list says which columns
hold which statistic; each block is checked with the rules of its own statistic, and a cell
that fails in any block is suppressed in every block (the same group of records stands
behind it), each block's pattern audited against that block's totals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import checks
from .checks import FAIL, Finding, worst
from .evidence import TableEvidence
from .params import Params
from .suppression import ADVICE, Unprotectable, attacker_view, audit_pattern, plan, suggestion_json

_ARRAYS = ("n", "value", "n_missing", "sum", "negatives", "min", "max", "largest")


def combine(
    statistic_label: str,
    rows: list[tuple[Any, ...]],
    cols: list[tuple[Any, ...]],
    parts: list[tuple[list[int], TableEvidence, str]],
    key_levels: int,
) -> TableEvidence:
    """One evidence for the whole table from each block's (column positions, evidence,
    label such as "mean of income"); ``key_levels``: how many trailing column levels are
    the column keys (the rest is the statistic's prefix)."""
    shape = (len(rows), len(cols))
    first = parts[0][1]
    out = TableEvidence(
        statistic=statistic_label,
        row_names=first.row_names,
        col_names=first.col_names,
        rows=rows,
        cols=cols,
        n=np.zeros(shape, dtype=np.int64),
        margin_rows=list(first.margin_rows),
        top_k=max(ev.top_k for _, ev, _ in parts),
    )
    k = out.top_k
    for name in _ARRAYS[1:]:
        if all(getattr(ev, name) is not None for _, ev, _ in parts):
            fill: Any = np.nan
            dtype: Any = float
            if name in ("n_missing", "negatives"):
                fill, dtype = 0, np.int64
            full_shape = (*shape, k) if name == "largest" else shape
            setattr(out, name, np.full(full_shape, fill, dtype=dtype))
    blocks = []
    for positions, ev, label in parts:
        for name in _ARRAYS:
            target = getattr(out, name)
            source = getattr(ev, name)
            if target is None or source is None:
                continue
            if name == "largest":
                target[:, positions, : source.shape[2]] = source
            else:
                target[:, positions] = source
        out.margin_cols += [positions[j] for j in ev.margin_cols]
        blocks.append(
            {
                "label": label,
                "statistic": ev.statistic,
                "statbarn": ev.statbarn,
                "columns": list(positions),
                "key_levels": key_levels,
            }
        )
    out.margin_cols.sort()
    out.extra["blocks"] = blocks
    exact = np.zeros(shape, dtype=bool)
    for positions, ev, _ in parts:
        recorded = ev.exact_sums()
        if recorded is not None:
            exact[:, positions] = recorded
    out.extra["exact_sums"] = exact.tolist()
    return out


def block(ev: TableEvidence, spec: dict[str, Any]) -> TableEvidence:
    """The evidence of one block, as if it were a table of its own."""
    positions = list(spec["columns"])
    sub = TableEvidence(
        statistic=spec["statistic"],
        row_names=ev.row_names,
        col_names=ev.col_names,
        rows=ev.rows,
        cols=[ev.cols[j] for j in positions],
        n=ev.n[:, positions],
        margin_rows=list(ev.margin_rows),
        margin_cols=[k for k, j in enumerate(positions) if j in ev.margin_cols],
        top_k=ev.top_k,
        statbarn=spec.get("statbarn"),
        structural_zeros=ev.structural_zeros,
    )
    for name in _ARRAYS[1:]:
        array = getattr(ev, name)
        if array is not None:
            setattr(sub, name, array[:, positions])
    if ev.extra.get("normalize"):
        sub.extra["normalize"] = ev.extra["normalize"]
    recorded = ev.exact_sums()
    if recorded is not None:
        sub.extra["exact_sums"] = recorded[:, positions].tolist()
    suppressed = [
        [i, positions.index(j)] for i, j in ev.extra.get("suppressed", []) if j in positions
    ]
    if suppressed:
        sub.extra["suppressed"] = suppressed
    return sub


def _key(ev: TableEvidence, j: int, depth: int) -> tuple[Any, ...]:
    """A column's labels without its statistic prefix: the group of records behind it."""
    return tuple(ev.cols[j][len(ev.cols[j]) - depth :]) if depth else ()


def check_blocks(
    ev: TableEvidence,
    params: Params,
    check: Callable[..., Any],
) -> tuple[str, list[Finding], dict[str, Any] | None, list[str]]:
    """(status, findings, suppression, notes) of a several-statistics table."""
    specs = ev.extra["blocks"]
    depth = int(specs[0].get("key_levels", 0))
    findings: list[Finding] = []
    failing: set[tuple[int, tuple[Any, ...]]] = set()
    subs = []
    for spec in specs:
        sub = block(ev, spec)
        subs.append(sub)
        report = check(
            statbarn=spec.get("statbarn"),
            table=None,
            evidence=sub,
            params=params,
            offer_suppression=False,
        )
        for f in report.findings:
            positions = [[i, spec["columns"][j]] for i, j in f.positions]
            f.positions = positions
            f.cells = [ev.cell_labels(i, j) for i, j in positions]
            f.message = f"{spec['label']}: {f.message}"
            findings.append(f)
            if f.status == FAIL and f.rule in checks.SUPPRESSIBLE:
                failing |= {(i, _key(ev, j, depth)) for i, j in positions}
    status = worst([f.status for f in findings])
    notes = ["each statistic of the table is checked with its own rules (blocks)"]
    if status != FAIL or not failing:
        return status, findings, None, notes
    primary_full = np.zeros(ev.shape, dtype=bool)
    for j in range(ev.shape[1]):
        key = _key(ev, j, depth)
        for i in range(ev.shape[0]):
            if (i, key) in failing:
                primary_full[i, j] = True
    try:
        pattern = primary_full.copy()
        # Secondary cells of every block, then the union blanked in every block.
        for spec, sub in zip(specs, subs, strict=True):
            cols = spec["columns"]
            chosen, _ = plan(sub, primary_full[:, cols], params)
            pattern[:, cols] |= chosen
        keys = {(i, _key(ev, j, depth)) for i, j in np.argwhere(pattern)}
        for j in range(ev.shape[1]):
            key = _key(ev, j, depth)
            for i in range(ev.shape[0]):
                if (i, key) in keys:
                    pattern[i, j] = True
        intervals = []
        for spec, sub in zip(specs, subs, strict=True):
            cols = spec["columns"]
            audited = audit_pattern(sub, pattern[:, cols], primary_full[:, cols], params)
            for entry in attacker_view(audited, primary_full[:, cols]):
                i, j = entry["position"]
                entry["position"] = [i, cols[j]]
                entry["block"] = spec["label"]
                intervals.append(entry)
    except Unprotectable as exc:
        findings.append(
            Finding(
                rule="suppression",
                status=FAIL,
                message="no suppression of this table passes the attacker's audit ("
                + "; ".join(exc.why[:3])
                + f"): {ADVICE}",
            )
        )
        return status, findings, None, notes
    kinds = sorted({s["statistic"] for s in specs})
    suggestion = suggestion_json(ev, pattern, primary_full, intervals, params, "+".join(kinds))
    return status, findings, suggestion, notes
