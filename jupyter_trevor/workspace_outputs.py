"""The workspace manifest as the server extension sees it: ``.trevor/outputs/<id>/``.

The manifest format belongs to :mod:`jupyter_trevor.workspace` (the kernel side writes it when
a researcher calls ``trevor.tag(...)``); this module only uses its reader and writer, so there is
one implementation of the format. It lists and reads outputs for the panel and the upload, and
tags outputs the kernel API did not produce: the notebook action "Add output to airlock" posts a
cell output, which becomes a PNG (figures), a CSV (an HTML table, via ``pandas.read_html``) or a
text file.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from . import workspace as ws
from .client import METADATA_FIELDS, LocalOutput, TrevorClientError, problem

MAX_TEXT_CHARS = 5_000_000


def _bad_request(detail: str, pointer: str | None = None) -> TrevorClientError:
    extra: dict[str, Any] = {}
    if pointer is not None:
        extra["errors"] = [{"pointer": pointer, "detail": detail}]
    return TrevorClientError(400, problem(400, "validation", "Invalid input", detail, **extra))


def _not_found(output_id: str) -> TrevorClientError:
    return TrevorClientError(
        404,
        problem(
            404,
            "output-not-found",
            "Tagged output not found",
            f"No tagged output {output_id!r} in this workspace's .trevor/outputs",
        ),
    )


# -- reading ----------------------------------------------------------------------------------


def _flatten(meta: dict[str, Any]) -> dict[str, Any]:
    """Researcher metadata may sit at the top level or under ``metadata``; accept both."""
    nested: dict[str, Any] = meta["metadata"] if isinstance(meta.get("metadata"), dict) else {}
    return {k: (nested.get(k) if k in nested else meta.get(k)) for k in METADATA_FIELDS}


def _verdict(meta: dict[str, Any]) -> Any:
    # The kernel stores its pre-check as "report" ({status, findings}); accept "verdict" too.
    return meta.get("report") or meta.get("verdict")


def _summary(meta: dict[str, Any]) -> dict[str, Any]:
    provenance: dict[str, Any] = (
        meta["provenance"] if isinstance(meta.get("provenance"), dict) else {}
    )
    evidence: dict[str, Any] = meta["evidence"] if isinstance(meta.get("evidence"), dict) else {}
    return {
        "id": meta.get("id"),
        "version": meta.get("version"),
        "filename": meta.get("filename"),
        "media_type": meta.get("media_type"),
        "size": meta.get("size"),
        "sha256": meta.get("sha256"),
        "created_at": meta.get("created_at"),
        "verdict": _verdict(meta),
        # The writer binds evidence to the file's sha256; anything beyond that is SDC evidence.
        "has_evidence": any(k != "sha256" for k in evidence),
        "source": meta.get("source") or "kernel",
        "provenance": {
            k: provenance.get(k)
            for k in ("notebook_path", "cell_id", "execution_count")
            if k in provenance
        },
        **_flatten(meta),
    }


def _relative(path: Any, workspace: Path) -> Any:
    """A notebook path as the researcher knows it (relative to the workspace): the server's
    absolute paths mean nothing in the browser and reveal the server's layout."""
    if not isinstance(path, str) or not Path(path).is_absolute():
        return path
    try:
        return str(Path(path).resolve().relative_to(workspace.resolve()))
    except ValueError:
        return Path(path).name


def list_workspace_outputs(workspace: Path) -> list[dict[str, Any]]:
    """Summaries of every tagged output, newest first."""
    items = [_summary(m) for m in ws.list_outputs(workspace) if m.get("id") and m.get("filename")]
    for item in items:
        prov = item["provenance"]
        if "notebook_path" in prov:
            prov["notebook_path"] = _relative(prov["notebook_path"], workspace)
    return items


def local_output(workspace: Path, output_id: str) -> LocalOutput:
    """One tagged output (current version), ready for ``client.upload_output``."""
    if not ws.valid_output_id(output_id):
        raise _not_found(output_id)
    try:
        meta = ws.read_output(workspace, output_id)
        file = ws.object_path(workspace, output_id)
    except (KeyError, ValueError) as exc:
        raise _not_found(output_id) from exc
    if not file.is_file() or file.is_symlink():
        raise _not_found(output_id)
    evidence: dict[str, Any] = meta["evidence"] if isinstance(meta.get("evidence"), dict) else {}
    return LocalOutput(
        output_id=output_id,
        file=file,
        filename=file.name,
        metadata={k: v for k, v in _flatten(meta).items() if v is not None},
        evidence=evidence,
        provenance=meta.get("provenance") or {},
        verdict=_verdict(meta),
    )


