"""Decisions exactly at a limit do not depend on the order of the records.

Floating-point sums depend on the order of their terms: 0.45 + 0.45 + 0.1 and
0.1 + 0.45 + 0.45 differ in the last bit, so a dominance ratio of exactly nk_k or a p% of
exactly p_ratio could fall either side depending on how the records happen to be sorted.
Each case below runs every permutation of the records of the cell at the limit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import jupyter_trevor as trevor
from trevor_backend.sdc import Params, checks

BULK = [("big", 10.0 + k) for k in range(30)]  # a second, safe cell


def verdicts(values: list[float], rule: str, **params: float) -> set[bool]:
    """For every order of the records: is the cell at the limit flagged by ``rule``? The
    evidence comes from the kernel helper; the rule is the engine's own function."""
    check = {"nk_rule": checks.nk_rule, "p_ratio": checks.p_ratio}[rule]
    seen = set()
    for order in itertools.permutations(values):
        rows = [("edge", v) for v in order] + BULK
        frame = pd.DataFrame(rows, columns=["g", "v"])
        table = trevor.crosstab(frame.g, pd.Series(["c"] * len(frame)), frame.v, aggfunc="sum")
        finding = check(table.trevor_evidence, Params(threshold=1, **params))
        edge = list(table.index).index("edge")
        seen.add(finding is not None and [edge, 0] in finding.positions)
    return seen


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([4.5, 4.5, 0.25, 0.25, 0.5], True),  # top two exactly 0.9 of 10: dominated (>=)
        ([4.5, 4.25, 0.5, 0.5], False),  # 0.897: not dominated
        # Decimals: the float sums differ by order; exactly 0.9 is dominated every time.
        ([0.44, 1.18, 0.07, 0.06, 0.05], True),  # float ratio >= 0.9 in some orders only
    ],
)
def test_nk_at_the_limit_is_the_same_for_every_order(values: list[float], expected: bool) -> None:
    assert verdicts(values, "nk_rule", nk_n=2, nk_k=0.9) == {expected}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5.0, 4.0, 0.25, 0.25], False),  # (9.5 - 9) / 5 = 0.1 exactly: passes (< fails)
        ([5.0, 4.0, 0.25, 0.125], True),  # 0.075: fails
        # Decimals whose exact p is 0.1 but whose float sums vary with the order: the
        # engine cannot tell the side, so it fails the cell every time (conservative).
        ([0.5, 0.4, 0.02, 0.03], True),
    ],
)
def test_p_ratio_at_the_limit_is_the_same_for_every_order(
    values: list[float], expected: bool
) -> None:
    assert verdicts(values, "p_ratio", p_ratio=0.1) == {expected}


def test_float_sums_really_depend_on_the_order() -> None:
    """Why the above matters: the naive float ratio flips with the order of the records."""
    values = [0.44, 1.18, 0.07, 0.06, 0.05]
    naive = {
        (0.44 + 1.18) / float(np.sum(np.array(order))) >= 0.9
        for order in itertools.permutations(values)
    }
    assert naive == {True, False}


def test_exact_sums_are_recorded_per_cell() -> None:
    frame = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "v": [1.0, 2.5, 0.25, 3.0, 4.0, 5.0]})
    table = trevor.crosstab(frame.g, pd.Series(["c"] * 6), frame.v, aggfunc="sum", margins=True)
    assert table.trevor_evidence.extra["exact_sums"] == [[True, True], [True, True], [True, True]]
    frame.loc[0, "v"] = 0.1  # not a binary fraction: a's sum and the totals are not exact
    table = trevor.crosstab(frame.g, pd.Series(["c"] * 6), frame.v, aggfunc="sum", margins=True)
    assert table.trevor_evidence.extra["exact_sums"] == [
        [False, False],
        [True, True],
        [False, False],
    ]
