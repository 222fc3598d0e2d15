"""Delivery of approved ingress files into the researcher's workspace (SPEC §7).

The backend lists approved ingress objects awaiting delivery (``GET /api/v1/deliveries``). For
each, this module downloads the bytes to a temporary file inside the workspace, verifies the
sha256, and only then gives the file its final name ``<workspace>/<inbox_dir>/<request>/<file>``:

* never overwriting: the final name is created with ``link()`` (or ``O_EXCL``), which fails if
  anything, even a dangling symlink, already has that name; an existing file with the same
  sha256 is a delivery that succeeded before its acknowledgement was lost, so it is acknowledged
  again instead of being refused;
* never outside the workspace: names with path separators, ``.``/``..``, control characters or
  absolute paths are rejected, and every directory on the way is resolved and must stay inside
  the workspace (a symlinked ``inbox`` pointing elsewhere is refused);
* acknowledged (``POST /api/v1/deliveries/{object_id}/ack``) only once the file is in place.

No Tornado here: the transport is passed in as two coroutines (download, acknowledge), so the
rules above are tested against a real HTTP server without a Jupyter server around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Literal

DEFAULT_INBOX_DIR = "inbox"
TMP_DIR = PurePosixPath(".trevor") / "tmp"
MAX_NAME_BYTES = 255

Downloader = Callable[[str, BinaryIO, int | None], Awaitable[str]]
"""``download(url, out, max_bytes) -> sha256 hex`` streaming the bytes of ``url`` into ``out``."""
Acknowledger = Callable[["DeliveryItem"], Awaitable[None]]

Status = Literal["delivered", "already_delivered", "rejected", "failed"]


class DeliveryRejected(Exception):
    """A delivery that must not be written; ``code`` says why (shown to the researcher)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class DeliveryItem:
    request_id: str
    object_id: str
    filename: str
    sha256: str
    size: int | None
    url: str  # absolute URL (e.g. pre-signed) or a backend path starting with "/"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeliveryItem:
        try:
            request_id = str(data["request_id"])
            object_id = str(data["object_id"])
            filename = data["filename"]
            sha256 = str(data["sha256"]).lower()
        except (KeyError, TypeError) as exc:
            raise DeliveryRejected("bad-item", f"delivery item lacks {exc}") from exc
        if not isinstance(filename, str):
            raise DeliveryRejected("bad-item", "delivery filename is not a string")
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise DeliveryRejected("bad-item", f"delivery sha256 {sha256!r} is not a hex digest")
        size = data.get("size")
        # The contract names "url or content path"; accept the spellings a backend might use and
        # fall back to the object content endpoint, which is always there (SPEC §9).
        url = (
            data.get("url")
            or data.get("content_url")
            or data.get("content_path")
            or data.get("content")
            or f"/api/v1/requests/{request_id}/objects/{object_id}/content"
        )
        return cls(
            request_id,
            object_id,
            filename,
            sha256,
            int(size) if size is not None else None,
            str(url),
        )


@dataclass(frozen=True)
class DeliveryResult:
    request_id: str
    object_id: str
    filename: str
    status: Status
    path: str | None = None  # relative to the workspace, "/"-separated
    code: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_component(name: str, what: str) -> str:
    """Return ``name`` if it is one plain path component; raise :class:`DeliveryRejected`."""
    if not isinstance(name, str) or not name:
        raise DeliveryRejected("unsafe-name", f"empty {what}")
    if name in (".", ".."):
        raise DeliveryRejected("unsafe-name", f"{what} {name!r} is not a file name")
    if any(sep in name for sep in ("/", "\\")):
        raise DeliveryRejected("unsafe-name", f"{what} {name!r} contains a path separator")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise DeliveryRejected("unsafe-name", f"{what} {name!r} contains control characters")
    if PureWindowsPath(name).drive or PurePosixPath(name).is_absolute():
        raise DeliveryRejected("unsafe-name", f"{what} {name!r} is an absolute path")
    if name != name.strip():
        raise DeliveryRejected("unsafe-name", f"{what} {name!r} has leading/trailing spaces")
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise DeliveryRejected("unsafe-name", f"{what} is longer than {MAX_NAME_BYTES} bytes")
    return name


