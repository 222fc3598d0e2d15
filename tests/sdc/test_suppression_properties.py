"""Property: the suppression suggestion never leaves a cell below threshold recoverable from
the row and column totals (ACRO issue #198 was margins revealing suppressed cells).

An attacker knows every published cell, every row and column total and the grand total, and
that counts are non-negative. For each suppressed sensitive cell we solve two linear
programmes (scipy, test-only) for its smallest and largest feasible value: the cell is
protected when they differ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

import jupyter_trevor as trevor
from trevor_backend.sdc import Params, check_evidence
from trevor_backend.sdc.evidence import TableEvidence
from trevor_backend.sdc.suppression import secondary

THRESHOLD = 10


def feasible_range(
    counts: np.ndarray, suppressed: np.ndarray, cell: tuple[int, int]
) -> tuple[float, float]:
    unknown = [tuple(p) for p in np.argwhere(suppressed)]
    index = {p: k for k, p in enumerate(unknown)}
    rows, cols = counts.shape
    a_eq, b_eq = [], []
    for i in range(rows):
        coeffs = np.zeros(len(unknown))
        for j in range(cols):
            if (i, j) in index:
                coeffs[index[(i, j)]] = 1
        if coeffs.any():
            a_eq.append(coeffs)
            b_eq.append(counts[i].sum() - counts[i][~suppressed[i]].sum())
    for j in range(cols):
        coeffs = np.zeros(len(unknown))
        for i in range(rows):
            if (i, j) in index:
                coeffs[index[(i, j)]] = 1
        if coeffs.any():
            a_eq.append(coeffs)
            b_eq.append(counts[:, j].sum() - counts[:, j][~suppressed[:, j]].sum())
    target = np.zeros(len(unknown))
    target[index[cell]] = 1
    bounds = [(0, None)] * len(unknown)
    low = linprog(target, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    high = linprog(-target, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    assert low.status == 0 and high.status == 0
    return low.fun, -high.fun


tables = st.integers(2, 6).flatmap(
    lambda r: st.integers(2, 6).flatmap(
        lambda c: st.lists(
            st.lists(st.one_of(st.integers(0, 12), st.integers(10, 60)), min_size=c, max_size=c),
            min_size=r,
            max_size=r,
        )
    )
)


@settings(max_examples=200, deadline=None)
@given(tables)
def test_suppressed_cells_cannot_be_recovered_from_totals(rows: list[list[int]]) -> None:
    counts = np.array(rows, dtype=np.int64)
    primary = counts < THRESHOLD
    mask = secondary(primary, counts)
    assert (mask | ~primary).all(), "every primary cell stays suppressed"
    if mask.all():
        return  # nothing published: nothing to recover from
    for cell in map(tuple, np.argwhere(primary)):
        low, high = feasible_range(counts, mask, cell)
        assert high - low > 1e-6, f"cell {cell} (= {counts[cell]}) is pinned to {low}"


def _evidence(counts: np.ndarray) -> TableEvidence:
    rows = [(f"r{i}",) for i in range(counts.shape[0])]
    cols = [(f"c{j}",) for j in range(counts.shape[1])]
    return TableEvidence(
        statistic="count",
        row_names=["r"],
        col_names=["c"],
        rows=rows,
        cols=cols,
        n=counts,
        value=counts.astype(float),
        statbarn="Frequencies",
    )


@settings(max_examples=100, deadline=None)
@given(tables)
def test_report_suggestion_protects_and_keeps_safe_cells(rows: list[list[int]]) -> None:
    """End to end through check_evidence: failing tables get a suggestion whose blanks cover
    every failing cell, and the suggestion's totals cannot give them back."""
    counts = np.array(rows, dtype=np.int64)
    report = check_evidence(
        statbarn="Frequencies",
        table=None,
        evidence=_evidence(counts),
        params=Params(threshold=THRESHOLD),
    )
    failing = counts < THRESHOLD
    if not failing.any():
        assert report.status != "fail" and report.suppression is None
        return
    assert report.status == "fail"
    suggestion = report.suppression
    assert suggestion is not None
    blank = np.array([[v is None for v in row] for row in suggestion["values"]])
    assert (blank | ~failing).all()
    published = np.where(blank, 0, counts)
    assert (
        np.array([[0 if v is None else v for v in row] for row in suggestion["values"]])
        == published
    ).all()
    if not blank.all():
        for cell in map(tuple, np.argwhere(failing)):
            low, high = feasible_range(counts, blank, cell)
            assert high - low > 1e-6


def test_margins_of_a_suppressed_crosstab_do_not_reveal_the_cell() -> None:
    """The ACRO #198 shape: one small cell in a table published with margins."""
    df = pd.DataFrame(
        {
            "a": ["x"] * 40 + ["y"] * 33 + ["z"] * 30,
            "b": ["p"] * 20 + ["q"] * 20 + ["p"] * 30 + ["q"] * 3 + ["p"] * 15 + ["q"] * 15,
        }
    )
    table = trevor.crosstab(df.a, df.b, margins=True)
    report = trevor.check(table)
    assert report.status == "fail"
    suppressed = trevor.suppress(table)
    inner = suppressed.iloc[:-1, :-1]
    assert inner.isna().to_numpy().sum() >= 4  # the small cell plus a protecting cycle
    assert np.isnan(suppressed.loc["y", "q"])
    # Each row and column with a blank has at least two, so its margin cannot fill it in.
    blanks = inner.isna().to_numpy()
    assert all(n != 1 for n in blanks.sum(axis=0)) and all(n != 1 for n in blanks.sum(axis=1))
    # The margins are still the true totals.
    assert suppressed.loc["All", "All"] == len(df)
    assert trevor.check(suppressed).status == "pass"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 12), st.integers(10, 60)), min_size=2, max_size=12))
def test_one_way_tables_are_protected_against_their_total(counts_list: list[int]) -> None:
    counts = np.array(counts_list, dtype=np.int64).reshape(1, -1)
    primary = counts < THRESHOLD
    mask = secondary(primary, counts)
    assert (mask | ~primary).all()
    if mask.all() or not primary.any():
        return
    free = np.flatnonzero(mask[0])
    known = counts[0].sum() - counts[0][~mask[0]].sum()
    for cell in np.flatnonzero(primary[0]):
        target = (free == cell).astype(float)
        low = linprog(
            target,
            A_eq=[np.ones(len(free))],
            b_eq=[known],
            bounds=[(0, None)] * len(free),
            method="highs",
        )
        high = linprog(
            -target,
            A_eq=[np.ones(len(free))],
            b_eq=[known],
            bounds=[(0, None)] * len(free),
            method="highs",
        )
        assert -high.fun - low.fun > 1e-6, f"cell {cell} pinned"


@settings(max_examples=200, deadline=None)
@given(tables, st.data())
def test_four_cycle_shortcut_agrees_with_the_graph_search(
    rows: list[list[int]], data: st.DataObject
) -> None:
    from trevor_backend.sdc.suppression import _four_cycles, protected

    counts = np.array(rows, dtype=np.int64)
    flat = data.draw(st.lists(st.booleans(), min_size=counts.size, max_size=counts.size))
    mask = np.array(flat).reshape(counts.shape)
    quick = _four_cycles(mask, counts > 0)
    for cell in map(tuple, np.argwhere(quick)):
        assert protected(mask, counts > 0, cell)
