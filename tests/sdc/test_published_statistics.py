"""Everything a helper publishes is checked: lists of statistics, several values columns,
normalised tables, custom statistics (which fail closed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jupyter_trevor as trevor
from tests.sdc import acro_runner as ar
from trevor_backend.sdc import evidence_from_json
from trevor_backend.sdc.report import ObjectReport

pytestmark = pytest.mark.filterwarnings("ignore")


def data(seed: int = 3) -> pd.DataFrame:
    """Cells of 30-60 records, plus one cell (z, q) with exactly 12: above the threshold,
    so only what is planted in it below (a dominant value, few values of w) can fail."""
    rng = np.random.default_rng(seed)
    rows = []
    for a, b, count in [("x", "p", 40), ("x", "q", 50), ("y", "p", 60), ("y", "q", 30)]:
        rows += [(a, b)] * count
    rows += [("z", "p")] * 35 + [("z", "q")] * 12
    frame = pd.DataFrame(rows, columns=["a", "b"])
    frame["v"] = np.round(rng.uniform(10, 20, len(frame)), 1)
    frame["w"] = np.round(rng.uniform(1, 2, len(frame)), 2)
    return frame


def cell(table: pd.DataFrame, row: str, block: tuple, col: str) -> tuple[int, int]:
    columns = [c if isinstance(c, tuple) else (c,) for c in table.columns]
    return (list(table.index).index(row), columns.index((*block, col)))


def flagged(report: ObjectReport) -> set[tuple[int, int]]:
    return {(i, j) for f in report.findings if f.status == "fail" for i, j in f.positions}


@pytest.mark.parametrize("margins", [False, True])
def test_aggfunc_list_carries_evidence_for_every_statistic(margins: bool) -> None:
    frame = data()
    table = trevor.pivot_table(
        frame, values="v", index="a", columns="b", aggfunc=["mean", "count", "std"], margins=margins
    )
    pd.testing.assert_frame_equal(
        pd.DataFrame(table),
        pd.pivot_table(
            frame,
            values="v",
            index="a",
            columns="b",
            aggfunc=["mean", "count", "std"],
            margins=margins,
            dropna=False,
        ),
    )
    ev = evidence_from_json(table.trevor_evidence.to_json())  # survives the JSON round trip
    assert [b["label"] for b in ev.extra["blocks"]] == ["mean", "count", "std"]
    assert [b["statbarn"] for b in ev.extra["blocks"]] == [
        "LinearAggregations",
        "Frequencies",
        "Shape",
    ]
    assert ev.n.shape == table.shape and (ev.n[:, :] > 0).all()
    report = trevor.check(table)
    # Only the std of (z, q) rests on 11 degrees of freedom: all pass at dof=10 ...
    assert report.status == "pass", report.summary()
    # ... and a small cell in that one statistic fails the whole table.
    strict = trevor.check(table, dof=12)
    assert strict.status == "fail"
    assert flagged(strict) == {cell(table, "z", ("std",), "q")}
    assert any(f.message.startswith("std: ") for f in strict.findings)
    # The suggestion blanks the group in every statistic, and is audited.
    blanked = {tuple(p) for p in strict.suppression["primary"]}
    assert {cell(table, "z", (s,), "q") for s in ("mean", "count", "std")} <= blanked
    assert strict.suppression["audit"]["status"] == "pass"
    assert {e["block"] for e in strict.suppression["intervals"]} >= {"mean", "count"}


def test_dominance_in_one_statistic_fails_the_table_as_acro_does() -> None:
    frame = data()
    frame.loc[(frame.a == "z") & (frame.b == "q"), "v"] = [5000.0] + [1.0] * 11
    acro, ours = ar.pivot_table(
        {}, frame, values="v", index="a", columns="b", aggfunc=["count", "mean"]
    )
    assert acro.status == ours.status == "fail"
    table = trevor.pivot_table(frame, values="v", index="a", columns="b", aggfunc=["count", "mean"])
    report = trevor.check(table)
    mean_zq = cell(table, "z", ("mean",), "q")
    assert mean_zq in report.cells("nk_rule") and mean_zq in report.cells("p_ratio")
    assert cell(table, "z", ("count",), "q") not in flagged(report)


def test_several_values_columns_each_carry_evidence() -> None:
    frame = data()
    # w is recorded for only 3 of the 12 records in (z, q): its mean rests on 3 values.
    zq = frame.index[(frame.a == "z") & (frame.b == "q")]
    frame.loc[zq[3:], "w"] = np.nan
    frame.loc[zq[0], "w"] = 100.0
    table = trevor.pivot_table(frame, values=["v", "w"], index="a", columns="b", aggfunc="mean")
    ev = table.trevor_evidence
    assert [b["label"] for b in ev.extra["blocks"]] == ["mean of v", "mean of w"]
    report = trevor.check(table)
    assert report.status == "fail"
    w_zq = cell(table, "z", ("w",), "q")
    assert w_zq in report.cells("p_ratio")
    assert not any(j < 2 for _, j in report.cells("p_ratio"))  # v's cells pass
    assert ev.n_values[w_zq] == 3 and ev.n[w_zq] == 12


def test_crosstab_with_a_list_of_statistics() -> None:
    frame = data()
    table = trevor.crosstab(frame.a, frame.b, values=frame.v, aggfunc=["sum", "max"], margins=True)
    report = trevor.check(table)
    assert {f.rule for f in report.findings} >= {"endpoints"}  # the max block's rule
    assert report.status == "review"
    assert [b["statistic"] for b in table.trevor_evidence.extra["blocks"]] == ["sum", "max"]


@pytest.mark.parametrize("normalize", [True, "index", "columns", "all"])
@pytest.mark.parametrize("margins", [False, True])
def test_normalised_tables_carry_count_evidence(normalize: bool | str, margins: bool) -> None:
    frame = data()
    extra = pd.DataFrame({"a": ["z"] * 4 + ["x"] * 20 + ["y"] * 20, "b": ["r"] * 44})
    frame = pd.concat([frame, extra], ignore_index=True)
    table = trevor.crosstab(frame.a, frame.b, normalize=normalize, margins=margins)
    pd.testing.assert_frame_equal(
        pd.DataFrame(table),
        pd.crosstab(frame.a, frame.b, normalize=normalize, margins=margins, dropna=False),
    )
    ev = table.trevor_evidence
    assert ev.extra["normalize"] == str(normalize)
    report = trevor.check(table)
    assert report.status == "fail"
    assert cell(table, "z", (), "r") in report.cells("threshold")
    # The proportions give the counts away given the totals: protection is on the counts.
    assert report.suppression is not None
    assert report.suppression["audit"]["model"] == "frequency"


def test_a_statistic_without_rules_fails_closed() -> None:
    frame = data()
    table = trevor.pivot_table(
        frame, values="v", index="a", columns="b", aggfunc=lambda s: s.max() - s.min()
    )
    report = trevor.check(table)
    assert report.status == "fail"
    finding = next(f for f in report.findings if f.rule == "evidence")
    assert finding.status == "fail" and "<lambda>" in finding.message
