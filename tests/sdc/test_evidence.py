"""Evidence computed in one pass equals the facts counted record by record."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jupyter_trevor as trevor


def _same_label(a: object, b: object) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def _records_in(df: pd.DataFrame, keys: list[str], labels: tuple, margins_name: str) -> pd.Series:
    mask = np.ones(len(df), dtype=bool)
    for key, label in zip(keys, labels, strict=False):
        if label == margins_name or label == "":
            continue  # a margin: every record of the line
        column = df[key]
        if isinstance(label, float) and math.isnan(label):
            mask &= column.isna().to_numpy()
        else:
            mask &= (column == label).to_numpy()
    return pd.Series(mask)


frames = st.integers(1, 120).flatmap(
    lambda n: st.fixed_dictionaries(
        {
            "a": st.lists(st.sampled_from(["x", "y", "z", None]), min_size=n, max_size=n),
            "c": st.lists(st.sampled_from([1, 2, 3]), min_size=n, max_size=n),
            "b": st.lists(st.sampled_from(["p", "q"]), min_size=n, max_size=n),
            "v": st.lists(
                st.one_of(
                    st.none(), st.integers(-5, 50).map(float), st.floats(0, 1000, allow_nan=False)
                ),
                min_size=n,
                max_size=n,
            ),
        }
    )
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.booleans(), st.booleans())
def test_table_evidence_matches_a_record_by_record_count(
    data: dict, margins: bool, two_keys: bool
) -> None:
    df = pd.DataFrame(data)
    df["v"] = df["v"].astype(float)
    rows = ["a", "c"] if two_keys else ["a"]
    table = trevor.crosstab(
        [df[k] for k in rows], df["b"], values=df["v"], aggfunc="sum", margins=margins
    )
    ev = table.trevor_evidence
    k = ev.largest.shape[2]
    for i, row in enumerate(ev.rows):
        for j, col in enumerate(ev.cols):
            sel = _records_in(df, rows, row, "All") & _records_in(df, ["b"], col, "All")
            vals = df.loc[sel.to_numpy(), "v"]
            present = vals.dropna().sort_values(ascending=False).to_numpy()
            assert ev.n[i, j] == sel.sum(), (row, col)
            assert ev.n_missing[i, j] == vals.isna().sum()
            assert ev.negatives[i, j] == (present < 0).sum()
            assert ev.sum[i, j] == pytest.approx(present.sum(), abs=1e-9)
            expected = np.full(k, np.nan)
            expected[: min(k, len(present))] = present[:k]
            np.testing.assert_array_equal(ev.largest[i, j], expected)
            if len(present):
                assert ev.min[i, j] == present.min() and ev.max[i, j] == present.max()
            else:
                assert np.isnan(ev.min[i, j]) and np.isnan(ev.max[i, j])


@pytest.mark.parametrize(
    "make",
    [
        lambda rng, n: (
            pd.Series(rng.integers(0, 7, n), name="r"),
            pd.Series(rng.integers(10, 14, n), name="c"),
        ),
        lambda rng, n: (
            pd.Series(rng.choice(["b", "a", "c"], n), name="r"),
            pd.Series(rng.choice([True, False], n), name="c"),
        ),
        lambda rng, n: (
            [
                pd.Series(rng.choice(["u", "v"], n), name="r1"),
                pd.Series(rng.integers(0, 3, n), name="r2"),
            ],
            pd.Series(rng.choice(["k", "l", "m"], n), name="c"),
        ),
        lambda rng, n: (
            pd.Series(rng.choice([0.5, 1.5, 2.5], n)),
            pd.Series(rng.choice(["k", "l"], n)),
        ),
    ],
    ids=["ints", "strings-bools", "multi-level", "unnamed-floats"],
)
@pytest.mark.parametrize("aggfunc", [None, "mean"])
def test_tables_built_from_the_evidence_pass_equal_pandas(make, aggfunc: str | None) -> None:
    rng = np.random.default_rng(5)
    index, columns = make(rng, 500)
    values = pd.Series(rng.lognormal(1, 1, 500)) if aggfunc else None
    ours = trevor.crosstab(index, columns, values=values, aggfunc=aggfunc)
    theirs = pd.crosstab(index, columns, values=values, aggfunc=aggfunc, dropna=False)
    pd.testing.assert_frame_equal(
        pd.DataFrame(ours), theirs, check_exact=aggfunc is None, rtol=1e-12
    )


def test_evidence_stays_with_the_exact_table() -> None:
    df = pd.DataFrame({"a": ["x", "y"] * 20, "b": ["p"] * 40})
    table = trevor.crosstab(df.a, df.b)
    assert trevor.check(table).status == "pass"
    derived = table * 2
    assert type(derived) is pd.DataFrame
    report = trevor.check(derived)
    assert report.status == "review" and "evidence" in report.rules()


@pytest.mark.parametrize("seed", range(3))
def test_largest_values_on_large_data_use_the_candidate_filter(seed: int) -> None:
    """Large inputs take the pre-filtered path of the top-k computation; it must give the
    same largest values as sorting every cell."""
    from trevor_backend.sdc.tabulate import _top_k

    rng = np.random.default_rng(seed)
    n, ncells, k = 60_000, 37, 5
    # Skewed cell sizes (some cells have fewer than k records), ties and negatives.
    code = np.minimum(rng.geometric(0.08, n) - 1, ncells - 1)
    v = np.round(rng.normal(0, 20, n))
    assert n > 64 * k * ncells**0.5  # the filtered path
    largest, minimum = _top_k(code, v, ncells, k)
    frame = pd.DataFrame({"code": code, "v": v})
    for cell in range(ncells):
        values = np.sort(frame.loc[frame.code == cell, "v"].to_numpy())[::-1]
        expected = np.full(k, np.nan)
        expected[: min(k, len(values))] = values[:k]
        np.testing.assert_array_equal(largest[cell], expected)
        if len(values):
            assert minimum[cell] == values.min()
        else:
            assert np.isnan(minimum[cell])
