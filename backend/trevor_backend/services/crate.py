"""RO-Crate 1.1 packaging of a released request, written as a zip streamed to the store.

Two halves:

* :func:`build_metadata` / :func:`render_preview` turn a plain snapshot of the request (no ORM
  objects, so it can be built inside one transaction and used after it) into
  ``ro-crate-metadata.json`` and the human-readable ``ro-crate-preview.html``;
* :func:`write_zip` streams a zip of those plus every object's bytes into an
  :class:`~trevor_backend.storage.ObjectWriter`, in constant memory, verifying each object's
  sha256 on the very bytes that go into the zip (no window between check and copy) and hashing
  the zip itself on the way out.

Python's :mod:`zipfile` writes to a non-seekable stream (sizes go into data descriptors and the
central directory), but it is synchronous, while the store is asynchronous. The zip is therefore
written in a dedicated thread whose file-like output hands chunks to the event loop through a
bounded queue (at most ``QUEUE_DEPTH`` chunks in flight), and whose input chunks are pulled
from the store's async iterators on the loop. The thread never touches the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import urllib.parse
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from ..sdc import statbarns
from ..storage import ObjectWriter

RO_CRATE_CONTEXT = "https://w3id.org/ro/crate/1.1/context"
RO_CRATE_SPEC = "https://w3id.org/ro/crate/1.1"
METADATA_NAME = "ro-crate-metadata.json"
PREVIEW_NAME = "ro-crate-preview.html"
# Terms RO-Crate/schema.org have no word for. RO-Crate 1.1 ("Adding new or ad hoc vocabulary
# terms") asks for them to be mapped in the @context and described as rdf:Property entities.
TERMS_BASE = "https://w3id.org/trevor/terms#"
AD_HOC_TERMS = {
    "justification": "Why the researcher needs this output released.",
    "suppressionNotes": "How the researcher suppressed or rounded disclosive values.",
    "statbarn": "The statistical type (SACRO statbarn) the output was checked as.",
    "decision": "A checker's or the agent's decision on the request or an object.",
}
CHUNK = 1 << 20
QUEUE_DEPTH = 4

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    # Everything in the preview is user input (titles, descriptions, comments): escape it all.
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


# --- the snapshot --------------------------------------------------------------------------


@dataclass(frozen=True)
class CratePerson:
    id: str
    name: str


@dataclass(frozen=True)
class CrateFile:
    object_id: str
    logical_id: str
    version: int
    filename: str
    media_type: str
    size: int
    sha256: str
    storage_key: str
    title: str = ""
    description: str = ""
    statbarn: str | None = None
    justification: str = ""
    suppression_notes: str = ""
    arcname: str = ""  # filled in by assign_arcnames

    @property
    def crate_id(self) -> str:
        # Data entity @ids are URI paths relative to the crate root, percent-encoded.
        return urllib.parse.quote(self.arcname, safe="/")


@dataclass(frozen=True)
class CrateObjectDecision:
    object_id: str
    decision: str
    comment: str  # public comments only: private ones never leave the TRE


@dataclass(frozen=True)
class CrateReview:
    id: str
    kind: str  # agent | human
    reviewer: CratePerson | None
    revision: int
    decision: str | None
    summary: str
    created_at: datetime
    objects: tuple[CrateObjectDecision, ...] = ()


@dataclass(frozen=True)
class CrateRequest:
    id: str
    project_id: str
    project_name: str
    title: str
    description: str
    revision: int
    created_at: datetime
    submitted_at: datetime | None
    author: CratePerson
    files: tuple[CrateFile, ...]
    reviews: tuple[CrateReview, ...] = ()
    software_version: str = ""
    #: Name the checkers in the crate (operator option ``crate_names_checkers``); by default
    #: they appear as "checker 1", "checker 2", the pseudonyms researchers know them by.
    name_checkers: bool = False


def presented(req: CrateRequest) -> CrateRequest:
    """``req`` as the crate shows it: human reviewers replaced by their pseudonyms unless the
    operator chose to name checkers. The crate leaves the TRE with the researcher, so it
    reveals no more than the reviews API shows them; numbering follows that API (order of
    review within the revision)."""
    if req.name_checkers:
        return req
    numbers: dict[int, int] = {}
    reviews = []
    for review in req.reviews:
        if review.kind == "human":
            numbers[review.revision] = numbers.get(review.revision, 0) + 1
            n = numbers[review.revision]
            # The review id goes too: nothing in the crate may be joined to a checker's name.
            review = replace(
                review,
                id=f"r{review.revision}-checker-{n}",
                reviewer=CratePerson(id=f"checker-{n}", name=f"checker {n}"),
            )
        reviews.append(review)
    return replace(req, reviews=tuple(reviews))


def assign_arcnames(files: list[CrateFile]) -> list[CrateFile]:
    """``data/<filename>``, or ``data/<object id>/<filename>`` for names that would collide
    (compared case-insensitively: the zip may be unpacked on a case-insensitive disk)."""
    seen: dict[str, int] = {}
    for f in files:
        seen[f.filename.casefold()] = seen.get(f.filename.casefold(), 0) + 1
    out = []
    for f in files:
        name = f"data/{f.filename}"
        if seen[f.filename.casefold()] > 1:
            name = f"data/{f.object_id}/{f.filename}"
        out.append(replace(f, arcname=name))
    return out


# --- metadata ------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person_id(p: CratePerson) -> str:
    return f"#person-{p.id}"


def build_metadata(req: CrateRequest, released_at: datetime) -> dict[str, Any]:
    """The RO-Crate 1.1 metadata document (JSON-LD) of the release."""
    req = presented(req)
    graph: list[dict[str, Any]] = []
    software = {
        "@id": "#trevor",
        "@type": "SoftwareApplication",
        "name": "jupyter-trevor",
        "version": req.software_version,
        "description": "Airlock of the Trusted Research Environment that checked and "
        "released this crate.",
    }
    project = {"@id": f"#project-{req.project_id}", "@type": "Project", "name": req.project_name}
    people = {req.author.id: req.author}
    for review in req.reviews:
        if review.reviewer is not None:
            people[review.reviewer.id] = review.reviewer

    file_entities = []
    terms_used: dict[str, dict[str, Any]] = {}
    for f in req.files:
        entity: dict[str, Any] = {
            "@id": f.crate_id,
            "@type": "File",
            "name": f.title or f.filename,
            "description": f.description or f.title or f.filename,
            "identifier": f.object_id,
            "contentSize": str(f.size),
            "encodingFormat": f.media_type,
            "sha256": f.sha256,
            "version": str(f.version),
            "author": {"@id": _person_id(req.author)},
        }
        if f.justification:
            entity["justification"] = f.justification
        if f.suppression_notes:
            entity["suppressionNotes"] = f.suppression_notes
        sb = statbarns.get(f.statbarn) if f.statbarn else None
        if sb is not None:
            entity["statbarn"] = {"@id": sb.uri}
            terms_used.setdefault(
                sb.uri,
                {"@id": sb.uri, "@type": "DefinedTerm", "name": sb.name, "termCode": sb.id},
            )
        elif f.statbarn:
            entity["statbarn"] = f.statbarn
        file_entities.append(entity)

    root = {
        "@id": "./",
        "@type": "Dataset",
        "identifier": req.id,
        "name": req.title,
        "description": req.description or req.title,
        "datePublished": _iso(released_at),
        "dateCreated": _iso(req.created_at),
        "version": str(req.revision),
        "license": {"@id": "#release-terms"},
        "author": {"@id": _person_id(req.author)},
        "about": {"@id": project["@id"]},
        "hasPart": [{"@id": e["@id"]} for e in file_entities],
        "mentions": [],
    }
    graph.append(
        {
            "@id": METADATA_NAME,
            "@type": "CreativeWork",
            "conformsTo": {"@id": RO_CRATE_SPEC},
            "about": {"@id": "./"},
        }
    )
    graph.append(
        {
            "@id": PREVIEW_NAME,
            "@type": "CreativeWork",
            "about": {"@id": "./"},
            "encodingFormat": "text/html",
        }
    )
    graph.append(root)
    graph.extend(file_entities)
    graph.append(
        {
            "@id": "#release-terms",
            "@type": "CreativeWork",
            "name": "TRE output release terms",
            "description": "Released from a Trusted Research Environment after statistical "
            "disclosure control; use is governed by the project's data access agreement.",
        }
    )
    graph.append(project)
    graph.append(software)
    for p in people.values():
        graph.append({"@id": _person_id(p), "@type": "Person", "name": p.name})
    graph.extend(terms_used.values())

    by_object = {f.object_id: f.crate_id for f in req.files}
    for review in req.reviews:
        action_id = f"#review-{review.id}"
        root["mentions"].append({"@id": action_id})
        action: dict[str, Any] = {
            "@id": action_id,
            "@type": "AssessAction",
            "name": (
                f"Automatic disclosure check (revision {review.revision})"
                if review.kind == "agent"
                else f"Output check by {review.reviewer.name if review.reviewer else '?'} "
                f"(revision {review.revision})"
            ),
            "agent": {"@id": "#trevor"}
            if review.reviewer is None
            else {"@id": _person_id(review.reviewer)},
            "object": [{"@id": "./"}]
            + [{"@id": by_object[d.object_id]} for d in review.objects if d.object_id in by_object],
            "endTime": _iso(review.created_at),
            "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
            "description": review.summary or "",
        }
        if review.kind == "agent":
            action["instrument"] = {"@id": "#trevor"}
        if review.decision:
            action["decision"] = review.decision
        comments = [
            f"{by_object[d.object_id]}: {d.decision}" + (f" — {d.comment}" if d.comment else "")
            for d in review.objects
            if d.object_id in by_object
        ]
        if comments:
            action["result"] = "\n".join(comments)
        graph.append(action)

    release_action = {
        "@id": "#release",
        "@type": "CreateAction",
        "name": "Release packaging",
        "agent": {"@id": "#trevor"},
        "instrument": {"@id": "#trevor"},
        "object": [{"@id": e["@id"]} for e in file_entities],
        "result": {"@id": "./"},
        "endTime": _iso(released_at),
        "actionStatus": {"@id": "http://schema.org/CompletedActionStatus"},
    }
    root["mentions"].append({"@id": "#release"})
    graph.append(release_action)
    for term, comment in AD_HOC_TERMS.items():
        graph.append(
            {
                "@id": TERMS_BASE + term,
                "@type": "rdf:Property",
                "rdfs:label": term,
                "rdfs:comment": comment,
            }
        )
    context: list[Any] = [
        RO_CRATE_CONTEXT,
        {term: TERMS_BASE + term for term in AD_HOC_TERMS},
    ]
    return {"@context": context, "@graph": graph}


def render_preview(req: CrateRequest, released_at: datetime) -> str:
    """``ro-crate-preview.html``: what a person opening the zip reads first."""
    req = presented(req)
    names = {f.object_id: f.filename for f in req.files}
    return _templates.get_template("crate-preview.html").render(
        req=req,
        released_at=released_at,
        statbarn_uri=lambda sid: statbarns.get(sid).uri if statbarns.get(sid) else None,
        object_names=names,
        metadata_name=METADATA_NAME,
    )


# --- the streamed zip ----------------------------------------------------------------------


class IntegrityError(Exception):
    """An object's stored bytes no longer match the sha256 (or size) recorded at upload."""

    def __init__(self, file: CrateFile, actual_sha256: str, actual_size: int) -> None:
        super().__init__(
            f"object {file.object_id} ({file.filename}) does not match its record: "
            f"sha256 {actual_sha256} != {file.sha256}"
            + (f", size {actual_size} != {file.size}" if actual_size != file.size else "")
        )
        self.file = file
        self.actual_sha256 = actual_sha256
        self.actual_size = actual_size


