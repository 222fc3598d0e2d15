"""Packaging of approved egress requests (SPEC §6 "Release"): the release job.

State is the queue (SPEC §3): an egress request in ``APPROVED`` needs packaging. The
:class:`ReleaseJob` claims one with the lease columns of the request, moves it to
``RELEASING``, streams the RO-Crate zip to the store while re-verifying every object's sha256,
then in one transaction records the :class:`~trevor_backend.orm.ReleaseRecord` and moves the
request to ``RELEASED``. A crash at any point leaves either an expired lease (the work is
redone; the crate key is unique per attempt so two workers never overwrite each other) or a
committed release; never a half-written crate that anyone can download.

Failures return the request to ``APPROVED`` through ``fail_release`` with the reason in the
audit payload. A checksum mismatch (an object changed in the store after approval) is not
retried: ``attempts`` is set to ``release_max_attempts`` and admins are notified; the job
leaves it alone until an admin calls ``POST /requests/{rid}/release/retry``. Other errors
(store unreachable…) are retried with a growing delay up to ``release_max_attempts``, and
then wait for an admin the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from traitlets import Int

from ..contract import Direction, ObjectState, RequestStatus, ReviewKind, Visibility
from ..jobs import JobContext, LeasedJob, renew
from ..orm import (
    AirlockRequest,
    ObjectDecision,
    OutputObject,
    Project,
    ReleaseRecord,
    Review,
    User,
    utcnow,
)
from ..principal import system
from ..storage import ObjectNotFound, ObjectStore, StorageError
from ..version import __version__
from . import audit, crate
from .notifications.recipients import admin_ids, notify_users
from .requests import current_objects, lock
from .transitions import transition

log = logging.getLogger("trevor_backend.release")
S = RequestStatus
RELEASE_ACTOR = system("release")
RETRY_DELAY = 60  # seconds before the first retry of a failed packaging; doubles per attempt


def crate_prefix(r: AirlockRequest) -> str:
    return f"releases/{r.project_id}/{r.id}/"


async def _person(session: AsyncSession, user_id: str | None) -> crate.CratePerson | None:
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    if user is None:
        return crate.CratePerson(id=user_id, name=user_id)
    return crate.CratePerson(id=user.id, name=user.display_name or user.username)


async def snapshot(
    session: AsyncSession, r: AirlockRequest, objects: list[OutputObject]
) -> crate.CrateRequest:
    """Everything the crate says about ``r``, read in the caller's transaction."""
    project = await session.get(Project, r.project_id)
    author = await _person(session, r.created_by)
    assert author is not None
    files = [
        crate.CrateFile(
            object_id=o.id,
            logical_id=o.logical_id,
            version=o.version,
            filename=o.filename,
            media_type=o.media_type,
            size=o.size,
            sha256=o.sha256,
            storage_key=o.storage_key,
            title=o.meta.title if o.meta else "",
            description=o.meta.description if o.meta else "",
            statbarn=o.meta.statbarn if o.meta else None,
            justification=o.meta.justification if o.meta else "",
            suppression_notes=o.meta.suppression_notes if o.meta else "",
        )
        for o in objects
    ]
    reviews = []
    rows = await session.scalars(
        select(Review)
        .where(Review.request_id == r.id, Review.revision == r.revision)
        .order_by(Review.created_at, Review.id)
    )
    for review in rows:
        decisions = list(
            await session.scalars(
                select(ObjectDecision).where(ObjectDecision.review_id == review.id)
            )
        )
        object_decisions = [
            crate.CrateObjectDecision(
                object_id=d.object_id,
                decision=d.decision,
                # Private comments are for checkers only: never in a release.
                comment=d.comment if d.visibility == Visibility.PUBLIC else "",
            )
            for d in decisions
        ]
        agent_report = review.report or {}
        if review.kind == ReviewKind.AGENT:
            # The agent recommends rather than decides: its per-object verdicts are the record.
            object_decisions = [
                crate.CrateObjectDecision(
                    object_id=oid, decision=f"verdict {obj.get('status')}", comment=""
                )
                for oid, obj in (agent_report.get("objects") or {}).items()
                if isinstance(obj, dict)
            ]
        reviews.append(
            crate.CrateReview(
                id=review.id,
                kind=review.kind,
                reviewer=await _person(session, review.reviewer_id),
                revision=review.revision,
                decision=review.decision
                or (
                    f"recommends {agent_report['recommendation']}"
                    if agent_report.get("recommendation")
                    else None
                ),
                summary=review.summary or "",
                created_at=review.created_at,
                objects=tuple(object_decisions),
            )
        )
    # The agent's review first, then the humans' in the order they decided.
    reviews.sort(key=lambda rv: (rv.kind != ReviewKind.AGENT, rv.created_at))
    return crate.CrateRequest(
        id=r.id,
        project_id=r.project_id,
        project_name=project.name if project else r.project_id,
        title=r.title,
        description=r.description,
        revision=r.revision,
        created_at=r.created_at,
        submitted_at=r.submitted_at,
        author=author,
        files=tuple(crate.assign_arcnames(files)),
        reviews=tuple(reviews),
        software_version=__version__,
    )


