"""The agent review: SUBMITTED → AGENT_REVIEW → HUMAN_REVIEW (SPEC §4, §5).

A reconciler job. It claims submitted requests (and agent reviews whose lease ran out), runs
the SDC rule engine on every current object with the evidence stored beside it, and commits
one agent :class:`~trevor_backend.orm.Review` per revision together with the transition to
HUMAN_REVIEW. ``Review.agent_key = "{request_id}:{revision}"`` is unique, so however many
processes or retries run the same review, at most one result is ever committed.

The agent recommends; it never decides. Its report is what checkers see beside each object and
what ``ObjectOut.verdict`` shows.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets import Float, Int

from ..contract import ObjectState, RequestStatus, ReviewKind
from ..jobs import JobContext, LeasedJob, LeaseKeeper, LeaseLost, claim, give_back
from ..orm import AirlockRequest, OutputObject, Project, Review, utcnow
from ..principal import system
from ..sdc.checks import REVIEW
from ..sdc.params import Params
from ..sdc.report import aggregate, check_object
from .context import Settings
from .requests import current_objects, lock
from .transitions import transition

log = logging.getLogger("trevor_backend.agent")
S = RequestStatus
AGENT = system("agent")

TABULAR_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}


def agent_key(rid: str, revision: int) -> str:
    return f"{rid}:{revision}"


@dataclass(frozen=True)
class ObjectSnapshot:
    """What the agent needs of one object, read before the (slow) checks run outside any
    transaction."""

    id: str
    logical_id: str
    version: int
    filename: str
    size: int
    sha256: str
    storage_key: str
    statbarn: str | None
    evidence: dict[str, Any] | None

    @classmethod
    def of(cls, obj: OutputObject) -> ObjectSnapshot:
        return cls(
            id=obj.id,
            logical_id=obj.logical_id,
            version=obj.version,
            filename=obj.filename,
            size=obj.size,
            sha256=obj.sha256,
            storage_key=obj.storage_key,
            statbarn=obj.meta.statbarn if obj.meta is not None else None,
            evidence=obj.evidence,
        )


def sdc_params(
    settings: Settings, project_params: dict[str, Any] | None
) -> tuple[Params, list[str]]:
    """Deployment parameters overlaid with the project's. A bad project override must not stop
    reviews: it is reported in the notes and the deployment parameters apply."""
    notes: list[str] = []
    try:
        base = Params.from_mapping(dict(settings.sdc_params))
    except ValueError as exc:
        notes.append(f"deployment SDC parameters ignored: {exc}")
        base = Params()
    try:
        return Params.from_mapping(project_params or {}, base=base), notes
    except ValueError as exc:
        notes.append(f"project SDC parameters ignored: {exc}")
        return base, notes


def tabular_separator(filename: str) -> str | None:
    lowered = filename.lower()
    for suffix, sep in TABULAR_SUFFIXES.items():
        if lowered.endswith(suffix):
            return sep
    return None


def parse_table(filename: str, data: bytes) -> pd.DataFrame | None:
    """A CSV/TSV/Parquet object as a DataFrame (first column as the index for text tables,
    as pandas writes them), or None for other kinds of file."""
    sep = tabular_separator(filename)
    if sep is not None:
        return pd.read_csv(io.BytesIO(data), sep=sep, index_col=0)
    if filename.lower().endswith(".parquet"):
        return pd.read_parquet(io.BytesIO(data))
    return None


async def released_tables(
    session: AsyncSession, project_id: str, limit: int
) -> list[tuple[str, dict[str, Any]]]:
    """Evidence of the tables already released from the project, newest first, for the
    differencing check: a new table that differs from one of them by a few contributors can
    reveal a small group by subtraction."""
    rows = await session.execute(
        select(OutputObject.filename, AirlockRequest.title, OutputObject.evidence)
        .join(AirlockRequest, AirlockRequest.id == OutputObject.request_id)
        .where(
            AirlockRequest.project_id == project_id,
            AirlockRequest.status == S.RELEASED,
            OutputObject.state == ObjectState.APPROVED,
            OutputObject.evidence.is_not(None),
        )
        .order_by(AirlockRequest.closed_at.desc(), OutputObject.id)
        .limit(limit)
    )
    return [
        (f"{filename} (released in {title!r})", evidence)
        for filename, title, evidence in rows.all()
        if isinstance(evidence, dict) and isinstance(evidence.get("cells"), dict)
    ]


async def claim_requests(
    session: AsyncSession,
    ctx: JobContext,
    statuses: Sequence[RequestStatus],
    *,
    limit: int = 10,
) -> list[str]:
    """Claim up to ``limit`` requests in ``statuses``, oldest submission first, inside the
    caller's transaction (see ``jobs.lease``)."""
    return await claim(
        session,
        ctx,
        AirlockRequest,
        [AirlockRequest.status.in_(statuses)],
        order_by=(AirlockRequest.submitted_at,),
        limit=limit,
    )


