"""Pydantic v2 models of the REST API (SPEC §9), kept apart from the ORM models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..contract import Decision, Direction, ObjectState, RequestStatus, Role, Visibility

TITLE_MAX = 500
TEXT_MAX = 20_000


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors ----------------------------------------------------------------------------------


class FieldErrorOut(Model):
    pointer: str
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details; extension members (e.g. current_state) may follow."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldErrorOut] = Field(default_factory=list)


# --- service ---------------------------------------------------------------------------------


class Health(Model):
    status: str


class Ready(Model):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


class ApiLink(Model):
    href: str
    title: str


class ApiIndex(Model):
    """``GET /api/v1/``: where to start (links to the API description and the main lists)."""

    name: str
    version: str
    api_version: str
    links: dict[str, ApiLink]


class Version(Model):
    version: str
    api: str


# --- users and projects ----------------------------------------------------------------------


class MembershipOut(Model):
    project: str
    role: Role


class UserMe(Model):
    username: str
    display_name: str | None
    email: str | None
    admin: bool
    memberships: list[MembershipOut]


class ProjectOut(Model):
    id: str
    name: str
    description: str
    my_role: Role | None


class ProjectList(Model):
    items: list[ProjectOut]


class StatbarnList(Model):
    items: list[dict[str, Any]]


# --- requests and objects --------------------------------------------------------------------


class RequestCreate(Model):
    project: str = Field(min_length=1, max_length=128)
    direction: Direction = Direction.EGRESS
    title: str = Field(min_length=1, max_length=TITLE_MAX)
    description: str = Field(default="", max_length=TEXT_MAX)

    @field_validator("title")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v.strip()


class MetadataIn(Model):
    """Metadata of a logical object. Fields left out keep their current value."""

    title: str | None = Field(default=None, max_length=TITLE_MAX)
    description: str | None = Field(default=None, max_length=TEXT_MAX)
    statbarn: str | None = Field(default=None, max_length=64)
    justification: str | None = Field(default=None, max_length=TEXT_MAX)
    suppression_notes: str | None = Field(default=None, max_length=TEXT_MAX)
    tags: list[str] | None = Field(default=None, max_length=50)


class MetadataOut(Model):
    title: str
    description: str
    statbarn: str | None
    justification: str
    suppression_notes: str
    tags: list[str]


class ObjectOut(Model):
    id: str
    logical_id: str
    version: int
    supersedes_id: str | None
    filename: str
    media_type: str
    size: int
    sha256: str
    state: ObjectState
    created_at: datetime
    metadata: MetadataOut
    has_evidence: bool
    verdict: Literal["pass", "fail", "review"] | None = None


class RequestOut(Model):
    id: str
    project: str
    direction: Direction
    title: str
    description: str
    status: RequestStatus
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    actions: list[str] = Field(description="Actions the caller may take now")
    objects: list[ObjectOut]


class RequestList(Model):
    items: list[RequestOut]
    next_cursor: str | None


class EvidenceIn(Model):
    """SDC evidence computed in the kernel, bound to the object's sha256, plus provenance."""

    evidence: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None


# --- audit -----------------------------------------------------------------------------------


class AuditEventOut(Model):
    seq: int
    created_at: datetime
    type: str
    actor: str
    project: str | None
    request: str | None
    object: str | None
    payload: dict[str, Any]
    correlation_id: str | None
    hash: str


class AuditList(Model):
    items: list[AuditEventOut]
    next_cursor: str | None


# --- previews --------------------------------------------------------------------------------


class PreviewOut(Model):
    """A rendered object: ``html`` is a sanitised fragment, or null when only metadata is
    shown (too large, a type with no safe rendering, or a file the renderer could not read)."""

    object_id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    kind: Literal[
        "table", "markdown", "code", "text", "json", "image", "pdf", "notebook", "metadata", "none"
    ]
    html: str | None
    truncated: bool = Field(description="Only the first rows (tables) are shown")
    note: str | None


# --- notifications ---------------------------------------------------------------------------


