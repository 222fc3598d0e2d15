"""trevor and ACRO reach the same verdicts on the same tables and parameters.

Every case runs both engines (ACRO from PyPI) on generated data and compares, per rule
family, the set of flagged cells, the overall status and the published table itself. Where
trevor deliberately differs from ACRO (a documented ACRO bug), the case names the difference
and docs/sdc.md explains it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

import jupyter_trevor as trevor
from tests.sdc import acro_runner as ar

pytestmark = pytest.mark.filterwarnings("ignore")

AGGFUNCS = ["mean", "sum", "count", "median", "std", "min", "max"]
PARAMS = [
    {},
    {"threshold": 5, "p_ratio": 0.2, "nk_n": 3, "nk_k": 0.8},
    {"threshold": 15, "zeros_are_disclosive": False, "dof": 5},
    {"check_missing_values": True, "nk_n": 1, "nk_k": 0.5},
]


def make_data(
    seed: int,
    *,
    n: int | None = None,
    missing_keys: bool = False,
    missing_values: bool = False,
    negatives: bool = False,
) -> pd.DataFrame:
    """Skewed categories (small cells and empty combinations), integer-ish values (ties)."""
    rng = np.random.default_rng(seed)
    n = n or int(rng.choice([40, 150, 600]))
    a_levels = list("wxyz")[: int(rng.integers(2, 5))]
    pa = rng.dirichlet(np.ones(len(a_levels)) * 0.7)
    b_levels = ["p", "q", "r", "s", "t"][: int(rng.integers(2, 6))]
    pb = rng.dirichlet(np.ones(len(b_levels)) * 0.7)
    df = pd.DataFrame(
        {
            "a": rng.choice(a_levels, n, p=pa),
            "b": rng.choice(b_levels, n, p=pb),
            "c": rng.choice([1, 2], n, p=[0.7, 0.3]),
            "v": np.round(rng.lognormal(2, 1.2, n), int(rng.integers(0, 3))),
        }
    )
    # A few dominant contributors in some cells.
    big = rng.choice(n, max(1, n // 50), replace=False)
    df.loc[big, "v"] *= 50
    if missing_keys:
        df.loc[rng.choice(n, max(1, n // 40), replace=False), "a"] = np.nan
    if missing_values:
        df.loc[rng.choice(n, max(1, n // 30), replace=False), "v"] = np.nan
    if negatives:
        df.loc[rng.choice(n, 2, replace=False), "v"] *= -1
    return df


def assert_agree(pair: tuple[ar.Outcome, ar.Outcome], known: dict[str, str] | None = None) -> None:
    """Same table, same flagged cells per rule family, same overall status.

    ``known`` maps a rule family to the documented reason trevor's cells differ there.
    """
    acro, ours = pair
    known = known or {}
    if acro.table is not None:
        pd.testing.assert_frame_equal(
            pd.DataFrame(acro.table), ours.table, check_dtype=False, check_names=False
        )
    for rule, acro_cells in acro.cells.items():
        if rule in known:
            continue
        assert ours.cells.get(rule, set()) == acro_cells, (
            f"{rule}: ACRO flags {sorted(acro_cells)}, trevor {sorted(ours.cells[rule])}"
        )
    assert ours.status == acro.status, f"status: ACRO {acro.status}, trevor {ours.status}"


# ACRO raises on frequency tables when check_missing_values is on (see below).
@pytest.mark.parametrize("params", PARAMS[:3], ids=lambda p: ",".join(p) or "defaults")
@pytest.mark.parametrize("margins", [False, True], ids=["plain", "margins"])
@pytest.mark.parametrize("seed", range(4))
def test_frequency_tables(seed: int, margins: bool, params: dict[str, Any]) -> None:
    df = make_data(seed)
    assert_agree(ar.crosstab(params, df.a, df.b, margins=margins))
    # Multi-level rows.
    assert_agree(ar.crosstab(params, [df.a, df.c], df.b, margins=margins))


@pytest.mark.parametrize("aggfunc", AGGFUNCS)
@pytest.mark.parametrize("margins", [False, True], ids=["plain", "margins"])
@pytest.mark.parametrize("seed", range(3))
def test_magnitude_crosstabs(seed: int, margins: bool, aggfunc: str) -> None:
    df = make_data(100 + seed)
    params = PARAMS[seed % len(PARAMS)]
    known = {}
    if aggfunc == "std":
        # ACRO marks every cell whose dof is non-zero (its dof table used as a mask);
        # the status agrees. docs/sdc.md "Shape cells".
        known["dof"] = "ACRO per-cell dof mask bug"
    pair = ar.crosstab(params, df.a, df.b, values=df.v, aggfunc=aggfunc, margins=margins)
    assert_agree(pair, known)
    if aggfunc in ("min", "max"):
        # trevor additionally asks a checker to review released extremes.
        assert pair[1].extra_status == "review"


@pytest.mark.parametrize("aggfunc", ["mean", "sum", "median", "std"])
@pytest.mark.parametrize("seed", range(3))
def test_pivot_tables(seed: int, aggfunc: str) -> None:
    df = make_data(200 + seed)
    known = {"dof": "ACRO per-cell dof mask bug"} if aggfunc == "std" else {}
    params = PARAMS[seed % len(PARAMS)]
    assert_agree(
        ar.pivot_table(
            params,
            df,
            index=["a", "c"],
            columns="b",
            values="v",
            aggfunc=aggfunc,
            margins=seed == 1,
        ),
        known,
    )
    # One-way table.
    assert_agree(ar.pivot_table(params, df, index="a", values="v", aggfunc=aggfunc), known)


@pytest.mark.parametrize("seed", range(4))
def test_negatives_send_dominance_to_review(seed: int) -> None:
    df = make_data(300 + seed, negatives=True)
    acro, ours = ar.crosstab({}, df.a, df.b, values=df.v, aggfunc="mean")
    assert_agree((acro, ours))
    report = trevor.check(trevor.crosstab(df.a, df.b, values=df.v, aggfunc="mean"))
    negative = [f for f in report.findings if f.rule == "negative"]
    assert negative and negative[0].status == "review"
    # Dominance is undefined with negatives: the rules report nothing else.
    assert not report.rules() & {"nk_rule", "p_ratio"}
    assert report.cells("negative") == ours.cells["nk_rule"] == acro.cells["p_ratio"]


@pytest.mark.parametrize("margins", [False, True], ids=["plain", "margins"])
@pytest.mark.parametrize("seed", range(3))
def test_missing_keys_and_values(seed: int, margins: bool) -> None:
    df = make_data(400 + seed, missing_keys=True, missing_values=True)
    assert_agree(ar.crosstab({}, df.a, df.b, margins=margins))
    assert_agree(ar.crosstab({}, df.a, df.b, values=df.v, aggfunc="mean", margins=margins))
    # With missing-value checking on, ACRO also reports *empty* cells as holding missing
    # values (its mask treats NaN as true); trevor reports them as zeros/threshold only,
    # and does not check margins that pandas leaves blank.
    acro, ours = ar.crosstab(
        {"check_missing_values": True}, df.a, df.b, values=df.v, aggfunc="mean", margins=margins
    )
    assert_agree((acro, ours), known={"missing": "ACRO flags empty cells as missing"})
    evidence = trevor.crosstab(
        df.a, df.b, values=df.v, aggfunc="mean", margins=margins
    ).trevor_evidence
    assert ours.cells["missing"] <= acro.cells["missing"]
    published = evidence.published_mask()
    for i, j in acro.cells["missing"] - ours.cells["missing"]:
        # Only empty cells, or margins pandas leaves blank (nothing published).
        assert evidence.n[i, j] == 0 or not published[i, j]


def test_frequency_table_with_missing_value_checking() -> None:
    """ACRO 1.0.2 raises AttributeError building missing-value evidence for a frequency
    table (it has no values column); trevor runs the frequency checks (docs/sdc.md)."""
    df = make_data(11, missing_keys=True)
    session = ar.acro_session({"check_missing_values": True})
    with pytest.raises(AttributeError):
        session.crosstab(df.a, df.b)
    baseline, _ = ar.crosstab({}, df.a, df.b)
    report = trevor.check(trevor.crosstab(df.a, df.b), check_missing_values=True)
    assert report.status == baseline.status
    assert "missing" not in report.rules()
    assert report.cells("threshold") == baseline.cells["threshold"]


def test_one_way_pivot_with_missing_key_group() -> None:
    """ACRO builds a one-way pivot's evidence with pandas' default dropna, so the group of
    records with a missing key is never checked (docs/sdc.md); trevor checks it."""
    df = make_data(7, n=200, missing_keys=True)
    acro, ours = ar.pivot_table({}, df, index="a", values="v", aggfunc="mean")
    nan_row = [i for i, label in enumerate(ours.table.index) if pd.isna(label)]
    assert nan_row
    assert all((i, 0) not in acro.cells["threshold"] for i in nan_row)
    assert all((i, 0) in ours.cells["threshold"] for i in nan_row)
    assert ours.status == "fail"
    rest = {rule: cells - {(i, 0) for i in nan_row} for rule, cells in ours.cells.items()}
    assert rest["threshold"] == acro.cells["threshold"]


def test_boundaries_exactly_at_each_threshold() -> None:
    # Cells of 9, 10 and 11 records; dominance exactly at k and at p.
    rows = []
    for label, count in (("nine", 9), ("ten", 10), ("eleven", 11)):
        rows += [(label, "p", 1.0)] * count
    rows += [("nk_at", "p", v) for v in (45.0, 45.0, 10.0)]  # top 2 = 0.90 of total: fails
    rows += [("nk_under", "p", v) for v in (44.0, 45.0, 11.0)]  # 0.89: passes
    rows += [("p_at", "p", v) for v in (50.0, 40.0, 5.0)]  # (95-90)/50 = 0.10: passes
    rows += [("p_under", "p", v) for v in (50.0, 40.0, 4.9)]  # 0.098: fails
    df = pd.DataFrame(rows, columns=["a", "b", "v"])
    acro, ours = ar.crosstab({}, df.a, df.b, values=df.v, aggfunc="sum")
    assert_agree((acro, ours))
    labels = list(ours.table.index)
    assert (labels.index("nine"), 0) in ours.cells["threshold"]
    assert (labels.index("ten"), 0) not in ours.cells["threshold"]
    assert (labels.index("nk_at"), 0) in ours.cells["nk_rule"]
    assert (labels.index("nk_under"), 0) not in ours.cells["nk_rule"]
    assert (labels.index("p_at"), 0) not in ours.cells["p_ratio"]
    assert (labels.index("p_under"), 0) in ours.cells["p_ratio"]
    # The same boundaries under a non-default threshold.
    assert_agree(ar.crosstab({"threshold": 3}, df.a, df.b, values=df.v, aggfunc="sum"))


def test_zero_valued_cells_and_structural_zeros() -> None:
    df = pd.DataFrame(
        {
            "a": ["x"] * 12 + ["y"] * 12,
            "b": ["p"] * 12 + ["q"] * 12,
            "v": [0.0] * 12 + list(range(1, 13)),
        }
    )
    # All-zero cell: ACRO's p-ratio is 0 there (fails); an empty cell passes dominance.
    assert_agree(ar.crosstab({}, df.a, df.b, values=df.v, aggfunc="sum"))
    assert_agree(ar.crosstab({}, df.a, df.b))


@pytest.mark.parametrize("extra_dof", [9, 10])
def test_regression_dof_boundary(extra_dof: int) -> None:
    rng = np.random.default_rng(extra_dof)
    x = pd.DataFrame(rng.normal(size=(3 + extra_dof, 2)), columns=["x1", "x2"])
    x.insert(0, "const", 1.0)
    y = x["x1"] * 2 + rng.normal(size=len(x))
    acro, ours = ar.ols({}, y, x)
    assert ours.status == acro.status == ("fail" if extra_dof < 10 else "pass")
    # A lower deployment threshold turns the 9-dof model into a pass in both engines.
    acro, ours = ar.ols({"dof": 9}, y, x)
    assert ours.status == acro.status == "pass"


def test_histogram_counts_the_maximum(tmp_path, monkeypatch) -> None:
    """ACRO bins with numpy.digitize, which puts the maximum outside the last bin; trevor
    counts it (numpy.histogram), so a last bin of exactly `threshold` records passes."""
    monkeypatch.chdir(tmp_path)  # ACRO writes its plot to the working directory
    df = pd.DataFrame({"v": [0.0] * 15 + [7.0] * 9 + [10.0]})
    session = ar.acro_session({})
    session.hist(df, "v", bins=2)
    acro_record = ar._acro_last(session)
    assert acro_record.status == "fail"  # ACRO saw 9 records in [5, 10]
    figure = trevor.hist(df, "v", bins=2)
    evidence = trevor.check(figure)
    assert evidence.status == "pass"
    from jupyter_trevor.kernel.evidence import evidence_of

    assert evidence_of(figure).n[:, 0].tolist() == [15, 10]
    # One record fewer in the last bin fails in both engines.
    short = pd.DataFrame({"v": [0.0] * 15 + [7.0] * 8 + [10.0]})
    session.hist(short, "v", bins=2)
    assert ar._acro_last(session).status == "fail"
    assert trevor.check(trevor.hist(short, "v", bins=2)).status == "fail"


def test_survival_tables_are_reviewed_not_always_failed() -> None:
    """ACRO gives every Kaplan-Meier table dof 0 and fails it; trevor asks a checker to
    review it and fails only time points with fewer than survival_threshold at risk."""
    rng = np.random.default_rng(0)
    time = rng.integers(1, 6, 400)
    status = rng.integers(0, 2, 400)
    session = ar.acro_session({})
    session.surv_func(time, status, output="table")
    assert ar._acro_last(session).status == "fail"
    report = trevor.check(trevor.survival(time, status))
    assert report.status == "review"
    assert {f.rule for f in report.failing} == {"manual"}
    late = trevor.check(trevor.survival(np.r_[time, [40, 41]], np.r_[status, [1, 1]]))
    assert late.status == "fail" and "survival" in late.rules("fail")


@pytest.mark.parametrize("kind", ["logit", "probit"])
@pytest.mark.parametrize("extra_dof", [9, 10])
def test_binary_models_dof_boundary(kind: str, extra_dof: int) -> None:
    rng = np.random.default_rng(20 + extra_dof)
    x = pd.DataFrame({"const": 1.0, "x1": rng.normal(size=2 + extra_dof)})
    y = pd.Series([0, 1] * ((2 + extra_dof) // 2) + [1] * ((2 + extra_dof) % 2))
    acro, ours = ar.model(kind, {}, y, x)
    assert ours.status == acro.status == ("fail" if extra_dof < 10 else "pass")


def test_mode_tables_flag_the_same_cells() -> None:
    """Each cell's mode is unique here, so ACRO's random pick among ties cannot differ."""
    rows = []
    for a, b, size in (("x", "p", 12), ("x", "q", 3), ("y", "p", 15), ("y", "q", 11)):
        rows += [(a, b, 1.0)] * (size - size // 3) + [(a, b, 2.0)] * (size // 3)
    df = pd.DataFrame(rows, columns=["a", "b", "v"])
    df = pd.concat([df, pd.DataFrame({"a": ["z"], "b": ["p"], "v": [5.0]})], ignore_index=True)
    acro, ours = ar.crosstab({}, df.a, df.b, values=df.v, aggfunc="mode")
    assert_agree((acro, ours))
    assert ours.cells["zeros"] == {(2, 1)} and ours.status == "fail"
