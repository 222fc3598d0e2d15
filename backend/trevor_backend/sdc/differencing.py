"""Differencing: a new table against tables already released from the same project.

Two frequency tables with the same labels over nested populations (the same table before
and after excluding a few people, this year's cohort and last year's plus late entries)
give away the small group in between: the cell-wise difference is itself a table, and a
difference below ``threshold`` (but not zero) is a small cell nobody checked. This module
compares the contributor counts of matching cells; the checker judges whether the two
populations really are nested (review, not fail).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .checks import REVIEW, Finding
from .evidence import TableEvidence, _label_key, evidence_from_json

DIFFERENCING = "differencing"


def _index(labels: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    return {_label_key(label): i for i, label in enumerate(labels)}


def differencing(
    new: TableEvidence | dict[str, Any],
    released: Iterable[tuple[str, TableEvidence | dict[str, Any]]],
    threshold: int,
) -> list[Finding]:
    """One review finding per released table whose cell-wise difference from ``new`` has
    counts between 1 and ``threshold - 1``. ``released`` pairs a name (object id, title)
    with that table's evidence."""
    ours = evidence_from_json(new) if isinstance(new, dict) else new
    if not isinstance(ours, TableEvidence):
        return []
    findings = []
    row_pos = _index(ours.rows)
    col_pos = _index(ours.cols)
    for name, other in released:
        theirs = evidence_from_json(other) if isinstance(other, dict) else other
        if not isinstance(theirs, TableEvidence):
            continue
        if (list(theirs.row_names), list(theirs.col_names)) != (
            list(ours.row_names),
            list(ours.col_names),
        ):
            continue
        pairs = [
            (row_pos[_label_key(r)], col_pos[_label_key(c)], i, j)
            for i, r in enumerate(theirs.rows)
            if _label_key(r) in row_pos
            for j, c in enumerate(theirs.cols)
            if _label_key(c) in col_pos
        ]
        if not pairs:
            continue
        a = np.array([ours.n[p[0], p[1]] for p in pairs])
        b = np.array([theirs.n[p[2], p[3]] for p in pairs])
        diff = np.abs(a - b)
        small = (diff > 0) & (diff < threshold)
        # Identical tables, or tables over unrelated populations (every cell moved a lot),
        # reveal nothing by subtraction; near-identical ones do.
        if not small.any():
            continue
        hits = [pairs[k] for k in np.flatnonzero(small)]
        findings.append(
            Finding(
                rule=DIFFERENCING,
                status=REVIEW,
                message=(
                    f"against released {name}: {len(hits)} cell(s) differ by fewer than"
                    f" {threshold} contributors, so subtracting the tables reveals a small"
                    " group if the populations are nested"
                ),
                cells=[ours.cell_labels(i, j) for i, j, _, _ in hits],
                value=int(diff[small].min()),
                limit=threshold,
                values=[int(v) for v in diff[small]],
                positions=[[int(i), int(j)] for i, j, _, _ in hits],
            )
        )
    return findings