def check_inbox_dir(inbox_dir: str) -> PurePosixPath:
    """The configured inbox folder must be a relative path without ``..``."""
    rel = PurePosixPath(inbox_dir.replace("\\", "/"))
    if not inbox_dir or rel.is_absolute() or ".." in rel.parts or str(rel) == ".":
        raise DeliveryRejected(
            "bad-config", f"inbox_dir {inbox_dir!r} must be a relative folder inside the workspace"
        )
    return rel


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def ensure_dir_inside(workspace: Path, parts: Iterable[str]) -> Path:
    """Create ``workspace/<parts…>`` one level at a time, refusing any step that leaves it.

    Each level is resolved after it exists: a symlink anywhere on the way that points outside
    the workspace is refused before anything is created through it.
    """
    root = workspace.resolve(strict=True)
    current = root
    for part in parts:
        candidate = current / part
        if not candidate.exists() and not candidate.is_symlink():
            # A concurrent delivery may make it first; it is checked below like any other.
            with contextlib.suppress(FileExistsError):
                candidate.mkdir(mode=0o755)
        resolved = candidate.resolve(strict=True)
        if not _inside(resolved, root):
            raise DeliveryRejected(
                "outside-workspace", f"{candidate} leads outside the workspace ({resolved})"
            )
        if not resolved.is_dir():
            raise DeliveryRejected("not-a-directory", f"{candidate} is not a directory")
        current = resolved
    return current


def target_for(workspace: Path, inbox_dir: str, item: DeliveryItem) -> Path:
    """Where ``item`` goes; creates the folders (inside the workspace only)."""
    rel = check_inbox_dir(inbox_dir)
    rid = check_component(item.request_id, "request id")
    filename = check_component(item.filename, "filename")
    folder = ensure_dir_inside(workspace, [*rel.parts, rid])
    return folder / filename


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _place_exclusively(tmp: Path, target: Path) -> None:
    """Give ``tmp``'s bytes the name ``target`` unless that name exists (atomic when possible)."""
    try:
        os.link(tmp, target)  # fails with EEXIST on any existing name, symlinks included
        return
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise FileExistsError(str(target)) from exc
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    # Different filesystem or no hard links: O_EXCL|O_NOFOLLOW still refuses existing names.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as out, tmp.open("rb") as src:
            shutil.copyfileobj(src, out, 1024 * 1024)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def _flush_to_disk(out: Any) -> int:
    """Flush and fsync a file being written; its size."""
    out.flush()
    os.fsync(out.fileno())
    return os.fstat(out.fileno()).st_size


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _relative(path: Path, workspace: Path) -> str:
    return path.relative_to(workspace.resolve()).as_posix()


