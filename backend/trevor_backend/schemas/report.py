"""The agent's SDC report and the evidence and provenance recorded at source."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ..contract import Decision, Visibility
from .base import Model, Open

# These mirror what trevor_backend.sdc produces (Finding.to_dict, ObjectReport.to_dict,
# AgentReviewJob.build_report, TableEvidence.to_json). They allow extra members so the engine
# can add fields (e.g. suppression intervals) without breaking the API; a new field is then
# added here to document it.

Verdict = Literal["pass", "fail", "review"]


class SdcFinding(Open):
    """One rule's result: the cells it concerns, the measured value(s) and the limit."""

    rule: str = Field(description="threshold, p_ratio, nk_rule, zeros, negative, missing, dof, …")
    status: Verdict
    message: str
    cells: list[Any] = Field(
        default_factory=list,
        description="[row labels, column labels] of each flagged cell, in positions' order",
    )
    value: Any = Field(default=None, description="the worst measured value")
    limit: Any = Field(default=None, description="the rule's threshold")
    values: list[Any] = Field(default_factory=list, description="measured value per cell")
    positions: list[list[int]] = Field(
        default_factory=list,
        description="[row, column] of each flagged cell, 0-based in the published table's body",
    )


class SuppressionAudit(Open):
    """The suppression pattern checked against an attacker who solves the published table's
    linear constraints (docs/sdc.md)."""

    status: str
    model: str | None = Field(default=None, description="frequency or magnitude")
    solver: str | None = None
    protection_level: Any = None
    protection_ratio: Any = None
    cells_checked: int | None = None


class SuppressionInterval(Open):
    """Per suppressed cell: the interval the published table still allows, and what its
    protection required."""

    position: list[int]
    primary: bool
    low: Any = None
    high: Any = None
    required_width: Any = None
    required_low: Any = None
    required_high: Any = None


class InformationLoss(Open):
    cells: int
    contributors: int | None = None


class SuppressionSuggestion(Open):
    method: str
    rows: list[Any] = Field(default_factory=list)
    cols: list[Any] = Field(default_factory=list)
    values: list[Any] = Field(default_factory=list)
    primary: list[list[int]] = Field(default_factory=list)
    secondary: list[list[int]] = Field(default_factory=list)
    rounded: list[Any] | None = None
    rounding_base: int | None = None
    audit: SuppressionAudit | None = None
    intervals: list[SuppressionInterval] = Field(default_factory=list)
    information_loss: InformationLoss | None = None


class ObjectAgentReport(Open):
    """The agent's verdict on one object version."""

    status: Verdict
    statbarn: str | None = None
    findings: list[SdcFinding] = Field(default_factory=list)
    suppression: SuppressionSuggestion | None = None
    notes: list[str] = Field(default_factory=list)
    summary: str = ""
    filename: str | None = None
    logical_id: str | None = None
    version: int | None = None
    sha256: str | None = None
    has_evidence: bool | None = None


class AgentReport(Open):
    """The agent's review of one revision (its ``schema`` member says
    ``trevor.agent-report/1``)."""

    revision: int | None = None
    generated_at: str | None = None
    recommendation: Verdict
    counts: dict[str, int] = Field(
        default_factory=dict, description="objects per verdict: pass, review, fail"
    )
    summary: str = ""
    params: dict[str, Any] = Field(default_factory=dict, description="SDC parameters applied")
    notes: list[str] = Field(default_factory=list)
    objects: dict[str, ObjectAgentReport] = Field(default_factory=dict, description="per object id")
    narrative: str | None = Field(default=None, description="optional LLM summary; never decides")
    narrative_error: str | None = None


class AgentReportOut(Model):
    request: str
    revision: int | None
    available: bool
    created_at: datetime | None
    recommendation: Verdict | None
    report: AgentReport | None


class TableEvidenceCells(Open):
    """Per-cell grids aligned with rows x cols; null where a value is missing."""

    n: list[Any]
    value: list[Any] | None = None
    n_missing: list[Any] | None = None
    negatives: list[Any] | None = None
    sum: list[Any] | None = None
    min: list[Any] | None = None
    max: list[Any] | None = None
    largest: list[Any] | None = Field(default=None, description="top contributions per cell")


class Evidence(Open):
    """SDC facts computed at source from the raw records (``schema`` ``trevor.evidence/1``).
    ``kind`` says which fields are present: table (rows, cols, cells), model (nobs, df_resid),
    survival (times, at_risk, events, censored)."""

    kind: str | None = None
    sha256: str | None = Field(default=None, description="the file the evidence belongs to")
    statistic: str | None = None
    statbarn: str | None = None
    row_names: list[Any] | None = None
    col_names: list[Any] | None = None
    rows: list[Any] | None = None
    cols: list[Any] | None = None
    margin_rows: list[int] | None = None
    margin_cols: list[int] | None = None
    top_k: int | None = None
    cells: TableEvidenceCells | None = None
    structural_zeros: list[Any] | None = None
    model: str | None = None
    nobs: float | None = None
    df_resid: float | None = None
    df_model: float | None = None


class Provenance(Open):
    """Where an output was made, as the kernel recorded it."""

    notebook_path: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code: str | None = None
    kernel: dict[str, Any] | str | None = Field(
        default=None, description="implementation, python version, pid"
    )
    packages: dict[str, Any] | None = Field(default=None, description="package -> version")


class ObjectSourceOut(Model):
    """The evidence and provenance recorded at source for one object version."""

    object_id: str
    sha256: str
    evidence: Evidence | None
    evidence_matches: bool = Field(
        description="false when the evidence names other bytes than this object's (ignored by "
        "the agent)"
    )
    provenance: Provenance | None
    note: str | None = Field(
        default=None, description="why stored evidence or provenance is not shown"
    )


class ObjectReviewOut(Model):
    revision: int
    reviewer: str
    decision: Decision
    comment: str | None
    visibility: Visibility
