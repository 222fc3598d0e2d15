"""The rule engine's contract: parameters, catalogue, object verdicts, evidence JSON."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

import jupyter_trevor as trevor
from trevor_backend.sdc import (
    Params,
    TableEvidence,
    aggregate,
    check_evidence,
    check_object,
    evidence_from_json,
    statbarns,
)
from trevor_backend.sdc.evidence import model_evidence, survival_evidence


def _acro_data(name: str) -> pathlib.Path:
    import acro

    return pathlib.Path(acro.__file__).with_name(name)


# ---------------------------------------------------------------------------- parameters


def test_defaults_are_acros_defaults() -> None:
    acro_defaults = yaml.safe_load(_acro_data("default.yaml").read_text())
    mapped = Params.from_mapping(
        {
            k: v
            for k, v in acro_defaults.items()
            if k
            in (
                "safe_threshold",
                "safe_dof_threshold",
                "safe_nk_n",
                "safe_nk_k",
                "safe_pratio_p",
                "check_missing_values",
                "survival_safe_threshold",
                "zeros_are_disclosive",
                "safe_round_base",
            )
        }
    )
    assert mapped == Params()
    assert Params().threshold == 10 and Params().p_ratio == 0.10 and Params().nk_k == 0.90


def test_params_overlay_and_validation() -> None:
    deployment = Params.from_mapping({"threshold": 5, "dof": 20})
    project = Params.from_mapping({"threshold": 7}, base=deployment)
    assert (project.threshold, project.dof) == (7, 20)
    assert Params.from_mapping(project.to_dict()) == project
    with pytest.raises(ValueError, match="thresh"):
        Params.from_mapping({"thresh": 3})
    with pytest.raises(ValueError, match="'nk_k'"):
        Params.from_mapping({"nk_k": 1.5})
    with pytest.raises(ValueError, match="'threshold'"):
        Params.from_mapping({"threshold": "ten"})
    with pytest.raises(ValueError, match="'zeros_are_disclosive'"):
        Params.from_mapping({"zeros_are_disclosive": 1})
    with pytest.raises(ValueError, match="'safe_nk_n'"):
        Params.from_mapping({"safe_nk_n": 0})
    with pytest.raises(ValueError, match="blocked_extensions"):
        Params.from_mapping({"blocked_extensions": "svg"})
    assert Params.from_mapping({"threshold": 12.0}).threshold == 12
    assert Params.from_mapping({"blocked_extensions": [".CSV"]}).blocked_extensions == (".csv",)


# ---------------------------------------------------------------------------- catalogue


def test_catalogue_uses_acros_statbarn_ids_and_uris() -> None:
    acro_barns = json.loads(_acro_data("statbarns.json").read_text())
    assert set(statbarns.CATALOGUE) == set(acro_barns)
    for sid, entry in statbarns.CATALOGUE.items():
        assert entry.uri == acro_barns[sid]["uri"]
        item = entry.to_dict()
        assert set(item) >= {"id", "name", "uri", "description", "guidance", "checks", "params"}
        assert item["guidance"] and item["description"]
        for check in item["checks"]:
            assert check in statbarns.RULE_PARAMS
        json.dumps(item)
    assert statbarns.get("Frequencies").to_dict()["params"] == {
        "threshold": 10,
        "zeros_are_disclosive": True,
    }
    assert statbarns.get("NoSuchBarn") is None and statbarns.get(None) is None
    assert len(statbarns.catalogue_json()["items"]) == len(acro_barns)


def test_engine_imports_without_tornado_or_sqlalchemy() -> None:
    code = (
        "import sys, trevor_backend.sdc, trevor_backend.sdc.report, jupyter_trevor.workspace;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('tornado', 'sqlalchemy', 'jupyter_server', 'pydantic')];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- verdicts


def _count_evidence(counts: list[list[int]]) -> dict:
    """JSON evidence of a 2 x 2 frequency table with these counts (rows a, b; cols x, y)."""
    return trevor.crosstab(
        pd.Series(np.repeat(["a", "a", "b", "b"], np.ravel(counts)), name="r"),
        pd.Series(np.repeat(["x", "y", "x", "y"], np.ravel(counts)), name="c"),
    ).trevor_evidence.to_json()


def test_file_level_checks_always_apply() -> None:
    safe = _count_evidence([[20, 30], [40, 50]])
    assert (
        check_object(
            statbarn="Frequencies", filename="t.csv", size=10, table=None, evidence=safe
        ).status
        == "pass"
    )
    empty = check_object(
        statbarn="Frequencies", filename="t.csv", size=0, table=None, evidence=safe
    )
    assert empty.status == "fail" and "empty_file" in empty.rules()
    svg = check_object(
        statbarn="Frequencies", filename="Plot.SVG", size=10, table=None, evidence=safe
    )
    assert svg.status == "fail" and "blocked_extension" in svg.rules()
    big = check_object(
        statbarn="Frequencies",
        filename="t.csv",
        size=101,
        table=None,
        evidence=safe,
        params=Params(max_file_size=100),
    )
    assert big.status == "fail"
    [finding] = [f for f in big.findings if f.rule == "file_size"]
    assert (finding.value, finding.limit) == (101, 100)


def test_missing_evidence_or_statbarn_means_review() -> None:
    none = check_object(statbarn="Frequencies", filename="t.csv", size=5, table=None, evidence=None)
    assert none.status == "review" and "evidence" in none.rules()
    unknown = check_object(
        statbarn="Nonsense",
        filename="t.csv",
        size=5,
        table=None,
        evidence=_count_evidence([[20, 30], [40, 50]]),
    )
    assert unknown.status == "review"
    assert any("Nonsense" in f.message for f in unknown.findings)
    # No statbarn given: the helper's suggestion in the evidence is used.
    inferred = check_object(
        statbarn=None,
        filename="t.csv",
        size=5,
        table=None,
        evidence=_count_evidence([[2, 30], [40, 50]]),
    )
    assert inferred.statbarn == "Frequencies" and inferred.status == "fail"
    broken = check_object(
        statbarn="Frequencies",
        filename="t.csv",
        size=5,
        table=None,
        evidence={"cells": {"n": [[1, None]]}, "rows": [["a"]], "cols": [["x"], ["y"]]},
    )
    assert broken.status == "review" and "evidence" in broken.rules()


def test_findings_name_rule_cells_value_and_limit() -> None:
    report = check_evidence(
        statbarn="Frequencies", table=None, evidence=_count_evidence([[3, 30], [40, 50]])
    )
    [finding] = [f for f in report.findings if f.rule == "threshold"]
    assert finding.status == "fail"
    assert finding.cells == [[["a"], ["x"]]]
    assert (finding.value, finding.limit) == (3, 10)
    assert "fewer than 10" in finding.message
    payload = report.to_dict()
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload["suppression"]["primary"] == [[0, 0]]


def test_always_review_statbarns_and_models_and_survival() -> None:
    safe = _count_evidence([[20, 30], [40, 50]])
    ratios = check_evidence(statbarn="CalculatedRatios", table=None, evidence=safe)
    assert ratios.status == "review" and "manual" in ratios.rules()
    model9 = model_evidence(model="OLS", nobs=12, df_resid=9)
    assert (
        check_evidence(statbarn="CorrelationCoefficients", table=None, evidence=model9).status
        == "fail"
    )
    assert (
        check_evidence(
            statbarn="CorrelationCoefficients", table=None, evidence=model9, params=Params(dof=9)
        ).status
        == "pass"
    )
    km = survival_evidence(
        times=[1, 2, 3], at_risk=[30, 20, 8], events=[5, 1, 3], censored=[5, 11, 5], nobs=30
    )
    report = check_evidence(statbarn="HazardSurvivalTables", table=None, evidence=km)
    assert report.status == "fail"
    assert report.cells("survival") == {(2, 0), (1, 1)}
    assert aggregate([report, "pass"]) == "fail"
    assert aggregate(["pass", ratios]) == "review"
    assert aggregate([]) == "pass"


def test_structural_zeros_are_exempt() -> None:
    sex = pd.Series(["f"] * 30 + ["m"] * 30, name="sex")
    cond = pd.Series(["pregnant"] * 12 + ["other"] * 18 + ["other"] * 30, name="cond")
    plain = trevor.check(trevor.crosstab(sex, cond))
    assert plain.status == "fail" and plain.cells("zeros") == {(1, 1)}
    declared = trevor.check(trevor.crosstab(sex, cond, structural_zeros=[("m", "pregnant")]))
    assert "zeros" not in declared.rules() and "threshold" not in declared.rules()
    assert declared.status == "pass"


def test_evidence_json_round_trip_gives_the_same_verdict() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "a": rng.choice(list("xyz"), 300),
            "b": rng.choice(list("pq"), 300),
            "v": rng.lognormal(2, 1, 300),
        }
    )
    df.loc[::17, "v"] = np.nan
    table = trevor.crosstab(df.a, df.b, values=df.v, aggfunc="sum", margins=True)
    payload = json.loads(json.dumps(table.trevor_evidence.to_json(), allow_nan=False))
    restored = evidence_from_json(payload)
    assert isinstance(restored, TableEvidence)
    params = Params(check_missing_values=True, nk_n=3)
    direct = check_evidence(
        statbarn="LinearAggregations", table=None, evidence=table.trevor_evidence, params=params
    )
    via_json = check_evidence(
        statbarn="LinearAggregations", table=None, evidence=payload, params=params
    )
    assert direct.to_dict() == via_json.to_dict()
    assert payload["kind"] == "table" and payload["statistic"] == "sum"
    assert payload["schema"] == "trevor.evidence/1" and "sha256" in payload


def test_evidence_with_too_few_largest_values_asks_for_review() -> None:
    df = pd.DataFrame({"a": ["x"] * 40, "b": ["p"] * 40, "v": np.arange(40.0)})
    table = trevor.crosstab(df.a, df.b, values=df.v, aggfunc="sum")
    assert table.trevor_evidence.largest.shape[2] == Params().top_k
    report = check_evidence(
        statbarn="LinearAggregations",
        table=None,
        evidence=table.trevor_evidence,
        params=Params(nk_n=8),
    )
    assert report.status == "review" and "nk_rule" in report.rules()


def test_class_disclosure_marks_the_cell_holding_a_whole_group() -> None:
    # Everyone in group "b" has "y", and everyone with "x" is in group "a".
    evidence = _count_evidence([[20, 30], [0, 50]])
    report = check_evidence(
        statbarn="Frequencies",
        table=None,
        evidence=evidence,
        params=Params(zeros_are_disclosive=False),
    )
    assert report.cells("class_disclosure") == {(1, 1), (0, 0)}
    assert report.status == "fail"  # the empty cell still fails the threshold
    lenient = check_evidence(
        statbarn="Frequencies",
        table=None,
        evidence=evidence,
        params=Params(zeros_are_disclosive=False, threshold=0),
    )
    assert lenient.status == "review" and lenient.rules("review") == {"class_disclosure"}
    strict = check_evidence(
        statbarn="Frequencies", table=None, evidence=_count_evidence([[20, 30], [0, 50]])
    )
    assert strict.status == "fail" and strict.cells("zeros") == {(1, 0)}


def test_shape_dof_counts_only_non_missing_values() -> None:
    """ACRO takes std dof from all records of the cell, missing values included; the
    statistic rests on the non-missing ones, so trevor counts those (docs/sdc.md)."""
    v = [float(i) for i in range(11)] + [np.nan] * 5
    df = pd.DataFrame({"a": ["x"] * 16, "b": ["p"] * 16, "v": v})
    report = trevor.check(trevor.crosstab(df.a, df.b, values=df.v, aggfunc="std"))
    assert report.status == "pass"  # 11 values: dof 10
    report = trevor.check(trevor.crosstab(df.a[1:], df.b[1:], values=df.v[1:], aggfunc="std"))
    [finding] = [f for f in report.findings if f.rule == "dof"]
    assert (finding.status, finding.value, finding.limit) == ("fail", 9, 10)


def test_frequency_table_without_evidence_is_read_as_counts() -> None:
    """An output tagged outside the kernel API (no evidence): the backend passes the table
    it read from the CSV; small counts visible in it fail, otherwise a checker judges."""
    small = pd.DataFrame({"region": ["north", "south"], "f": [25, 4], "m": [30, 12]})
    report = check_object(
        statbarn="Frequencies", filename="t.csv", size=50, table=small, evidence=None
    )
    assert report.status == "fail"
    assert report.cells("threshold") == {(1, 0)}
    assert "evidence" in report.rules("review")
    fine = small.assign(f=[25, 40])
    assert (
        check_object(
            statbarn="Frequencies", filename="t.csv", size=50, table=fine, evidence=None
        ).status
        == "review"
    )
    means = small.assign(f=[25.5, 4.2])
    assert (
        check_object(
            statbarn="Frequencies", filename="t.csv", size=50, table=means, evidence=None
        ).status
        == "review"
    )


def test_differencing_against_released_tables() -> None:
    rng = np.random.default_rng(9)
    df = pd.DataFrame({"a": rng.choice(["x", "y"], 300), "b": rng.choice(["p", "q"], 300)})
    released = trevor.crosstab(df.a, df.b).trevor_evidence.to_json()
    # The same table after excluding three people: each cell passes on its own...
    later = df.iloc[3:]
    new = trevor.crosstab(later.a, later.b).trevor_evidence.to_json()
    alone = check_object(statbarn="Frequencies", filename="t.csv", size=9, table=None, evidence=new)
    assert alone.status == "pass"
    # ...but subtracting it from the released one shows the three.
    report = check_object(
        statbarn="Frequencies",
        filename="t.csv",
        size=9,
        table=None,
        evidence=new,
        released=[("table 1", released)],
    )
    assert report.status == "review"
    [finding] = [f for f in report.findings if f.rule == "differencing"]
    assert "table 1" in finding.message and finding.limit == 10
    assert sum(finding.values) == 3
    # An identical table, or one over another population entirely, reveals nothing.
    other = pd.DataFrame({"a": ["x", "y"] * 200, "b": ["p"] * 200 + ["q"] * 200})
    unrelated = trevor.crosstab(other.a, other.b).trevor_evidence.to_json()
    for table in (released, unrelated):
        assert (
            check_object(
                statbarn="Frequencies",
                filename="t.csv",
                size=9,
                table=None,
                evidence=released,
                released=[("t", table)],
            ).status
            == "pass"
        )
