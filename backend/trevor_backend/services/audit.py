"""The append-only, hash-chained, keyed audit log (SPEC §4 AuditEvent; docs/audit.md).

Each event's ``hash`` is sha256 over its content and the previous event's hash (the chain).
Each event also carries ``mac``, HMAC-SHA256 of its hash under the audit key named by
``key_id``. The key is held outside the database (``TrevorBackend.audit_key``), so someone who
can write the database but not read the key can rewrite no event without ``verify`` noticing;
truncation of the tail is found against an exported anchor (``anchor``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

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


@dataclass(frozen=True)
class AuditKeys:
    """The key new events are signed with, and older keys kept to verify events they signed."""

    current_id: str
    keys: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.keys.get(self.current_id):
            raise ValueError(f"no audit key for the current key id {self.current_id!r}")


#: The keys of each engine's chain, installed when the backend starts. Keyed by engine (not
#: global) so backends on different databases in one process keep their own keys.
_keyrings: weakref.WeakKeyDictionary[Engine, AuditKeys] = weakref.WeakKeyDictionary()


def install_keys(engine: AsyncEngine | Engine, keys: AuditKeys) -> None:
    _keyrings[engine.sync_engine if isinstance(engine, AsyncEngine) else engine] = keys


def keys_for(session: AsyncSession) -> AuditKeys | None:
    bind: Any = session.get_bind()
    # Sessions may run on an engine with execution options (an OptionEngine wrapping the one
    # the keys were installed on).
    while bind is not None and bind not in _keyrings:
        bind = getattr(bind, "_proxied", None)
    return _keyrings.get(bind) if isinstance(bind, Engine) else None


def event_mac(key: bytes, key_id: str, event_hash: str) -> str:
    return hmac.new(key, f"{key_id}\n{event_hash}".encode(), hashlib.sha256).hexdigest()


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
    if (ring := keys_for(session)) is not None:
        ev.key_id = ring.current_id
        ev.mac = event_mac(ring.keys[ring.current_id], ring.current_id, ev.hash)
    session.add(ev)
    await session.flush()
    return ev


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_seq: int | None = None
    reason: str = ""
    #: events whose keyed MAC was checked (the rest predate keying)
    keyed: int = 0
    #: whether an anchor was given and the log still holds its event unchanged
    anchored: bool = False


@dataclass(frozen=True)
class Anchor:
    """The head of the chain, to be kept outside the database (``audit anchor``)."""

    seq: int
    hash: str
    key_id: str | None
    mac: str | None
    created_at: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str) -> Anchor:
        data = json.loads(raw)
        return cls(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            key_id=data.get("key_id"),
            mac=data.get("mac"),
            created_at=str(data.get("created_at", "")),
        )


async def anchor(session: AsyncSession) -> Anchor | None:
    """The newest event's position and hashes (None for an empty log)."""
    head = await session.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    if head is None:
        return None
    return Anchor(head.seq, head.hash, head.key_id, head.mac, head.created_at.isoformat())


def _check_mac(ev: AuditEvent, keys: AuditKeys | None, keyed_seen: bool) -> str | None:
    """Why ``ev``'s MAC fails, or None."""
    if keys is None:
        return None
    if ev.mac is None:
        # Once the chain is keyed, an unkeyed event can only be a forgery or a downgrade.
        return "event not keyed after keyed events (rewritten)" if keyed_seen else None
    key = keys.keys.get(ev.key_id or "")
    if key is None:
        return f"no audit key with id {ev.key_id!r} to check this event"
    if not hmac.compare_digest(ev.mac, event_mac(key, ev.key_id or "", ev.hash)):
        return "keyed MAC does not match (event rewritten without the key)"
    return None


async def verify(
    session: AsyncSession,
    batch: int = 1000,
    *,
    keys: AuditKeys | None = None,
    anchor: Anchor | None = None,
) -> VerifyResult:
    """Walk the whole chain; report the first event whose hash, link, position or keyed MAC
    is wrong, and a log that no longer reaches (or no longer matches) ``anchor``.

    ``keys`` defaults to the keys installed for the session's engine; without keys only the
    unkeyed chain is checked, which anyone with database access can recompute."""
    keys = keys or keys_for(session)
    expected_seq, prev, checked, keyed = 1, GENESIS_HASH, 0, 0
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
            break
        for ev in rows:
            if ev.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, "event missing (gap in sequence)")
            if ev.prev_hash != prev:
                return VerifyResult(False, checked, ev.seq, "link to previous event broken")
            if _hash_of(ev) != ev.hash:
                return VerifyResult(False, checked, ev.seq, "event content altered")
            if (why := _check_mac(ev, keys, keyed > 0)) is not None:
                return VerifyResult(False, checked, ev.seq, why, keyed)
            if anchor is not None and ev.seq == anchor.seq and ev.hash != anchor.hash:
                return VerifyResult(False, checked, ev.seq, "event differs from the anchor", keyed)
            keyed += ev.mac is not None and keys is not None
            prev, expected_seq, checked = ev.hash, expected_seq + 1, checked + 1
    if anchor is not None and checked < anchor.seq:
        return VerifyResult(
            False,
            checked,
            checked + 1,
            f"log truncated: it ends at event {checked}, the anchor holds event {anchor.seq}",
            keyed,
        )
    return VerifyResult(True, checked, keyed=keyed, anchored=anchor is not None)