class AgentReviewJob(LeasedJob):
    """Reconciler job: the automatic SDC review of submitted requests (and agent reviews
    whose lease ran out)."""

    name = "agent-review"
    model = AirlockRequest
    batch_size = Int(10, config=True, help="Requests claimed per pass.")
    max_table_bytes = Int(
        20 * 1024**2,
        config=True,
        help="Largest CSV/TSV/Parquet object the agent loads into memory; larger ones get the "
        "file-level and evidence checks only.",
    )
    max_released_tables = Int(
        500,
        config=True,
        help="Most recent released tables of the project compared with each new table "
        "(differencing).",
    )
    retry_delay = Float(
        5.0, config=True, help="Seconds before a failed agent review is tried again."
    )

    def _narrative(self) -> Any:
        cls = getattr(self.parent, "narrative_class", None)
        if cls is None:
            return None
        if not hasattr(self, "_narrative_instance"):
            self._narrative_instance = cls(parent=self.parent)
        return self._narrative_instance

    def due(self, ctx: JobContext) -> list[ColumnElement[bool]]:
        return [AirlockRequest.status.in_([S.SUBMITTED, S.AGENT_REVIEW])]

    def order_by(self) -> tuple[Any, ...]:
        return (AirlockRequest.submitted_at,)

    async def on_claim(self, session: AsyncSession, ctx: JobContext, ids: list[str]) -> None:
        for rid in ids:
            r = await session.get(AirlockRequest, rid, populate_existing=True)
            assert r is not None
            if r.status == S.SUBMITTED:
                await transition(session, r, "start_agent_review", AGENT)
                # transition() ends leases held on the old state; keep ours on the new one.
                r.lease_owner, r.lease_expires_at = ctx.owner, ctx.lease_until()
                r.attempts = 1

    async def work(self, ctx: JobContext, ids: list[str]) -> int:
        async with ctx.sessions() as session:
            rows = await session.execute(
                select(AirlockRequest.id, AirlockRequest.revision).where(AirlockRequest.id.in_(ids))
            )
            revisions: dict[str, int] = {rid: revision for rid, revision in rows}
        done = 0
        for rid in ids:
            revision = revisions[rid]
            try:
                done += await self.review(ctx, rid, revision)
            except Exception as exc:
                log.exception("agent review of %s (revision %s) failed", rid, revision)
                await give_back(
                    ctx,
                    AirlockRequest,
                    rid,
                    retry_in=self.retry_delay,
                    last_error=f"agent review: {type(exc).__name__}: {exc}"[:2000],
                )
        return done

    async def review(self, ctx: JobContext, rid: str, revision: int) -> int:
        """Review one claimed request; 1 if this call committed the review, else 0."""
        async with ctx.sessions() as session:
            r = await session.get(AirlockRequest, rid)
            if r is None or r.status != S.AGENT_REVIEW or r.revision != revision:
                return 0
            project = await session.get(Project, r.project_id)
            objects = [ObjectSnapshot.of(o) for o in await current_objects(session, rid)]
            project_params = dict(project.sdc_params or {}) if project else {}
            released = await released_tables(session, r.project_id, self.max_released_tables)
        try:
            report = await self.build_report(
                ctx,
                objects,
                project_params,
                revision,
                released,
                LeaseKeeper(ctx, AirlockRequest, rid),
            )
        except LeaseLost:
            log.info("lease on %s lost during its agent review; another process has it", rid)
            return 0
        narrative = self._narrative()
        if narrative is not None:
            await self._add_narrative(narrative, report)
        try:
            async with ctx.sessions.begin() as session:
                r = await lock(session, rid)
                # Withdrawn meanwhile, or already finished by another process: nothing to do.
                if r is None or r.status != S.AGENT_REVIEW or r.revision != revision:
                    return 0
                session.add(
                    Review(
                        request_id=rid,
                        revision=revision,
                        reviewer_id=None,
                        agent_key=agent_key(rid, revision),
                        kind=ReviewKind.AGENT,
                        decision=None,  # the agent recommends; only checkers decide
                        summary=report["summary"],
                        report=report,
                    )
                )
                await session.flush()
                await transition(
                    session,
                    r,
                    "finish_agent_review",
                    AGENT,
                    payload={
                        "recommendation": report["recommendation"],
                        "verdicts": report["counts"],
                        # Which backend process did the work (lease owner), for operators.
                        "worker": ctx.owner,
                    },
                )
        except IntegrityError:
            # uq_reviews_agent_key: another process committed this revision's review first.
            log.info("agent review of %s revision %s already committed elsewhere", rid, revision)
            return 0
        return 1

    async def build_report(
        self,
        ctx: JobContext,
        objects: list[ObjectSnapshot],
        project_params: dict[str, Any],
        revision: int,
        released: list[tuple[str, dict[str, Any]]] | None = None,
        keep_lease: LeaseKeeper | None = None,
    ) -> dict[str, Any]:
        params, notes = sdc_params(ctx.settings, project_params)
        results: dict[str, dict[str, Any]] = {}
        for obj in objects:
            if keep_lease is not None:
                await keep_lease()  # a request of many large tables may outlast one lease
            results[obj.id] = await self.check(ctx, obj, params, released or [])
        counts = {k: 0 for k in ("pass", "review", "fail")}
        for res in results.values():
            counts[res["status"]] += 1
        recommendation = aggregate([res["status"] for res in results.values()])
        return {
            "schema": "trevor.agent-report/1",
            "revision": revision,
            "generated_at": utcnow().isoformat(),
            "recommendation": recommendation,
            "counts": counts,
            "summary": (
                f"recommendation: {recommendation} ({counts['pass']} pass, "
                f"{counts['review']} review, {counts['fail']} fail)"
            ),
            "params": params.to_dict(),
            "notes": notes,
            "objects": results,
        }

    async def check(
        self,
        ctx: JobContext,
        obj: ObjectSnapshot,
        params: Params,
        released: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        notes: list[str] = []
        evidence = obj.evidence
        if evidence is not None and evidence.get("sha256") not in (None, obj.sha256):
            # Evidence is bound to the file it was computed for (checked at attach time too);
            # evidence for other bytes says nothing about these.
            notes.append("the stored evidence belongs to a different file and was ignored")
            evidence = None
        table = await self._load_table(ctx, obj, notes)
        try:
            report = await asyncio.to_thread(
                check_object,
                statbarn=obj.statbarn,
                filename=obj.filename,
                size=obj.size,
                table=table,
                evidence=evidence,
                params=params,
                released=released or None,
            )
            out = report.to_dict()
        except Exception as exc:
            # The engine choked on this object's evidence: retrying cannot help, and one odd
            # object must not hold the whole request back. A checker judges it instead.
            log.exception("SDC engine failed on object %s", obj.id)
            out = {
                "status": REVIEW,
                "statbarn": obj.statbarn,
                "findings": [
                    {
                        "rule": "agent_error",
                        "status": REVIEW,
                        "message": "the automatic checks failed on this object "
                        f"({type(exc).__name__}): a checker must judge it",
                    }
                ],
                "suppression": None,
                "notes": [],
                "summary": "review: the automatic checks failed",
            }
        out.pop("params", None)  # the same for every object: kept once at the top
        out["notes"] = notes + list(out.get("notes") or [])
        out.update(
            filename=obj.filename,
            logical_id=obj.logical_id,
            version=obj.version,
            sha256=obj.sha256,
            has_evidence=evidence is not None,
        )
        return out

    async def _load_table(
        self, ctx: JobContext, obj: ObjectSnapshot, notes: list[str]
    ) -> pd.DataFrame | None:
        if tabular_separator(obj.filename) is None and not obj.filename.lower().endswith(
            ".parquet"
        ):
            return None
        if obj.size > self.max_table_bytes:
            notes.append(f"the table is larger than {self.max_table_bytes} bytes: not loaded")
            return None
        data = await ctx.store.read_bytes(obj.storage_key)
        try:
            return await asyncio.to_thread(parse_table, obj.filename, data)
        except Exception as exc:  # a malformed table is the checker's business, not a crash
            notes.append(f"the file could not be read as a table: {type(exc).__name__}: {exc}")
            return None

    async def _add_narrative(self, narrative: Any, report: dict[str, Any]) -> None:
        """Ask the narrative backend for a summary. It never decides: whatever happens here
        (errors, timeouts) the review goes ahead without one."""
        timeout = float(getattr(narrative, "timeout", 30.0))
        try:
            text = await asyncio.wait_for(narrative.summarise(report), timeout)
        except Exception as exc:
            log.warning("narrative unavailable: %s: %s", type(exc).__name__, exc)
            report["narrative_error"] = f"{type(exc).__name__}: {exc}"[:500]
            return
        if text:
            report["narrative"] = str(text)[:10_000]