def _object_source(store: ObjectStore) -> Any:
    def source(f: crate.CrateFile) -> AsyncIterator[bytes]:
        return store.iter_bytes(f.storage_key)

    return source


class _Blocked(Exception):
    """A reason not to package at all (and not to retry until an admin acts)."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class ReleaseJob(LeasedJob):
    """Package approved egress requests. ``run_once`` returns how many it handled."""

    name = "release"
    model = AirlockRequest
    # A packaging attempt is counted when it starts (``_start``), not at the claim.
    count_attempts = False
    batch_size = Int(5, config=True, help="Requests claimed at most per pass.")

    def due(self, ctx: JobContext) -> list[ColumnElement[bool]]:
        r = AirlockRequest
        return [
            r.direction == Direction.EGRESS,
            or_(
                and_(r.status == S.APPROVED, r.attempts < ctx.settings.release_max_attempts),
                # A RELEASING request whose lease ran out: its worker died; redo the work.
                r.status == S.RELEASING,
            ),
        ]

    def order_by(self) -> tuple[Any, ...]:
        return (AirlockRequest.updated_at,)

    async def work(self, ctx: JobContext, ids: list[str]) -> int:
        for rid in ids:
            await self.release(ctx, rid)
        return len(ids)

    async def release(self, ctx: JobContext, rid: str) -> bool:
        """Package one claimed request; True if it is RELEASED afterwards."""
        try:
            started = await self._start(ctx, rid)
        except _Blocked as exc:
            await self._fail(ctx, rid, exc.reason, blocking=True, details=exc.details)
            return False
        if started is None:
            return False
        snap, project_id = started
        key = f"releases/{project_id}/{rid}/{uuid.uuid4().hex}.zip"
        heartbeat = asyncio.ensure_future(self._heartbeat(ctx, rid))
        released_at = utcnow()
        try:
            writer = await ctx.store.open_writer(key)
            try:
                snap = dataclasses.replace(snap, name_checkers=ctx.settings.crate_names_checkers)
                result = await crate.write_zip(writer, snap, released_at, _object_source(ctx.store))
                await writer.commit()
            except BaseException:
                await writer.abort()
                raise
        except ObjectNotFound as exc:
            # Approved bytes that vanished are as serious as changed ones: do not retry.
            await self._fail(ctx, rid, f"an approved object is missing: {exc}", blocking=True)
            return False
        except crate.IntegrityError as exc:
            await self._fail(
                ctx,
                rid,
                str(exc),
                blocking=True,
                details={
                    "object_id": exc.file.object_id,
                    "filename": exc.file.filename,
                    "expected_sha256": exc.file.sha256,
                    "actual_sha256": exc.actual_sha256,
                    "expected_size": exc.file.size,
                    "actual_size": exc.actual_size,
                },
            )
            return False
        except (StorageError, OSError, ValueError) as exc:
            log.warning("release of %s failed: %s", rid, exc)
            await self._fail(ctx, rid, f"packaging failed: {exc}", blocking=False)
            return False
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        return await self._finish(ctx, rid, key, result, released_at, len(snap.files))

    async def _heartbeat(self, ctx: JobContext, rid: str) -> None:
        """Renew the lease while packaging, so a large crate is not taken over mid-way."""
        while True:
            await asyncio.sleep(max(1.0, ctx.lease_seconds / 3))
            await renew(ctx, AirlockRequest, rid)

    async def _start(self, ctx: JobContext, rid: str) -> tuple[crate.CrateRequest, str] | None:
        async with ctx.sessions.begin() as session:
            r = await lock(session, rid)
            if r is None or r.lease_owner != ctx.owner:
                return None
            attempt = r.attempts + 1
            if r.status == S.APPROVED:
                await transition(
                    session, r, "start_release", RELEASE_ACTOR, payload={"attempt": attempt}
                )
            elif attempt > ctx.settings.release_max_attempts:
                # Workers keep dying on this one (crash loop): stop and call an admin.
                raise _Blocked(f"packaging did not finish in {attempt - 1} attempts")
            # The transition cleared the lease and the attempt count; this worker keeps both.
            r.lease_owner = ctx.owner
            r.lease_expires_at = ctx.lease_until()
            r.attempts = attempt
            objects = await current_objects(session, r.id)
            if not objects:
                raise _Blocked("the request has no objects to release")
            # All-or-none (SPEC §4): every current object must have been approved.
            pending = [o for o in objects if o.state != ObjectState.APPROVED]
            if pending:
                raise _Blocked(
                    "not every object is approved: "
                    + ", ".join(f"{o.filename} is {o.state}" for o in pending),
                    objects=[o.id for o in pending],
                )
            return await snapshot(session, r, objects), r.project_id

    async def _fail(
        self,
        ctx: JobContext,
        rid: str,
        reason: str,
        *,
        blocking: bool,
        details: dict[str, Any] | None = None,
    ) -> None:
        max_attempts = ctx.settings.release_max_attempts
        async with ctx.sessions.begin() as session:
            r = await lock(session, rid)
            if r is None or r.lease_owner != ctx.owner:
                return
            attempts = r.attempts
            if r.status == S.RELEASING:
                await transition(
                    session,
                    r,
                    "fail_release",
                    RELEASE_ACTOR,
                    payload={"reason": reason, "attempt": attempts, "retry": not blocking}
                    | (details or {}),
                )
            else:
                # Refused before packaging started (still APPROVED): the reason still goes
                # into the audit log, under the same event type.
                await audit.record(
                    session,
                    "release.failed",
                    RELEASE_ACTOR,
                    project_id=r.project_id,
                    request_id=r.id,
                    payload={"reason": reason, "attempt": attempts, "retry": False}
                    | (details or {}),
                )
                blocking = True
            r.last_error = reason[:4000]
            r.lease_owner = None
            if blocking or attempts >= max_attempts:
                # Parked: the job's claim skips APPROVED requests at the attempt limit.
                r.attempts = max(attempts, max_attempts)
                r.lease_expires_at = None
                await notify_users(
                    session,
                    await admin_ids(session),
                    "release_failed",
                    r,
                    {"reason": reason, "attempts": attempts, "action": "release/retry"},
                )
            else:
                r.attempts = attempts
                r.lease_expires_at = utcnow() + timedelta(
                    seconds=RETRY_DELAY * 2 ** max(0, attempts - 1)
                )

    async def _finish(
        self,
        ctx: JobContext,
        rid: str,
        key: str,
        result: crate.ZipResult,
        released_at: datetime,
        count: int,
    ) -> bool:
        async with ctx.sessions.begin() as session:
            r = await lock(session, rid)
            if r is None or r.status != S.RELEASING or r.lease_owner != ctx.owner:
                # Another worker took over (our lease expired); its crate wins.
                lost = True
            else:
                lost = False
                record = ReleaseRecord(
                    request_id=r.id,
                    crate_key=key,
                    crate_sha256=result.sha256,
                    size=result.size,
                    url_expires_at=released_at
                    + timedelta(seconds=ctx.settings.release_url_lifetime),
                    created_at=released_at,
                )
                session.add(record)
                await session.flush()
                await transition(
                    session,
                    r,
                    "finish_release",
                    RELEASE_ACTOR,
                    payload={
                        "release_id": record.id,
                        "crate_sha256": result.sha256,
                        "size": result.size,
                        "objects": count,
                        "verified": result.verified,
                    },
                )
                r.last_error = None
                prefix = crate_prefix(r)
        if lost:
            await ctx.store.delete(key)
            return False
        # Leftovers of attempts that crashed after writing their crate.
        async for old in ctx.store.list_keys(prefix):
            if old != key:
                await ctx.store.delete(old)
        return True
