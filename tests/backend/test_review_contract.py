"""The review view's contract: the agent report and the evidence recorded at source, as the
documented schemas (AgentReport, SdcFinding, Evidence, Provenance) describe them, read back
through the API from a real agent run.

The checker's UI highlights cells from a finding's ``positions``: these tests tie the positions
to the published table independently, by reading the CSV the researcher uploaded.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from tests.backend.review_support import FAILING, add_table, run_agent
from tests.fixtures.backend import LiveBackend
from trevor_backend.schemas import AgentReport, Evidence, ObjectSourceOut, Provenance


async def _submitted(live: LiveBackend) -> tuple[str, dict[str, Any]]:
    alice = live.client("alice")
    rid = (await alice.create_request("p1", "Contract"))["id"]
    table = await add_table(alice, rid, FAILING, "t.csv", title="T")
    assert (await alice.post(f"/api/v1/requests/{rid}/submit", {})).status == 200
    await run_agent(live)
    return rid, table


async def test_report_findings_point_at_the_failing_cells(live: LiveBackend) -> None:
    rid, table = await _submitted(live)
    carol = live.client("carol")
    r = await carol.get(f"/api/v1/requests/{rid}/report")
    assert r.status == 200, r.body
    report = AgentReport.model_validate(r.json["report"])
    assert report.recommendation == "fail"
    obj = report.objects[table["id"]]
    assert obj.status == "fail" and obj.sha256 == table["sha256"]
    (threshold,) = [f for f in obj.findings if f.rule == "threshold"]
    assert threshold.status == "fail" and threshold.limit == 10 and threshold.value == 3
    # The suggested suppression, audited, in its documented shape.
    assert obj.suppression is not None and obj.suppression.audit is not None
    assert obj.suppression.audit.status == "pass"
    assert [1, 0] in obj.suppression.primary
    assert {tuple(c.position) for c in obj.suppression.intervals} >= {(1, 0)}
    # The positions name the body cell of the published CSV that holds the small count.
    content = await carol.get(f"/api/v1/requests/{rid}/objects/{table['id']}/content")
    rows = list(csv.reader(io.StringIO(content.body.decode())))
    body = [row[1:] for row in rows[1:]]
    assert [body[i][j] for i, j in threshold.positions] == ["3"]
    # …and the labels in ``cells`` agree with the positions (row label, column header).
    header = rows[0][1:]
    assert [[[rows[1 + i][0]], [header[j]]] for i, j in threshold.positions] == threshold.cells


async def test_source_returns_evidence_and_provenance(live: LiveBackend) -> None:
    rid, table = await _submitted(live)
    alice = live.client("alice")
    # Provenance as the kernel records it (kernel as a mapping, packages by name).
    prov = {
        "notebook_path": "analysis.ipynb",
        "execution_count": 7,
        "code": "trevor.crosstab(df.region, df.sex)",
        "kernel": {"implementation": "CPython", "python": "3.11.9"},
        "packages": {"pandas": "2.2.3"},
        "workspace_output_id": "abc",
    }
    rid2 = (await alice.create_request("p1", "With provenance"))["id"]
    t2 = await add_table(alice, rid2, FAILING, "t.csv", title="T")
    ev = await alice.post(
        f"/api/v1/requests/{rid2}/objects/{t2['id']}/evidence", {"provenance": prov}
    )
    assert ev.status == 200, ev.body
    got = await alice.get(f"/api/v1/requests/{rid2}/objects/{t2['id']}/source")
    assert got.status == 200, got.body
    out = ObjectSourceOut.model_validate(got.json)
    assert out.evidence_matches and out.note is None
    assert out.evidence is not None and out.evidence.kind == "table"
    assert out.evidence.cells is not None and len(out.evidence.cells.n) == 2
    assert out.provenance == Provenance.model_validate(prov)
    assert got.json["provenance"]["workspace_output_id"] == "abc"  # extra members kept

    # A checker of the project reads it once submitted; the first request has no provenance.
    carol = live.client("carol")
    first = await carol.get(f"/api/v1/requests/{rid}/objects/{table['id']}/source")
    assert first.status == 200 and first.json["provenance"] is None
    assert Evidence.model_validate(first.json["evidence"]).statistic == "count"


async def test_source_of_evidence_in_another_shape_says_so(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request("p1", "Odd evidence"))["id"]
    up = await alice.upload(rid, b"a,b\n1,2\n", "odd.csv")
    oid = up.json["id"]
    odd = {"evidence": {"cells": [], "sha256": up.json["sha256"]}}
    assert (await alice.post(f"/api/v1/requests/{rid}/objects/{oid}/evidence", odd)).status == 200
    got = await alice.get(f"/api/v1/requests/{rid}/objects/{oid}/source")
    assert got.status == 200, got.body
    assert got.json["evidence"] is None and "evidence" in got.json["note"]
    assert got.json["evidence_matches"] is True
    # Another project's researcher cannot tell the object exists.
    assert (
        await live.client("bob").get(f"/api/v1/requests/{rid}/objects/{oid}/source")
    ).status == 404