# -- converting a notebook output -------------------------------------------------------------


def _text(value: Any) -> str:
    # nbformat stores multi-line strings as lists of lines.
    return "".join(value) if isinstance(value, list) else str(value)


def _html_table_to_csv(html: str) -> bytes | None:
    """The first table of an HTML output as CSV (pandas' DataFrame HTML), or None."""
    if "<table" not in html.lower():
        return None
    try:
        import pandas as pd

        tables = pd.read_html(io.StringIO(html))
    except (ImportError, ValueError):
        return None
    if not tables:
        return None
    csv: str = tables[0].to_csv(index=False)
    return csv.encode("utf-8")


def _image_to_png(data: bytes, mime: str) -> bytes:
    if mime == "image/png":
        return data
    try:
        from PIL import Image
    except ImportError as exc:
        raise _bad_request(f"Cannot convert {mime} to PNG here (Pillow missing)") from exc
    with Image.open(io.BytesIO(data)) as img:
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue()


def convert_output(output: dict[str, Any], prefer: str | None = None) -> tuple[bytes, str, str]:
    """``(bytes, extension, media type)`` for an nbformat output (image, table, text)."""
    kind = output.get("output_type")
    if kind == "stream":
        text = _text(output.get("text", ""))
        return text.encode("utf-8"), "txt", "text/plain"
    if kind == "error":
        raise _bad_request("An error traceback cannot be added to the airlock", "/output")
    data = output.get("data")
    if kind not in ("display_data", "execute_result") or not isinstance(data, dict):
        raise _bad_request(f"Unsupported output type {kind!r}", "/output/output_type")

    order = ["image/png", "image/jpeg", "text/html", "text/plain"]
    if prefer in order:
        order.remove(prefer)
        order.insert(0, prefer)
    for mime in order:
        if mime not in data:
            continue
        if mime.startswith("image/"):
            try:
                raw = base64.b64decode(_text(data[mime]).replace("\n", ""), validate=True)
            except ValueError as exc:
                raise _bad_request(f"{mime} output is not valid base64", "/output/data") from exc
            return _image_to_png(raw, mime), "png", "image/png"
        if mime == "text/html":
            csv = _html_table_to_csv(_text(data[mime]))
            if csv is not None:
                return csv, "csv", "text/csv"
            continue  # HTML without a table: its text/plain form, never raw HTML
        if mime == "text/plain":
            text = _text(data[mime])
            if len(text) > MAX_TEXT_CHARS:
                raise _bad_request("Text output too large", "/output/data/text~1plain")
            return text.encode("utf-8"), "txt", "text/plain"
    raise _bad_request("This output has no image, HTML table or text form to add", "/output/data")


NO_EVIDENCE_VERDICT = {
    "status": "review",
    "findings": [
        {
            "rule": "missing_evidence",
            "detail": "Tagged from a notebook output without the kernel API: no SDC evidence was "
            "computed at source, so a checker must judge it.",
        }
    ],
}


def tag_cell_output(workspace: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Write ``.trevor/outputs/<id>/`` for a cell output posted by the notebook action."""
    output = body.get("output")
    if not isinstance(output, dict):
        raise _bad_request("'output' must be a notebook output object", "/output")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise _bad_request("'metadata' must be an object", "/metadata")
    title = metadata.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _bad_request("A title is required", "/metadata/title")
    for key in METADATA_FIELDS:
        if metadata.get(key) is not None and not isinstance(metadata[key], str):
            raise _bad_request(f"{key} must be a string", f"/metadata/{key}")
    provenance = body.get("provenance") or {}
    if not isinstance(provenance, dict):
        raise _bad_request("'provenance' must be an object", "/provenance")

    content, ext, media_type = convert_output(output, body.get("mime"))
    title = title.strip()
    output_id = f"{ws.slugify(title)[:40]}-{uuid.uuid4().hex[:8]}"
    described = {k: (metadata.get(k) or "") for k in METADATA_FIELDS}
    described["title"] = title
    # Same record layout as the kernel's trevor.tag: researcher metadata nested under "metadata".
    record: dict[str, Any] = dict(
        metadata=described,
        filename=f"{ws.slugify(title)}.{ext}",
        media_type=media_type,
        source="notebook-output",
        provenance=provenance,
        evidence=None,
        report=NO_EVIDENCE_VERDICT,
    )
    tmp_dir = workspace / ".trevor" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="tag-", suffix=f".{ext}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        written = ws.write_output(workspace, output_id, tmp_name, record)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    return _summary(written)
