"""A real kernel runs a notebook that tags a crosstab, a figure and a regression; the
workspace manifest then holds the three outputs with their metadata, evidence bound to the
file's sha256, and provenance naming the cell that made each one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from jupyter_trevor import workspace

CELLS = {
    "setup": """
import numpy as np, pandas as pd
import statsmodels.api as sm
import jupyter_trevor as trevor
rng = np.random.default_rng(1)
df = pd.DataFrame({
    "region": rng.choice(["north", "south", "east"], 500, p=[0.5, 0.48, 0.02]),
    "sex": rng.choice(["f", "m"], 500),
    "age": rng.integers(18, 90, 500).astype(float),
    "income": rng.lognormal(10, 0.5, 500),
})
""",
    "table": """
table = trevor.crosstab(df.region, df.sex, values=df.income, aggfunc="mean")
out_table = trevor.tag(table, title="Mean income by region and sex",
                       statbarn="LinearAggregations", justification="Table 2 of the paper")
table
""",
    "figure": """
fig = trevor.hist(df, "age", bins=8)
out_fig = trevor.tag(fig, title="Age distribution", description="all respondents")
""",
    "model": """
model = trevor.ols(df.income, sm.add_constant(df[["age"]]))
out_model = trevor.tag(model, title="Income on age", statbarn="CorrelationCoefficients")
print(out_table.id, out_fig.id, out_model.id)
""",
}


class CellIdClient(NotebookClient):
    """Sends each cell's id in the execute request's metadata, as JupyterLab does."""

    current_cell_id: str | None = None

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()

        def execute(
            code: str,
            silent: bool = False,
            store_history: bool = True,
            user_expressions: dict | None = None,
            allow_stdin: bool | None = None,
            stop_on_error: bool = True,
        ) -> str:
            content = {
                "code": code,
                "silent": silent,
                "store_history": store_history,
                "user_expressions": user_expressions or {},
                "allow_stdin": False,
                "stop_on_error": stop_on_error,
            }
            msg = kc.session.msg(
                "execute_request", content, metadata={"cellId": self.current_cell_id}
            )
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute
        return kc


@pytest.mark.timeout(180)
def test_notebook_tags_table_figure_and_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for name, source in CELLS.items():
        cell = nbformat.v4.new_code_cell(source.strip())
        cell.id = f"cell-{name}"
        nb.cells.append(cell)
    notebook_path = tmp_path / "analysis.ipynb"
    nbformat.write(nb, notebook_path)

    # What Jupyter Server gives a notebook's kernel: its path, and here the workspace.
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook_path))
    monkeypatch.setenv("TREVOR_WORKSPACE", str(tmp_path))
    monkeypatch.delenv("TREVOR_SDC_PARAMS", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend

    client = CellIdClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )

    def on_cell_execute(cell: Any, cell_index: int) -> None:
        client.current_cell_id = cell.id

    client.on_cell_execute = on_cell_execute
    executed = client.execute()

    # The table cell shows the table with its inline verdict.
    table_outputs = executed.cells[1].outputs
    html = "".join(o.get("data", {}).get("text/html", "") for o in table_outputs)
    assert "SDC pre-check" in html
    # The figure and model cells show their verdicts under the cell.
    assert "SDC pre-check" in json.dumps(executed.cells[2].outputs)

    ids = executed.cells[3].outputs[-1]["text"].split()
    records = {r["id"]: r for r in workspace.list_outputs(tmp_path)}
    assert set(records) == set(ids)
    by_cell = {r["provenance"]["cell_id"]: r for r in records.values()}
    assert set(by_cell) == {"cell-table", "cell-figure", "cell-model"}

    for cell_id, record in by_cell.items():
        folder = tmp_path / ".trevor" / "outputs" / record["id"]
        obj = folder / record["filename"]
        assert obj.is_file()
        assert record["sha256"] == workspace.sha256_file(obj)
        assert record["evidence"]["sha256"] == record["sha256"]
        assert record["size"] == obj.stat().st_size
        prov = record["provenance"]
        assert prov["notebook_path"] == str(notebook_path)
        source = next(c.source for c in executed.cells if c.id == cell_id)
        assert prov["code"] == source
        executed_cell = next(c for c in executed.cells if c.id == cell_id)
        assert prov["execution_count"] == executed_cell.execution_count
        assert prov["packages"]["jupyter-trevor"]
        assert prov["kernel"]["name"]
        assert json.loads((folder / "v1" / "metadata.json").read_text()) == record

    table = by_cell["cell-table"]
    assert table["filename"].endswith(".csv") and table["media_type"] == "text/csv"
    assert table["metadata"]["statbarn"] == "LinearAggregations"
    assert table["metadata"]["justification"] == "Table 2 of the paper"
    assert table["evidence"]["kind"] == "table" and table["evidence"]["statistic"] == "mean"
    assert table["report"]["status"] == "fail"  # "east" has few respondents
    figure = by_cell["cell-figure"]
    assert figure["media_type"] == "image/png"
    assert figure["evidence"]["kind"] == "figure"
    assert figure["metadata"]["statbarn"] == "Frequencies"
    assert figure["metadata"]["description"] == "all respondents"
    model = by_cell["cell-model"]
    assert model["evidence"]["kind"] == "model" and model["evidence"]["df_resid"] == 498
    assert model["report"]["status"] == "pass"
