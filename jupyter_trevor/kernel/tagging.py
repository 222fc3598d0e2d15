"""``trevor.tag``: write an output, its metadata, evidence, pre-check and provenance to the
workspace manifest (``.trevor/outputs/<id>/``)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from trevor_backend.sdc import statbarns as sb
from trevor_backend.sdc.checks import file_findings, worst
from trevor_backend.sdc.evidence import TableEvidence, evidence_to_json

from .. import workspace
from .config import current_params, workspace_root
from .display import verdict_banner
from .evidence import evidence_of
from .precheck import check_with_evidence, remember_statbarn

_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".json": "application/json",
    ".pdf": "application/pdf",
    ".html": "text/html",
    ".md": "text/markdown",
    ".ipynb": "application/x-ipynb+json",
    ".tsv": "text/tab-separated-values",
    ".parquet": "application/vnd.apache.parquet",
}

_PACKAGES = (
    "jupyter-trevor",
    "pandas",
    "numpy",
    "matplotlib",
    "statsmodels",
    "ipykernel",
    "ipython",
)


@dataclasses.dataclass
class TaggedOutput:
    """What ``tag`` returns: the manifest record, with the verdict shown in the notebook."""

    record: dict[str, Any]

    @property
    def id(self) -> str:
        output_id: str = self.record["id"]
        return output_id

    @property
    def version(self) -> int:
        version: int = self.record["version"]
        return version

    @property
    def status(self) -> str:
        status: str = self.record["report"]["status"]
        return status

    @property
    def path(self) -> Path:
        return Path(self.record["path"])

    def __getitem__(self, key: str) -> Any:
        return self.record[key]

    def _repr_html_(self) -> str:
        from html import escape

        from trevor_backend.sdc.report import ObjectReport

        report = ObjectReport.from_dict(self.record["report"])
        return (
            f"<div>Tagged <b>{escape(self.record['metadata'].get('title') or self.id)}</b>"
            f" as <code>{escape(self.id)}</code> v{self.version}</div>" + verdict_banner(report)
        )

    def __repr__(self) -> str:
        return f"<TaggedOutput {self.id} v{self.version} {self.status}>"


def _is_figure(obj: Any) -> bool:
    try:
        from matplotlib.axes import Axes
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is a dependency, but keep tables working without it
        return False
    return isinstance(obj, Figure | Axes)


def _kind(obj: Any) -> str:
    if isinstance(obj, str | os.PathLike):
        return "file"
    if isinstance(obj, pd.DataFrame | pd.Series):
        return "table"
    if _is_figure(obj):
        return "figure"
    if hasattr(obj, "summary") and hasattr(obj, "params") and hasattr(obj, "df_resid"):
        return "model"
    raise TypeError(f"trevor.tag does not know how to save a {type(obj).__name__}")


def _write_object(obj: Any, kind: str, folder: Path, stem: str, fmt: str | None) -> Path:
    if kind == "file":
        src = Path(obj).expanduser()
        if not src.is_file():
            raise FileNotFoundError(f"no such file: {src}")
        dst = folder / src.name
        shutil.copyfile(src, dst)
        return dst
    if kind == "table":
        dst = folder / f"{stem}.csv"
        obj.to_csv(dst)
        return dst
    if kind == "figure":
        fig = obj.figure if hasattr(obj, "figure") and not hasattr(obj, "savefig") else obj
        ext = (fmt or "png").lower().lstrip(".")
        if ext not in ("png", "svg", "pdf"):
            raise ValueError("figures are saved as png, svg or pdf")
        dst = folder / f"{stem}.{ext}"
        # Fixed metadata keeps the bytes (and so the sha256) stable across re-runs.
        metadata = {
            "png": {"Software": None},
            "svg": {"Date": None},
            "pdf": {"CreationDate": None},
        }[ext]
        fig.savefig(dst, format=ext, metadata=metadata, bbox_inches="tight")
        return dst
    if kind == "model":
        ext = (fmt or "txt").lower().lstrip(".")
        dst = folder / f"{stem}.{ext}"
        if ext == "json":
            import json

            payload = {
                "model": type(getattr(obj, "model", obj)).__name__,
                "params": {str(k): float(v) for k, v in obj.params.items()},
                "bse": {str(k): float(v) for k, v in obj.bse.items()},
                "pvalues": {str(k): float(v) for k, v in obj.pvalues.items()},
                "nobs": float(obj.nobs),
                "df_resid": float(obj.df_resid),
            }
            dst.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        else:
            dst.write_text(obj.summary().as_text(), encoding="utf-8")
        return dst
    raise TypeError(kind)


def _package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def provenance() -> dict[str, Any]:
    """Where the output was made: notebook, cell, code, kernel and package versions."""
    prov: dict[str, Any] = {
        "notebook_path": os.environ.get("TREVOR_NOTEBOOK") or os.environ.get("JPY_SESSION_NAME"),
        "cell_id": None,
        "execution_count": None,
        "code": None,
        "kernel": {
            "implementation": platform.python_implementation(),
            "python": sys.version.split()[0],
            "pid": os.getpid(),
        },
        "packages": _package_versions(),
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "cwd": os.getcwd(),
    }
    try:
        from IPython import get_ipython
    except ImportError:
        return prov
    ip = get_ipython()
    if ip is None:
        return prov
    # IPython counts the running cell in the display hook; execution_count is already
    # the next cell's number while a cell runs.
    prompt = getattr(getattr(ip, "displayhook", None), "prompt_count", None)
    prov["execution_count"] = (
        prompt if isinstance(prompt, int) else getattr(ip, "execution_count", None)
    )
    session_name = ip.user_ns.get("__session__") if hasattr(ip, "user_ns") else None
    if not prov["notebook_path"] and isinstance(session_name, str):
        prov["notebook_path"] = session_name
    kernel = getattr(ip, "kernel", None)
    parent: dict[str, Any] = {}
    if kernel is not None and hasattr(kernel, "get_parent"):
        try:
            parent = kernel.get_parent() or {}
        except Exception:
            parent = {}
    metadata = parent.get("metadata") or {}
    content = parent.get("content") or {}
    prov["cell_id"] = metadata.get("cellId")
    prov["code"] = content.get("code")
    if kernel is not None:
        prov["kernel"]["name"] = type(kernel).__name__
        prov["kernel"]["session"] = getattr(getattr(kernel, "session", None), "session", None)
    return prov


def _default_id(title: str | None, prov: dict[str, Any], kind: str) -> str:
    """Stable across re-runs of the same cell, so re-tagging makes a new version."""
    anchor = "|".join(str(x) for x in (prov.get("notebook_path"), prov.get("cell_id")))
    slug = workspace.slugify(title or kind)
    if prov.get("cell_id") is None and prov.get("notebook_path") is None:
        return slug
    return f"{slug}-{hashlib.sha256(anchor.encode()).hexdigest()[:8]}"


def tag(
    obj: Any,
    title: str | None = None,
    statbarn: str | None = None,
    description: str = "",
    justification: str = "",
    suppression_notes: str = "",
    *,
    tags: list[str] | None = None,
    id: str | None = None,
    format: str | None = None,
    workspace_dir: str | os.PathLike[str] | None = None,
    **params: Any,
) -> TaggedOutput:
    """Write ``obj`` to the workspace manifest with its metadata, evidence and pre-check.

    ``obj``: a DataFrame/Series (CSV), a helper result, a matplotlib Figure/Axes (PNG, or
    ``format="svg"``/``"pdf"``), a statsmodels result (summary text, or ``format="json"``)
    or a path to a file. Tagging the same ``id`` again stores a new version.
    """
    if statbarn is not None and sb.get(statbarn) is None:
        raise ValueError(f"unknown statbarn {statbarn!r}; choose one of {', '.join(sb.ids())}")
    kind = _kind(obj)
    evidence = evidence_of(obj)
    if kind == "figure" and evidence is None and hasattr(obj, "figure"):
        evidence = evidence_of(obj.figure)
    if statbarn is None and evidence is not None:
        statbarn = (
            evidence.statbarn if isinstance(evidence, TableEvidence) else evidence.get("statbarn")
        )
    root = Path(workspace_dir) if workspace_dir is not None else workspace_root()
    prov = provenance()
    output_id = id or _default_id(title, prov, kind)
    if not workspace.valid_output_id(output_id):
        raise ValueError(f"invalid output id {output_id!r}")
    params_in_force = current_params(**params)
    with tempfile.TemporaryDirectory(prefix="trevor-tag-") as tmp:
        path = _write_object(obj, kind, Path(tmp), workspace.slugify(title or output_id), format)
        sha = workspace.sha256_file(path)
        size = path.stat().st_size
        evidence_json = None
        if evidence is not None:
            evidence_json = evidence_to_json(evidence)
            evidence_json["sha256"] = sha
        table = (
            obj
            if isinstance(obj, pd.DataFrame)
            else (obj.to_frame() if isinstance(obj, pd.Series) else None)
        )
        report = check_with_evidence(table, evidence, statbarn, params_in_force)
        found = file_findings(path.name, size, params_in_force)
        if found:
            report.findings = found + report.findings
            report.status = worst([f.status for f in report.findings])
        record = {
            "filename": path.name,
            "media_type": _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            "kind": kind,
            "metadata": {
                "title": title or "",
                "description": description,
                "statbarn": statbarn,
                "justification": justification,
                "suppression_notes": suppression_notes,
                "tags": list(tags or []),
            },
            "evidence": evidence_json,
            "report": report.to_dict(),
            "provenance": prov,
        }
        written = workspace.write_output(root, output_id, path, record)
    written["path"] = str(workspace.output_dir(root, output_id) / written["filename"])
    remember_statbarn(obj, statbarn)
    return TaggedOutput(written)


def outputs(workspace_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """The tagged outputs of this workspace, one row per output (current version)."""
    root = Path(workspace_dir) if workspace_dir is not None else workspace_root()
    rows = []
    for record in workspace.list_outputs(root):
        rows.append(
            {
                "id": record["id"],
                "version": record["version"],
                "title": record.get("metadata", {}).get("title"),
                "statbarn": record.get("metadata", {}).get("statbarn"),
                "status": (record.get("report") or {}).get("status"),
                "filename": record["filename"],
                "sha256": record["sha256"],
                "created_at": record["created_at"],
            }
        )
    columns = ["id", "version", "title", "statbarn", "status", "filename", "sha256", "created_at"]
    return pd.DataFrame(rows, columns=columns)
