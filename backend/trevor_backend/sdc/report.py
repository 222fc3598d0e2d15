"""Verdicts: one report per output object, and the recommendation for a request."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from . import checks
from . import statbarns as sb
from .blocks import check_blocks
from .checks import FAIL, PASS, REVIEW, Finding, worst
from .differencing import differencing
from .evidence import TableEvidence, evidence_from_json
from .params import DEFAULT, Params
from .suppression import ADVICE, Unprotectable, suggest
from .tabulate import counts_from_table

__all__ = [
    "Finding",
    "ObjectReport",
    "aggregate",
    "check_evidence",
    "check_object",
]


@dataclasses.dataclass
class ObjectReport:
    status: str
    statbarn: str | None
    findings: list[Finding] = dataclasses.field(default_factory=list)
    suppression: dict[str, Any] | None = None
    notes: list[str] = dataclasses.field(default_factory=list)
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.status != PASS]

    def rules(self, status: str | None = None) -> set[str]:
        return {f.rule for f in self.findings if status is None or f.status == status}

    def cells(self, rule: str) -> set[tuple[int, int]]:
        """Positions (row, column) flagged by ``rule``."""
        return {
            (int(i), int(j))
            for f in self.findings
            if f.rule == rule and f.status != PASS
            for i, j in f.positions
        }

    def summary(self) -> str:
        if not self.failing:
            return f"{self.status}: all checks passed"
        return f"{self.status}: " + "; ".join(f"{f.rule}: {f.message}" for f in self.failing)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "statbarn": self.statbarn,
            "findings": [f.to_dict() for f in self.findings],
            "suppression": self.suppression,
            "notes": list(self.notes),
            "params": dict(self.params),
            "summary": self.summary(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectReport:
        return cls(
            status=data["status"],
            statbarn=data.get("statbarn"),
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            suppression=data.get("suppression"),
            notes=list(data.get("notes", [])),
            params=dict(data.get("params", {})),
        )

    def _repr_html_(self) -> str:
        from html import escape

        colour = {PASS: "#1a7f37", REVIEW: "#9a6700", FAIL: "#cf222e"}[self.status]
        items = "".join(
            f"<li><b>{escape(f.rule)}</b> ({escape(f.status)}): {escape(f.message)}</li>"
            for f in self.failing
        )
        return (
            f"<div class='trevor-report'><b style='color:{colour}'>SDC pre-check:"
            f" {self.status.upper()}</b> (statbarn {escape(str(self.statbarn))})"
            f"<ul>{items}</ul></div>"
        )


def _table_evidence(evidence: Any) -> TableEvidence | dict[str, Any] | None:
    if evidence is None:
        return None
    if isinstance(evidence, TableEvidence):
        return evidence
    return evidence_from_json(evidence)


def check_evidence(
    *,
    statbarn: str | None,
    table: pd.DataFrame | None,
    evidence: TableEvidence | dict[str, Any] | None,
    params: Params = DEFAULT,
    released: Iterable[tuple[str, TableEvidence | dict[str, Any]]] | None = None,
    offer_suppression: bool = True,
) -> ObjectReport:
    """The SDC verdict from the evidence alone (no file-level checks).

    ``released``: (name, evidence) of tables already released from the same project, to
    look for differencing. ``offer_suppression``: False to skip the suggestion (a block of
    a several-statistics table gets one for the whole table)."""
    findings: list[Finding] = []
    notes: list[str] = []
    try:
        ev = _table_evidence(evidence)
    except ValueError as exc:
        ev = None
        findings.append(
            Finding(rule="evidence", status=REVIEW, message=f"the evidence is malformed: {exc}")
        )
    if isinstance(ev, TableEvidence) and "column_statbarns" in ev.extra:
        return _check_columns(ev, statbarn, params)
    if isinstance(ev, TableEvidence) and "blocks" in ev.extra:
        status, found, suppression, notes = check_blocks(ev, params, check_evidence)
        return ObjectReport(
            status=status,
            statbarn=statbarn or "mixed (per statistic)",
            findings=found,
            suppression=suppression,
            notes=notes,
            params=params.to_dict(),
        )
    statbarn_id = statbarn
    if statbarn_id is None and ev is not None:
        suggested = ev.statbarn if isinstance(ev, TableEvidence) else ev.get("statbarn")
        if suggested:
            statbarn_id = suggested
            notes.append(f"statbarn {suggested} taken from the evidence")
    entry = sb.get(statbarn_id)
    report = ObjectReport(status=PASS, statbarn=statbarn_id, params=params.to_dict())
    if entry is None and statbarn_id is None and isinstance(ev, TableEvidence):
        # A table from the helpers whose statistic has no rules (a custom aggfunc): fail
        # closed, with the one rule its evidence does support (records per cell).
        findings.append(
            Finding(
                rule="evidence",
                status=FAIL,
                message=f"trevor has no SDC rules for the statistic {ev.statistic!r}: use one"
                " of count, sum, mean, median, std, var, min, max, mode, or name the statbarn"
                " whose rules apply",
            )
        )
        small = checks.threshold(ev, params)
        if small is not None:
            findings.append(small)
    elif entry is None:
        why = (
            "no statbarn was given"
            if statbarn_id is None
            else (f"unknown statbarn {statbarn_id!r}")
        )
        findings.append(
            Finding(
                rule="statbarn", status=REVIEW, message=f"{why}: a checker must judge this output"
            )
        )
    if entry is not None and entry.always_review:
        findings.append(
            Finding(
                rule=sb.MANUAL,
                status=REVIEW,
                message=f"{entry.name} outputs are always reviewed by a checker",
            )
        )
    if ev is None and not any(f.rule == "evidence" for f in findings):
        findings.append(
            Finding(
                rule="evidence",
                status=REVIEW,
                message="no evidence was recorded at source: a checker must judge this output",
            )
        )
    if entry is not None and ev is not None:
        findings.extend(_statbarn_findings(entry, ev, params, notes))
    elif entry is not None and entry.id == "Frequencies" and table is not None:
        # Without evidence, a frequency table's published values are its counts: a small
        # or empty count is visible in the table itself, so those rules can still fail it.
        counted = counts_from_table(table)
        if counted is not None:
            for rule in (checks.threshold, checks.zeros):
                measured = rule(counted, params)
                if measured is not None:
                    measured.message += " (read from the published table: no evidence)"
                    findings.append(measured)
            notes.append("threshold and zeros measured on the published counts")
    if sb.LINKED_TABLES in (entry.checks if entry else ()):
        if released is None:
            notes.append("compare with other outputs from the same data for differencing")
        elif isinstance(ev, TableEvidence):
            findings.extend(differencing(ev, released, params.threshold))
    report.findings = findings
    report.notes = notes
    report.status = worst([f.status for f in findings])
    if report.status == FAIL and isinstance(ev, TableEvidence) and offer_suppression:
        primary = sorted(
            {
                (i, j)
                for f in findings
                if f.status == FAIL and f.rule in checks.SUPPRESSIBLE
                for i, j in f.positions
            }
        )
        _offer_suppression(report, ev, [list(p) for p in primary], params)
    return report


def _offer_suppression(
    report: ObjectReport, ev: TableEvidence, primary: list[list[int]], params: Params
) -> None:
    """Attach the audited suggestion, or say why none can be offered and what to do."""
    try:
        report.suppression = suggest(ev, primary, params)
    except Unprotectable as exc:
        report.suppression = None
        report.findings.append(
            Finding(
                rule="suppression",
                status=FAIL,
                message="no suppression of this table passes the attacker's audit ("
                + "; ".join(exc.why[:3])
                + ("; …" if len(exc.why) > 3 else "")
                + f"): {ADVICE}",
                cells=[ev.cell_labels(i, j) for i, j in exc.cells],
                positions=[[int(i), int(j)] for i, j in exc.cells],
            )
        )


def _check_columns(evidence: TableEvidence, statbarn: str | None, params: Params) -> ObjectReport:
    """describe(): each column is its own statistic with its own statbarn."""
    findings = []
    for j, column_statbarn in enumerate(evidence.extra["column_statbarns"]):
        sub = _column(evidence, j)
        report = check_evidence(
            statbarn=statbarn or column_statbarn, table=None, evidence=sub, params=params
        )
        for f in report.findings:
            f.positions = [[i, j] for i, _ in f.positions]
            f.cells = [
                [evidence.cell_labels(i, j)[0], [evidence.extra["column_statistics"][j]]]
                for i, _ in f.positions
            ]
            f.message = f"{evidence.extra['column_statistics'][j]}: {f.message}"
            findings.append(f)
    status = worst([f.status for f in findings])
    return ObjectReport(
        status=status,
        statbarn=statbarn or "mixed (per column)",
        findings=findings,
        params=params.to_dict(),
        notes=["each describe() column is checked under its own statbarn"],
    )


def _column(evidence: TableEvidence, j: int) -> TableEvidence:
    def col(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[:, j : j + 1]

    return TableEvidence(
        statistic=evidence.extra["column_statistics"][j],
        row_names=evidence.row_names,
        col_names=[],
        rows=evidence.rows,
        cols=[evidence.cols[j]],
        n=evidence.n[:, j : j + 1],
        value=col(evidence.value),
        n_missing=col(evidence.n_missing),
        sum=col(evidence.sum),
        negatives=col(evidence.negatives),
        min=col(evidence.min),
        max=col(evidence.max),
        largest=None if evidence.largest is None else evidence.largest[:, j : j + 1, :],
        margin_rows=evidence.margin_rows,
        top_k=evidence.top_k,
        statbarn=evidence.extra["column_statbarns"][j],
    )


def _statbarn_findings(
    entry: sb.Statbarn, ev: TableEvidence | dict[str, Any], params: Params, notes: list[str]
) -> list[Finding]:
    if isinstance(ev, TableEvidence):
        found = checks.table_findings(entry, ev, params)
        if entry.id in ("CorrelationCoefficients", "StatisticalHypothesisTests"):
            notes.append("degrees of freedom taken per cell from the table evidence")
        return found
    kind = ev.get("kind")
    if kind == "model":
        if sb.DOF not in entry.checks:
            return [
                checks.model_dof(ev, params),
                Finding(
                    rule="evidence",
                    status=REVIEW,
                    message=f"model evidence does not fit statbarn {entry.id}",
                ),
            ]
        return [checks.model_dof(ev, params)]
    if kind == "survival":
        return checks.survival(ev, params)
    return [
        Finding(
            rule="evidence",
            status=REVIEW,
            message=f"no automatic checks for {kind or 'this'} evidence under"
            f" {entry.id}: a checker must judge",
        )
    ]


def check_object(
    *,
    statbarn: str | None,
    filename: str,
    size: int | None,
    table: pd.DataFrame | None,
    evidence: dict[str, Any] | TableEvidence | None,
    params: Params = DEFAULT,
    released: Iterable[tuple[str, TableEvidence | dict[str, Any]]] | None = None,
) -> ObjectReport:
    """The agent's verdict on one stored object: file checks plus the SDC rules (and
    differencing against ``released`` tables when given)."""
    report = check_evidence(
        statbarn=statbarn, table=table, evidence=evidence, params=params, released=released
    )
    file_findings = checks.file_findings(filename, size, params)
    if file_findings:
        report.findings = file_findings + report.findings
        report.status = worst([f.status for f in report.findings])
    return report


def aggregate(reports: Iterable[ObjectReport | str | dict[str, Any]]) -> str:
    """A request's recommendation from its objects' verdicts (fail > review > pass)."""
    statuses: list[str] = []
    for r in reports:
        if isinstance(r, ObjectReport):
            statuses.append(r.status)
        elif isinstance(r, dict):
            statuses.append(r["status"])
        else:
            statuses.append(r)
    return worst(statuses)