class _Cancelled(Exception):
    """The consumer gave up (store failure); the zip thread stops at its next write."""


@dataclass
class ZipResult:
    sha256: str
    size: int
    verified: list[str] = field(default_factory=list)  # object ids whose bytes were checked


@dataclass
class _Entry:
    arcname: str
    data: bytes | None = None
    file: CrateFile | None = None


class _QueueFile:
    """The zip thread's output: coalesces zipfile's small header writes into chunks and hands
    them to the event loop, blocking when ``QUEUE_DEPTH`` chunks are waiting (back-pressure)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        self.loop = loop
        self.queue = queue
        self.buffer = bytearray()
        self.position = 0
        self.cancelled = threading.Event()

    def _put(self, item: Any) -> None:
        if self.cancelled.is_set():
            raise _Cancelled()
        asyncio.run_coroutine_threadsafe(self.queue.put(item), self.loop).result()

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self.position += n
        if n >= CHUNK:
            self.flush()
            self._put(bytes(data))
        else:
            self.buffer += data
            if len(self.buffer) >= CHUNK:
                self.flush()
        return n

    def tell(self) -> int:
        # zipfile asks for the offset of each local header; a stream's offset is what it wrote.
        return self.position

    def flush(self) -> None:
        if self.buffer:
            chunk = bytes(self.buffer)
            self.buffer.clear()
            self._put(chunk)

    def seekable(self) -> bool:
        return False


async def _next_chunk(it: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await it.__anext__()
    except StopAsyncIteration:
        return None


def _zip_thread(
    entries: list[_Entry],
    out: _QueueFile,
    source: Callable[[CrateFile], AsyncIterator[bytes]],
    date_time: tuple[int, int, int, int, int, int],
    verified: list[str],
) -> None:
    loop = out.loop
    with zipfile.ZipFile(out, mode="w", compression=zipfile.ZIP_STORED) as zf:  # type: ignore[arg-type]
        for entry in entries:
            info = zipfile.ZipInfo(entry.arcname, date_time=date_time)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            # force_zip64: the size is unknown to zipfile before the bytes pass, and an object
            # may exceed 4 GiB.
            with zf.open(info, mode="w", force_zip64=True) as member:
                if entry.data is not None:
                    member.write(entry.data)
                    continue
                assert entry.file is not None
                it = source(entry.file)
                digest = hashlib.sha256()
                size = 0
                try:
                    while True:
                        if out.cancelled.is_set():
                            raise _Cancelled()
                        chunk = asyncio.run_coroutine_threadsafe(_next_chunk(it), loop).result()
                        if chunk is None:
                            break
                        digest.update(chunk)
                        size += len(chunk)
                        member.write(chunk)
                finally:
                    closer = getattr(it, "aclose", None)
                    if closer is not None:
                        asyncio.run_coroutine_threadsafe(closer(), loop).result()
                if digest.hexdigest() != entry.file.sha256 or size != entry.file.size:
                    raise IntegrityError(entry.file, digest.hexdigest(), size)
                verified.append(entry.file.object_id)
    out.flush()


async def write_zip(
    writer: ObjectWriter,
    req: CrateRequest,
    released_at: datetime,
    source: Callable[[CrateFile], AsyncIterator[bytes]],
) -> ZipResult:
    """Stream the crate into ``writer`` (not committed here). Raises :class:`IntegrityError`
    when an object's bytes do not match its record; the caller then aborts the writer."""
    metadata = json.dumps(build_metadata(req, released_at), indent=2, ensure_ascii=False)
    entries = [
        _Entry(METADATA_NAME, data=metadata.encode()),
        _Entry(PREVIEW_NAME, data=render_preview(req, released_at).encode()),
        *(_Entry(f.arcname, file=f) for f in req.files),
    ]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_DEPTH)
    out = _QueueFile(loop, queue)
    done = object()
    verified: list[str] = []
    stamp = released_at.timetuple()[:6]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _zip_thread(entries, out, source, stamp, verified)  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the loop, re-raised there
            failure.append(exc)
        finally:
            if not out.cancelled.is_set():
                asyncio.run_coroutine_threadsafe(queue.put(done), loop).result()

    thread = threading.Thread(target=run, name=f"crate-{req.id}", daemon=True)
    digest = hashlib.sha256()
    size = 0
    thread.start()
    try:
        while True:
            item = await queue.get()
            if item is done:
                break
            digest.update(item)
            size += len(item)
            await writer.write(item)
    except BaseException:
        # Stop the thread: it raises at its next write or chunk; drain so it is not left
        # blocked on a full queue.
        out.cancelled.set()
        while not queue.empty():
            queue.get_nowait()
        await asyncio.to_thread(thread.join)
        raise
    await asyncio.to_thread(thread.join)
    if failure:
        raise failure[0]
    return ZipResult(sha256=digest.hexdigest(), size=size, verified=verified)
