"""RO-Crate 1.1 metadata of a released request.

:func:`build_metadata` / :func:`render_preview` turn a plain snapshot of the request (no ORM
objects, so it can be built inside one transaction and used after it) into
``ro-crate-metadata.json`` and the human-readable ``ro-crate-preview.html``; the zip that carries
them is :mod:`.zipstream`'s.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from ...sdc import statbarns

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

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[2] / "templates"),
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

    mentions: list[dict[str, Any]] = []
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
        "mentions": mentions,
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
        mentions.append({"@id": action_id})
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
    mentions.append({"@id": "#release"})
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


def _statbarn_uri(sid: str) -> str | None:
    sb = statbarns.get(sid)
    return sb.uri if sb is not None else None


def render_preview(req: CrateRequest, released_at: datetime) -> str:
    """``ro-crate-preview.html``: what a person opening the zip reads first."""
    req = presented(req)
    names = {f.object_id: f.filename for f in req.files}
    return _templates.get_template("crate-preview.html").render(
        req=req,
        released_at=released_at,
        statbarn_uri=_statbarn_uri,
        object_names=names,
        metadata_name=METADATA_NAME,
    )
