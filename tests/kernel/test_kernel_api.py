"""The kernel API in-process: helpers, check, tag, versions, form, workspace manifest."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import jupyter_trevor as trevor
from jupyter_trevor import workspace
from jupyter_trevor.kernel import config
from jupyter_trevor.kernel.evidence import evidence_of
from trevor_backend.sdc import check_object

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TREVOR_WORKSPACE", str(tmp_path))
    monkeypatch.delenv("TREVOR_SDC_PARAMS", raising=False)
    config.reset()
    yield tmp_path
    config.reset()


@pytest.fixture
def data() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 400
    return pd.DataFrame(
        {
            "region": rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.27, 0.03]),
            "sex": rng.choice(["f", "m"], n),
            "age": rng.integers(18, 90, n),
            "income": rng.lognormal(10, 0.5, n),
            "smoker": rng.integers(0, 2, n),
        }
    )


def test_crosstab_check_and_inline_verdict(data: pd.DataFrame) -> None:
    table = trevor.crosstab(data.region, data.sex)
    assert isinstance(table, pd.DataFrame)
    pd.testing.assert_frame_equal(
        pd.DataFrame(table), pd.crosstab(data.region, data.sex, dropna=False)
    )
    report = trevor.check(table)
    assert report.status == "fail"
    west = list(table.index).index("west")
    assert report.cells("threshold") == {(west, 0), (west, 1)}
    [finding] = [f for f in report.findings if f.rule == "threshold"]
    assert finding.cells == [[["west"], ["f"]], [["west"], ["m"]]]
    assert finding.limit == 10 and finding.value == min(table.loc["west"])
    html = table._repr_html_()
    assert "SDC pre-check: FAIL" in html and "ffebe9" in html  # failing cells are marked
    # Parameters per call: a lower threshold passes the same table.
    assert trevor.check(table, threshold=min(table.loc["west"])).status == "pass"
    with pytest.raises(ValueError, match="'treshold'"):
        trevor.check(table, treshold=3)


def test_session_and_workspace_parameters(
    data: pd.DataFrame, isolated_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = trevor.crosstab(data.region, data.sex)
    low = int(table.to_numpy().min())
    monkeypatch.setenv("TREVOR_SDC_PARAMS", json.dumps({"threshold": low}))
    assert trevor.check(table).status == "pass"
    (isolated_workspace / ".trevor").mkdir()
    (isolated_workspace / ".trevor" / "params.json").write_text('{"threshold": 50}')
    assert trevor.current_params().threshold == 50
    trevor.configure(threshold=low)
    assert trevor.check(table).status == "pass"
    with pytest.raises(ValueError):
        trevor.configure(p_ratio=2)


def test_pivot_describe_and_models(data: pd.DataFrame) -> None:
    pivot = trevor.pivot_table(
        data, values="income", index="region", columns="sex", aggfunc="mean", margins=True
    )
    pd.testing.assert_frame_equal(
        pd.DataFrame(pivot),
        pd.pivot_table(
            data,
            values="income",
            index="region",
            columns="sex",
            aggfunc="mean",
            margins=True,
            dropna=False,
        ),
    )
    assert trevor.check(pivot).status == "fail"
    summary = trevor.describe(data[["age", "income"]])
    assert list(summary.columns) == ["count", "mean", "std", "min", "25%", "50%", "75%", "max"]
    report = trevor.check(summary)
    # Extremes are real people's values: reviewed; the rest passes with 400 records.
    assert report.status == "review"
    assert {f.rule for f in report.failing} == {"endpoints"}
    assert {j for _, j in report.cells("endpoints")} == {3, 7}
    # The backend reaches the same verdict from the stored JSON evidence.
    stored = json.loads(json.dumps(summary.trevor_evidence.to_json()))
    backend = check_object(
        statbarn=None, filename="summary.csv", size=100, table=None, evidence=stored
    )
    assert backend.to_dict()["findings"] == report.to_dict()["findings"]
    by_region = trevor.describe(data[["income"]], by=data.region)
    assert trevor.check(by_region).status == "fail"  # "west" is small
    by_name = trevor.describe(data[["region", "income"]], by="region")
    pd.testing.assert_frame_equal(pd.DataFrame(by_name), pd.DataFrame(by_region), check_names=False)
    west = list(by_name.index).index("west")
    assert (west, 0) in trevor.check(by_name).cells("threshold")

    import statsmodels.api as sm

    x = sm.add_constant(data[["age"]].astype(float))
    ols = trevor.ols(data.income, x)
    assert evidence_of(ols)["df_resid"] == len(data) - 2
    assert trevor.check(ols).status == "pass"
    small = trevor.ols(data.income[:11], x[:11])  # 9 residual dof
    assert trevor.check(small).status == "fail"
    logit = trevor.logit("smoker ~ age", data=data)
    probit = trevor.probit("smoker ~ age", data=data)
    assert trevor.check(logit).status == trevor.check(probit).status == "pass"


def test_tag_table_writes_manifest_with_bound_evidence(
    data: pd.DataFrame, isolated_workspace: Path
) -> None:
    # West has 6 records: its row total, implied by the others, is below the threshold and
    # no suppression can protect its cells (test_suppression_properties); with the west
    # records twice the small cells can be protected and the report carries a suggestion.
    data = pd.concat([data, data[data.region == "west"]], ignore_index=True)
    table = trevor.crosstab(data.region, data.sex)
    out = trevor.tag(
        table,
        title="Region by sex",
        statbarn="Frequencies",
        description="counts",
        justification="paper table 1",
        suppression_notes="none",
        tags=["t1"],
    )
    folder = isolated_workspace / ".trevor" / "outputs" / out.id
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["filename"].endswith(".csv") and meta["media_type"] == "text/csv"
    assert (folder / meta["filename"]).read_text() == table.to_csv()
    assert meta["sha256"] == workspace.sha256_file(folder / meta["filename"])
    assert meta["evidence"]["sha256"] == meta["sha256"]
    assert meta["metadata"] == {
        "title": "Region by sex",
        "description": "counts",
        "statbarn": "Frequencies",
        "justification": "paper table 1",
        "suppression_notes": "none",
        "tags": ["t1"],
    }
    assert meta["report"]["status"] == "fail"
    assert meta["report"]["suppression"]["primary"]
    prov = meta["provenance"]
    assert prov["packages"]["pandas"] == pd.__version__ and prov["time"]
    for field in ("id", "version", "size", "created_at", "versions"):
        assert field in meta
    with pytest.raises(ValueError, match="statbarn"):
        trevor.tag(table, title="x", statbarn="Tables")


def test_retagging_makes_versions_and_keeps_the_old_ones(
    data: pd.DataFrame, isolated_workspace: Path
) -> None:
    data = pd.concat([data, data[data.region == "west"]], ignore_index=True)  # as above
    table = trevor.crosstab(data.region, data.sex)
    first = trevor.tag(table, title="Region by sex", id="region-sex")
    fixed = trevor.suppress(table)
    second = trevor.tag(fixed, title="Region by sex", id="region-sex")
    assert (first.version, second.version) == (1, 2)
    assert second.status == "pass"  # the accepted suggestion passes
    listing = trevor.outputs()
    assert listing["id"].tolist() == ["region-sex"]
    assert listing.loc[0, "version"] == 2
    v1 = workspace.read_output(isolated_workspace, "region-sex", version=1)
    assert v1["report"]["status"] == "fail"
    assert [v["version"] for v in second.record["versions"]] == [1, 2]
    assert workspace.object_path(isolated_workspace, "region-sex", 1).read_text() == (
        table.to_csv()
    )
    with pytest.raises(KeyError):
        workspace.read_output(isolated_workspace, "region-sex", version=3)
    with pytest.raises(ValueError):
        workspace.read_output(isolated_workspace, "../etc")


def test_suppress_refuses_when_no_suppression_protects(data: pd.DataFrame) -> None:
    """West's 6 records: its row total follows from the others, so no blanking keeps its
    cells' intervals 10 wide. suppress() says so and what to do instead of blanking."""
    table = trevor.crosstab(data.region, data.sex)
    with pytest.raises(ValueError, match="merge small categories"):
        trevor.suppress(table)


