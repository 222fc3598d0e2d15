"""The workspace manifest as the server extension sees it: ``.trevor/outputs/<id>/``.

Each tagged output is a folder holding the object file and ``metadata.json`` (researcher
metadata, provenance, SDC evidence, pre-check verdict). The kernel API writes these folders when
a researcher calls ``trevor.tag(...)``; this module lists and reads them for the panel and the
upload, and writes one for the notebook action "Add output to airlock", which tags an output the
kernel API did not produce (a PNG figure, an HTML table, plain text).

When ``jupyter_trevor.workspace`` (the kernel side's manifest module) provides ``write_output``
it writes the folder, so there is one writer of the format; the local writer below follows the
same layout and is the fallback. Reading is tolerant of both layouts of the researcher metadata
(top level or under ``metadata``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client import METADATA_FIELDS, LocalOutput, TrevorClientError, problem

OUTPUTS_DIR = Path(".trevor") / "outputs"
METADATA_FILE = "metadata.json"
_OUTPUT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_TEXT_CHARS = 5_000_000


def _workspace_module() -> Any:
    try:
        from . import workspace
    except ImportError:
        return None
    return workspace


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
    nested = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    return {k: (nested.get(k) if k in nested else meta.get(k)) for k in METADATA_FIELDS}


def _object_file(folder: Path, meta: dict[str, Any]) -> Path | None:
    name = meta.get("filename") or meta.get("file")
    if isinstance(name, str) and name and "/" not in name and name != METADATA_FILE:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    files = [p for p in folder.iterdir() if p.is_file() and p.name != METADATA_FILE]
    return files[0] if len(files) == 1 else None


def _read_local(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / METADATA_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    file = _object_file(folder, meta)
    if file is None:
        return None
    return {"_folder": folder, "_file": file, **meta}


def _summary(output_id: str, meta: dict[str, Any], file: Path) -> dict[str, Any]:
    provenance = meta.get("provenance") if isinstance(meta.get("provenance"), dict) else {}
    return {
        "id": output_id,
        "filename": file.name,
        "media_type": meta.get("media_type"),
        "size": file.stat().st_size,
        "sha256": meta.get("sha256"),
        "created_at": meta.get("created_at"),
        "verdict": meta.get("verdict"),
        "has_evidence": bool(meta.get("evidence")),
        "source": meta.get("source") or ("kernel" if meta.get("evidence") else None),
        "provenance": {
            k: provenance.get(k)
            for k in ("notebook_path", "cell_id", "execution_count")
            if k in provenance
        },
        **_flatten(meta),
    }


def list_workspace_outputs(workspace: Path) -> list[dict[str, Any]]:
    """Summaries of every tagged output, newest first."""
    base = workspace / OUTPUTS_DIR
    if not base.is_dir():
        return []
    items: list[dict[str, Any]] = []
    for folder in base.iterdir():
        if folder.name.startswith(".") or not folder.is_dir() or folder.is_symlink():
            continue
        meta = _read_local(folder)
        if meta is None:
            continue
        items.append(_summary(folder.name, meta, meta["_file"]))
    items.sort(key=lambda i: str(i.get("created_at") or ""), reverse=True)
    return items


def local_output(workspace: Path, output_id: str) -> LocalOutput:
    """One tagged output, ready for :func:`jupyter_trevor.client.upload_output`."""
    if not _OUTPUT_ID.match(output_id):
        raise _not_found(output_id)
    folder = workspace / OUTPUTS_DIR / output_id
    if folder.is_symlink() or not folder.is_dir():
        raise _not_found(output_id)
    meta = _read_local(folder)
    if meta is None:
        raise _not_found(output_id)
    file: Path = meta["_file"]
    return LocalOutput(
        output_id=output_id,
        file=file,
        filename=file.name,
        metadata={k: v for k, v in _flatten(meta).items() if v is not None},
        evidence=meta.get("evidence") or {},
        provenance=meta.get("provenance") or {},
        verdict=meta.get("verdict"),
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
    return tables[0].to_csv(index=False).encode("utf-8")


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


def _slug(title: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()
    return slug[:60] or "output"


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
    filename = f"{_slug(title)}.{ext}"
    clean_meta = {k: metadata.get(k) or "" for k in METADATA_FIELDS}
    clean_meta["title"] = title.strip()

    ws = _workspace_module()
    writer = getattr(ws, "write_output", None) if ws is not None else None
    if writer is not None:
        # One writer of the manifest format: the kernel side's.
        record = writer(
            workspace,
            content=content,
            filename=filename,
            media_type=media_type,
            metadata=clean_meta,
            provenance={**provenance, "source": "notebook-output"},
            evidence={},
            verdict=NO_EVIDENCE_VERDICT,
        )
        output_id = record["id"] if isinstance(record, dict) else str(record)
    else:
        output_id = _write_local(workspace, content, filename, media_type, clean_meta, provenance)
    meta = _read_local(workspace / OUTPUTS_DIR / output_id)
    if meta is None:  # pragma: no cover - we just wrote it
        raise TrevorClientError(500, problem(500, "internal", "Internal error", "write failed"))
    return _summary(output_id, meta, meta["_file"])


def _write_local(
    workspace: Path,
    content: bytes,
    filename: str,
    media_type: str,
    metadata: dict[str, Any],
    provenance: dict[str, Any],
) -> str:
    """Write one output folder atomically: build it under a temporary name, then rename."""
    base = workspace / OUTPUTS_DIR
    base.mkdir(parents=True, exist_ok=True)
    output_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=base))
    try:
        (tmp / filename).write_bytes(content)
        meta = {
            "id": output_id,
            "filename": filename,
            "media_type": media_type,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "created_at": datetime.now(UTC).isoformat(),
            "source": "notebook-output",
            **metadata,
            "provenance": provenance,
            "evidence": {},
            "verdict": NO_EVIDENCE_VERDICT,
        }
        with (tmp / METADATA_FILE).open("w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, base / output_id)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise
    return output_id
