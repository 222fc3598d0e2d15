"""The append-only, hash-chained audit log (SPEC §4 AuditEvent)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..orm import AuditEvent, utcnow
from ..principal import Principal, correlation_id

GENESIS_HASH = "0" * 64
# Any constant works; it only has to be the same for every writer of the chain.
_PG_AUDIT_LOCK = 0x7472_6576_6F72  # "trevor"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(
    *,
    seq: int,
    created_at: datetime,
    type: str,
    actor_id: str | None,
    actor: str,
    project_id: str | None,
    request_id: str | None,
    object_id: str | None,
    payload: dict[str, Any],
    correlation_id: str | None,
    prev_hash: str,
) -> str:
    body = _canonical(
        [
            seq,
            created_at.isoformat(),
            type,
            actor_id,
            actor,
            project_id,
            request_id,
            object_id,
            payload,
            correlation_id,
            prev_hash,
        ]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _hash_of(ev: AuditEvent) -> str:
    return event_hash(
        seq=ev.seq,
        created_at=ev.created_at,
        type=ev.type,
        actor_id=ev.actor_id,
        actor=ev.actor,
        project_id=ev.project_id,
        request_id=ev.request_id,
        object_id=ev.object_id,
        payload=ev.payload,
        correlation_id=ev.correlation_id,
        prev_hash=ev.prev_hash,
    )


async def record(
    session: AsyncSession,
    type: str,
    actor: Principal,
    *,
    project_id: str | None = None,
    request_id: str | None = None,
    object_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise writers on the chain head; released at commit or rollback.
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    head = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
        )
    ).first()
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
    # Round-trip the payload through JSON so the hash covers exactly what the database returns.
    payload = dict(payload or {})
    if actor.auth_method is not None:
        # How the actor logged in (oidc, jupyterhub, token beside them); absent: an API token
        # under the default TokenAuthenticator, the only way in there.
        payload.setdefault("auth_method", actor.auth_method)
    clean_payload = json.loads(_canonical(payload))
    ev = AuditEvent(
        seq=seq,
        created_at=utcnow(),
        type=type,
        actor_id=actor.user_id,
        actor=actor.name,
        project_id=project_id,
        request_id=request_id,
        object_id=object_id,
        payload=clean_payload,
        correlation_id=correlation_id.get(),
        prev_hash=prev,
    )
    ev.hash = _hash_of(ev)
    session.add(ev)
    await session.flush()
    return ev


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_seq: int | None = None
    reason: str = ""


async def verify(session: AsyncSession, batch: int = 1000) -> VerifyResult:
    """Walk the whole chain; report the first event whose hash, link or position is wrong."""
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    while True:
        rows: Sequence[AuditEvent] = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.seq >= expected_seq)
                .order_by(AuditEvent.seq)
                .limit(batch)
            )
        ).all()
        if not rows:
            return VerifyResult(ok=True, checked=checked)
        for ev in rows:
            if ev.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, "event missing (gap in sequence)")
            if ev.prev_hash != prev:
                return VerifyResult(False, checked, ev.seq, "link to previous event broken")
            if _hash_of(ev) != ev.hash:
                return VerifyResult(False, checked, ev.seq, "event content altered")
            prev, expected_seq, checked = ev.hash, expected_seq + 1, checked + 1