def test_tag_figure_model_series_and_file(
    data: pd.DataFrame, isolated_workspace: Path, tmp_path: Path
) -> None:
    fig = trevor.hist(data, "age", bins=5)
    out = trevor.tag(fig, title="Age")
    assert out.record["filename"] == "age.png" and out.record["media_type"] == "image/png"
    assert out.path.read_bytes().startswith(b"\x89PNG")
    assert out.record["evidence"]["kind"] == "figure"
    assert out.record["evidence"]["sha256"] == out.record["sha256"]
    assert out.record["metadata"]["statbarn"] == "Frequencies"
    svg = trevor.tag(fig, title="Age", id="age-svg", format="svg")
    assert svg.status == "fail" and "blocked_extension" in {
        f["rule"] for f in svg.record["report"]["findings"]
    }

    import statsmodels.api as sm

    model = trevor.ols(data.income, sm.add_constant(data[["age"]].astype(float)))
    out = trevor.tag(model, title="Income model")
    assert out.record["filename"].endswith(".txt")
    assert "OLS Regression Results" in out.path.read_text()
    assert out.record["evidence"]["df_resid"] == len(data) - 2
    assert out.record["metadata"]["statbarn"] == "CorrelationCoefficients"
    as_json = trevor.tag(model, title="Income model", id="model-json", format="json")
    assert json.loads(as_json.path.read_text())["df_resid"] == len(data) - 2

    # A plain pandas Series has no evidence: its published counts are checked as they are.
    series = data.region.value_counts()
    out = trevor.tag(series, title="Regions", statbarn="Frequencies")
    assert out.record["evidence"] is None
    assert series["west"] < 10 and out.status == "fail"
    assert {"evidence", "threshold"} <= {f["rule"] for f in out.record["report"]["findings"]}

    path = tmp_path / "notes.md"
    path.write_text("# results\n")
    out = trevor.tag(path, title="Notes", statbarn="Clusters")
    assert out.record["filename"] == "notes.md" and out.status == "review"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert trevor.tag(empty, title="Empty").status == "fail"
    with pytest.raises(TypeError):
        trevor.tag(object(), title="?")
    assert set(trevor.outputs()["id"]) >= {out.id, "age-svg", "model-json"}