class NotificationOut(Model):
    id: str
    event_type: str
    request: str | None
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None
    read: bool


class NotificationList(Model):
    items: list[NotificationOut]
    next_cursor: str | None


class NotificationPatch(Model):
    read: bool


class UnreadCount(Model):
    unread: int


# --- reviews (docs/review-workflow.md) -------------------------------------------------------


class ObjectDecisionIn(Model):
    object_id: str = Field(min_length=1, max_length=32)
    decision: Decision
    comment: str = Field(default="", max_length=TEXT_MAX)
    visibility: Visibility = Visibility.PUBLIC


class ReviewIn(Model):
    """A checker's review of the current revision: an overall decision and one decision for
    every current object. Requesting changes or rejecting an object needs a comment."""

    decision: Decision
    summary: str = Field(default="", max_length=TEXT_MAX)
    objects: list[ObjectDecisionIn] = Field(max_length=1000)


class ObjectDecisionOut(Model):
    object_id: str
    decision: Decision
    comment: str | None = Field(description="null when the comment is private to checkers")
    visibility: Visibility


class ReviewOut(Model):
    id: str
    revision: int
    kind: Literal["human"]
    reviewer: str = Field(description="username; 'checker N' for researchers")
    mine: bool
    decision: Decision
    summary: str
    created_at: datetime
    objects: list[ObjectDecisionOut]


class ReviewList(Model):
    request: str
    revision: int
    status: RequestStatus
    required_reviews: int
    items: list[ReviewOut]
    hidden: int = Field(description="Reviews of open rounds the caller may not see yet (blinding)")


class ReviewSubmitted(Model):
    review: ReviewOut
    request: RequestOut
    decided: bool = Field(description="This review completed the round")


class ReviewQueueItem(Model):
    request: RequestOut
    recommendation: Literal["pass", "fail", "review"] | None
    verdicts: dict[str, int] = Field(description="Agent verdict counts: pass, review, fail")
    reviews_received: int
    reviews_required: int


class ReviewQueue(Model):
    items: list[ReviewQueueItem]
    next_cursor: str | None = None


# --- the agent's SDC report and the evidence recorded at source ------------------------------
# These mirror what trevor_backend.sdc produces (Finding.to_dict, ObjectReport.to_dict,
# AgentReviewJob.build_report, TableEvidence.to_json). They allow extra members so the engine
# can add fields (e.g. suppression intervals) without breaking the API; a new field is then
# added here to document it.

Verdict = Literal["pass", "fail", "review"]


class Open(BaseModel):
    """A documented shape that tolerates fields added later by the SDC engine."""

    model_config = ConfigDict(extra="allow")


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


class LineageVersion(Model):
    object: ObjectOut
    agent: dict[str, Any] | None = Field(description="The agent's verdict on this version")
    reviews: list[ObjectReviewOut]


class CellChange(Model):
    row: Any
    column: Any
    old: str
    new: str


class TableDiff(Model):
    older: str = Field(description="object id of the earlier version")
    newer: str = Field(description="object id of the later version")
    comparable: bool
    note: str | None = None
    key: Literal["first_column", "position"] | None = None
    rows_added: list[Any] = Field(default_factory=list)
    rows_removed: list[Any] = Field(default_factory=list)
    columns_added: list[Any] = Field(default_factory=list)
    columns_removed: list[Any] = Field(default_factory=list)
    cells_changed: list[CellChange] = Field(default_factory=list)
    truncated: bool = False


class LineageOut(Model):
    logical_id: str
    versions: list[LineageVersion]
    diffs: list[TableDiff] = Field(
        description="Cell-level differences between consecutive CSV/TSV versions (or the pair "
        "asked for with ?diff=A,B)"
    )


# --- API tokens (GET /api/v1/tokens, DELETE /api/v1/tokens/{id}) -------------------------------


class TokenOut(Model):
    id: str
    user: str
    prefix: str = Field(description="The secret's first characters, to tell tokens apart")
    note: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Updated at most every few minutes")


class TokenList(Model):
    items: list[TokenOut]