async def deliver_one(
    item: DeliveryItem,
    *,
    workspace: Path,
    inbox_dir: str,
    download: Downloader,
    acknowledge: Acknowledger,
) -> DeliveryResult:
    """Deliver one item; never raises for a per-item problem (it is in the result)."""

    def result(
        status: Status, path: Path | None = None, code: str | None = None, detail: str | None = None
    ) -> DeliveryResult:
        return DeliveryResult(
            item.request_id,
            item.object_id,
            item.filename,
            status,
            _relative(path, workspace) if path is not None else None,
            code,
            detail,
        )

    try:
        target = target_for(workspace, inbox_dir, item)
    except DeliveryRejected as exc:
        return result("rejected", code=exc.code, detail=exc.detail)

    if target.exists() or target.is_symlink():
        # Hashing and every other file operation below run in a worker thread: a large file
        # must not stall Jupyter's event loop (and every notebook with it).
        if (
            not target.is_symlink()
            and target.is_file()
            and await asyncio.to_thread(_sha256_of, target) == item.sha256
        ):
            # Written by an earlier run whose acknowledgement did not reach the backend.
            try:
                await acknowledge(item)
            except Exception as exc:
                return result("failed", target, "ack-failed", str(exc))
            return result("already_delivered", target)
        return result(
            "rejected",
            target,
            "exists",
            f"{_relative(target, workspace)} already exists with other content; not overwritten",
        )

    tmp_dir = ensure_dir_inside(workspace, TMP_DIR.parts)
    fd, tmp_name = tempfile.mkstemp(prefix="delivery-", dir=tmp_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                digest = await download(item.url, out, item.size)
            except DeliveryRejected as exc:
                return result("rejected", code=exc.code, detail=exc.detail)
            except Exception as exc:
                return result("failed", code="download-failed", detail=str(exc))
            size = await asyncio.to_thread(_flush_to_disk, out)
        if digest != item.sha256:
            return result(
                "rejected",
                code="checksum-mismatch",
                detail=f"downloaded {item.filename} has sha256 {digest}, expected {item.sha256}",
            )
        if item.size is not None and size != item.size:
            return result(
                "rejected",
                code="size-mismatch",
                detail=f"downloaded {size} bytes of {item.filename}, expected {item.size}",
            )
        try:
            await asyncio.to_thread(_place_exclusively, tmp, target)
        except FileExistsError:
            return result(
                "rejected",
                target,
                "exists",
                f"{_relative(target, workspace)} appeared meanwhile; not overwritten",
            )
    finally:
        _discard(tmp)

    try:
        await acknowledge(item)
    except Exception as exc:
        # The file is in place; the next sync sees it, finds the same sha256 and acks again.
        return result("failed", target, "ack-failed", str(exc))
    return result("delivered", target)


async def deliver_all(
    items: Iterable[Mapping[str, Any]],
    *,
    workspace: Path,
    inbox_dir: str,
    download: Downloader,
    acknowledge: Acknowledger,
) -> list[DeliveryResult]:
    results: list[DeliveryResult] = []
    for raw in items:
        try:
            item = DeliveryItem.from_json(raw)
        except DeliveryRejected as exc:
            results.append(
                DeliveryResult(
                    str(raw.get("request_id", "")),
                    str(raw.get("object_id", "")),
                    str(raw.get("filename", "")),
                    "rejected",
                    None,
                    exc.code,
                    exc.detail,
                )
            )
            continue
        results.append(
            await deliver_one(
                item,
                workspace=workspace,
                inbox_dir=inbox_dir,
                download=download,
                acknowledge=acknowledge,
            )
        )
    return results


def list_inbox(workspace: Path, inbox_dir: str) -> list[dict[str, Any]]:
    """Delivered files, newest first: ``{request_id, filename, path, size, modified}``."""
    rel = check_inbox_dir(inbox_dir)
    root = workspace.resolve()
    base = root.joinpath(*rel.parts)
    if not base.is_dir() or not _inside(base.resolve(), root):
        return []
    entries: list[dict[str, Any]] = []
    for req_dir in base.iterdir():
        if not req_dir.is_dir() or req_dir.is_symlink():
            continue
        for f in req_dir.iterdir():
            if f.is_symlink() or not f.is_file():
                continue
            st = f.stat()
            entries.append(
                {
                    "_mtime": st.st_mtime,
                    "request_id": req_dir.name,
                    "filename": f.name,
                    "path": f.relative_to(root).as_posix(),
                    "size": st.st_size,
                    "modified": datetime.fromtimestamp(st.st_mtime, UTC).isoformat(),
                }
            )
    entries.sort(key=lambda e: e["_mtime"], reverse=True)
    for e in entries:
        del e["_mtime"]
    return entries