def test_form_shows_guidance_and_live_verdict_then_tags(data: pd.DataFrame) -> None:
    table = trevor.crosstab(data.region, data.sex, values=data.income, aggfunc="mean")
    form = trevor.form(table, title="Mean income")
    assert form.statbarn.value == "LinearAggregations"  # suggested by the helper
    assert "nk_n" in form.guidance.value and "FAIL" in form.verdict.value
    assert "p_ratio" in form.verdict.value
    # The verdict follows the statbarn: frequency rules have no dominance check.
    form.statbarn.value = "Frequencies"
    assert "Frequencies" in form.guidance.value and "p_ratio" not in form.verdict.value
    form.statbarn.value = "CalculatedRatios"
    assert "always reviewed" in form.verdict.value
    form.statbarn.value = "LinearAggregations"
    form.justification.value = "needed for the paper"
    form.button.click()
    assert form.result is not None and form.result.status == "fail"
    assert form.result.record["metadata"]["justification"] == "needed for the paper"
    assert "Tagged as" in form.status.value


def test_large_tables_render_truncated_with_the_verdict() -> None:
    # 200 x 30 cells of 20 people but one of 3: the pre-check fails on that one cell (thousands
    # of small cells would spend the test's time solving their suppression, not rendering).
    counts = np.full((200, 30), 20)
    counts[0, 0] = 3
    rows, cols = np.nonzero(counts)
    people = counts[rows, cols]
    big = trevor.crosstab(
        pd.Series(np.repeat(rows, people), name="r"),
        pd.Series(np.repeat(cols, people), name="c"),
    )
    html = big._repr_html_()
    assert "SDC pre-check: FAIL" in html
    assert "ffebe9" not in html and "..." in html  # pandas' truncated view, no styling


def test_a_large_tables_display_leaves_the_suppression_offer_to_suppress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The offer's audited search solved LPs for every blanked cell while the cell's output
    waited (16 s for 6,000 cells of 3 people on average). A display shows only the verdict, so
    above ``MAX_OFFER_CELLS`` it leaves the offer out and says where to get it; the verdict is
    the same, and ``trevor.check`` and ``trevor.suppress`` still make the offer."""
    from jupyter_trevor.kernel import display
    from trevor_backend.sdc import report as sdc_report

    searched: list[int] = []
    real = sdc_report.suggest

    def counting(ev, primary, params):  # type: ignore[no-untyped-def]
        searched.append(len(primary))
        return real(ev, primary, params)

    monkeypatch.setattr(sdc_report, "suggest", counting)
    rng = np.random.default_rng(7)

    def table(shape: tuple[int, int], people: int) -> pd.DataFrame:
        return trevor.crosstab(
            pd.Series(rng.integers(0, shape[0], people), name="r"),
            pd.Series(rng.integers(0, shape[1], people), name="c"),
        )

    big = table((40, 30), 4000)  # 1,200 cells of about 3: many below the threshold
    assert big.size > display.MAX_OFFER_CELLS
    html = big._repr_html_()
    assert "SDC pre-check: FAIL" in html and "trevor.suppress(result)" in html
    assert searched == []
    form = trevor.form(big, title="Big")
    assert "FAIL" in form.verdict.value and "trevor.suppress(result)" in form.verdict.value
    assert searched == []
    shown = {f.rule for f in display.shown_check(big)[0].findings}
    full = trevor.check(big)
    assert searched and full.status == "fail" and full.suppression is not None
    assert shown <= {f.rule for f in full.findings}
    assert {f.rule for f in full.findings} - shown <= {"suppression"}

    # Only a failure suppression can answer points to trevor.suppress.
    from trevor_backend.sdc.checks import Finding

    other = display.shown_check(big)[0]
    other.findings = [Finding(rule="evidence", status="fail", message="no rules for this")]
    assert "trevor.suppress(result)" not in display.verdict_banner(other, offered=False)

    searched.clear()
    small = table((10, 10), 300)  # 100 cells: offered on display as before
    small_html = small._repr_html_()
    assert searched and "trevor.suppress(result)" not in small_html


def test_lazy_package_api_matches_the_kernel_module() -> None:
    """`import jupyter_trevor` stays light by naming the kernel API lazily; the names it
    promises must be exactly what the kernel module exports."""
    import jupyter_trevor
    from jupyter_trevor import kernel

    assert set(jupyter_trevor._KERNEL_API) == set(kernel.__all__)
    for name in kernel.__all__:
        assert getattr(jupyter_trevor, name) is getattr(kernel, name)
