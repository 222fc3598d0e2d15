"""What happens when an object's stored bytes are missing or changed on a read.

Readers (content, preview) verify while streaming (``storage.verified``). On a failure the
read is audited as ``object.integrity_failed`` and admins are notified once per object (a
notification on every read of a broken object would bury the first); the caller answers
with a 409 problem naming the object, never a 500 or the altered bytes.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ..errors import IntegrityFailed
from ..orm import AirlockRequest, AuditEvent, OutputObject
from ..principal import Principal
from ..storage.verified import IntegrityFailure
from . import audit
from .context import Context
from .notifications.recipients import notify_users

log = logging.getLogger("trevor_backend.integrity")
EVENT = "object.integrity_failed"


async def report(
    ctx: Context,
    p: Principal,
    r: AirlockRequest,
    obj: OutputObject,
    failure: IntegrityFailure,
    surface: str,
) -> IntegrityFailed:
    """Audit the failed read, alert admins (first failure of this object), and return the
    problem to answer with."""
    from .notifications.recipients import admin_ids

    log.error("integrity failure on %s (object %s): %s", surface, obj.id, failure.detail)
    async with ctx.sessions.begin() as session:
        seen_before = await session.scalar(
            select(AuditEvent.seq).where(AuditEvent.type == EVENT, AuditEvent.object_id == obj.id)
        )
        await audit.record(
            session,
            EVENT,
            p,
            project_id=r.project_id,
            request_id=r.id,
            object_id=obj.id,
            payload={"as": surface, "reason": failure.reason, "detail": failure.detail},
        )
        if seen_before is None:
            await notify_users(
                session,
                await admin_ids(session),
                "integrity_failed",
                r,
                {"object": obj.id, "filename": obj.filename, "reason": failure.reason},
            )
    return IntegrityFailed(
        f"the stored bytes of {obj.filename!r} are {failure.reason}: {failure.detail}; "
        "administrators have been alerted",
        object_id=obj.id,
        reason=failure.reason,
    )
