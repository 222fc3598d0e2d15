"""The workspace manifest: tagged outputs under ``<workspace>/.trevor/outputs/<id>/``.

Layout (docs/kernel-api.md)::

    .trevor/outputs/<id>/metadata.json     the current version's record (plus ``versions``)
    .trevor/outputs/<id>/<filename>        the current version's object file
    .trevor/outputs/<id>/v<N>/metadata.json
    .trevor/outputs/<id>/v<N>/<filename>   every version, kept

Plain files and the standard library only: the kernel writes here and the Jupyter server
extension reads here. Writes are atomic (temporary file, fsync, rename), so a reader never
sees half a record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OUTPUTS_DIR = Path(".trevor") / "outputs"
METADATA = "metadata.json"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def outputs_root(root: str | os.PathLike[str]) -> Path:
    return Path(root) / OUTPUTS_DIR


def valid_output_id(output_id: str) -> bool:
    return bool(_ID_RE.match(output_id)) and ".." not in output_id


def slugify(text: str, fallback: str = "output") -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60]
    return slug or fallback


def output_dir(root: str | os.PathLike[str], output_id: str) -> Path:
    if not valid_output_id(output_id):
        raise ValueError(f"invalid output id {output_id!r}")
    return outputs_root(root) / output_id


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _atomic_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".tmp-", suffix=dst.suffix)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def list_outputs(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The current record of every tagged output, newest first."""
    base = outputs_root(root)
    if not base.is_dir():
        return []
    records = []
    for entry in base.iterdir():
        meta = entry / METADATA
        if entry.is_dir() and valid_output_id(entry.name) and meta.is_file():
            try:
                records.append(_read_json(meta))
            except (OSError, ValueError):
                continue  # a damaged record is skipped, not fatal to the listing
    records.sort(key=lambda r: r.get("created_at", ""), reverse=True)
    return records


def read_output(
    root: str | os.PathLike[str], output_id: str, version: int | None = None
) -> dict[str, Any]:
    """One output's record (the current version unless ``version`` is given).

    Raises KeyError when the output or version does not exist.
    """
    folder = output_dir(root, output_id)
    path = folder / METADATA if version is None else folder / f"v{int(version)}" / METADATA
    if not path.is_file():
        raise KeyError(output_id if version is None else f"{output_id} v{version}")
    return _read_json(path)


def object_path(root: str | os.PathLike[str], output_id: str, version: int | None = None) -> Path:
    record = read_output(root, output_id, version)
    folder = output_dir(root, output_id) / f"v{record['version']}"
    filename: str = record["filename"]
    return folder / filename


def write_output(
    root: str | os.PathLike[str],
    output_id: str,
    source: str | os.PathLike[str],
    record: dict[str, Any],
) -> dict[str, Any]:
    """Store ``source`` as the next version of ``output_id`` with ``record`` as its metadata.

    Fills in id, version, filename, sha256, size, created_at and versions; returns the
    record written.
    """
    folder = output_dir(root, output_id)
    previous: dict[str, Any] | None = None
    with contextlib.suppress(KeyError, ValueError):
        previous = read_output(root, output_id)
    version = (int(previous["version"]) + 1) if previous else 1
    filename = record.get("filename") or Path(source).name
    if "/" in filename or "\\" in filename or filename in ("", ".", "..", METADATA):
        raise ValueError(f"invalid object filename {filename!r}")
    version_dir = folder / f"v{version}"
    _atomic_copy(Path(source), version_dir / filename)
    sha = sha256_file(version_dir / filename)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    full = dict(record)
    full.update(
        id=output_id,
        version=version,
        filename=filename,
        sha256=sha,
        size=(version_dir / filename).stat().st_size,
        created_at=now,
    )
    if isinstance(full.get("evidence"), dict):
        full["evidence"] = {**full["evidence"], "sha256": sha}
    versions = list(previous.get("versions", [])) if previous else []
    versions.append(
        {
            "version": version,
            "filename": filename,
            "sha256": sha,
            "created_at": now,
            "status": (full.get("report") or {}).get("status"),
        }
    )
    full["versions"] = versions
    data = json.dumps(full, indent=2, sort_keys=False, allow_nan=False).encode("utf-8")
    _atomic_write(version_dir / METADATA, data)
    # The current copy goes last: a crash before this leaves the previous version current.
    if previous and previous.get("filename") != filename:
        with contextlib.suppress(FileNotFoundError):
            (folder / previous["filename"]).unlink()
    _atomic_copy(version_dir / filename, folder / filename)
    _atomic_write(folder / METADATA, data)
    return full
