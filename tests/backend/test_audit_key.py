"""The keyed audit chain (issue 10, item 7): someone with write access to the database but not
the audit key cannot rewrite the log's tail unnoticed, a truncated tail is found against an
exported anchor, and keys rotate without losing the ability to verify older events.

The attacker here works the way a database insider would: recompute the plain sha256 chain
with the published hash function (``audit.event_hash``) and write the rows back."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import delete, select

from tests.backend.test_cli import run
from tests.fixtures.backend import LiveBackend, start_backend
from trevor_backend import db
from trevor_backend.orm import AuditEvent
from trevor_backend.services import audit


async def activity(live: LiveBackend) -> None:
    alice = live.client("alice")
    for title in ("one", "two"):
        rid = (await alice.create_request(title=title))["id"]
        await alice.described_object(rid)
    await alice.post(f"/api/v1/requests/{rid}/submit")


async def rewrite_tail(live: LiveBackend, *, drop_mac: bool = False) -> int:
    """Change the newest event's actor and re-chain it with plain sha256, as an insider can."""
    async with live.backend.ctx.sessions.begin() as s:
        ev = await s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
        assert ev is not None
        ev.actor = "mallory"
        ev.hash = audit.event_hash(
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
        if drop_mac:
            ev.key_id = ev.mac = None
        return ev.seq


async def test_every_event_is_keyed_and_verifies(live: LiveBackend, database_url: str) -> None:
    await activity(live)
    async with live.backend.ctx.sessions() as s:
        events = list(await s.scalars(select(AuditEvent)))
    assert events and all(e.key_id and e.mac for e in events)
    assert len({e.key_id for e in events}) == 1
    # The key is held outside the database: no column holds it.
    key = (live.data_dir / "audit.key").read_text().strip()
    assert all(key not in (e.mac or "") + json.dumps(e.payload) for e in events)
    ok = run(["audit", "verify"], live.data_dir, database_url)
    assert ok.returncode == 0, ok.stderr
    assert f"{len(events)} with keyed MACs" in ok.stdout


async def test_rewritten_tail_is_detected_with_the_key(
    live: LiveBackend, database_url: str
) -> None:
    await activity(live)
    seq = await rewrite_tail(live)

    # The unkeyed chain alone (what verify checked before) still holds after the rewrite.
    bare = db.make_engine(database_url)
    try:
        async with db.session_factory(bare)() as s:
            assert (await audit.verify(s)).ok
    finally:
        await bare.dispose()

    # With the key, the rewrite is found at the rewritten event.
    broken = run(["audit", "verify"], live.data_dir, database_url)
    assert broken.returncode == 1
    assert f"BROKEN at event {seq}" in broken.stderr and "keyed MAC" in broken.stderr

    # Stripping the MAC (a downgrade to an unkeyed event) is refused too.
    seq = await rewrite_tail(live, drop_mac=True)
    async with live.backend.ctx.sessions() as s:
        result = await audit.verify(s)
    assert not result.ok and result.bad_seq == seq and "not keyed" in result.reason


async def test_truncation_is_detected_against_an_anchor(
    live: LiveBackend, database_url: str, tmp_path: Path
) -> None:
    await activity(live)
    anchor_file = tmp_path / "anchor.json"
    printed = run(["audit", "anchor", "--output", str(anchor_file)], live.data_dir, database_url)
    assert printed.returncode == 0, printed.stderr
    anchor = json.loads(anchor_file.read_text())
    assert json.loads(printed.stdout) == anchor
    async with live.backend.ctx.sessions() as s:
        head = await s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    assert head is not None and anchor["seq"] == head.seq and anchor["hash"] == head.hash

    async with live.backend.ctx.sessions() as s:
        held = await audit.verify(s, anchor=audit.Anchor.from_json(anchor_file.read_text()))
    assert held.ok and held.anchored

    # The insider deletes the newest events: the remaining chain is intact and keyed...
    async with live.backend.ctx.sessions.begin() as s:
        await s.execute(delete(AuditEvent).where(AuditEvent.seq > anchor["seq"] - 3))
    async with live.backend.ctx.sessions() as s:
        assert (await audit.verify(s)).ok
    # ...but it no longer reaches the anchor.
    broken = run(["audit", "verify", "--anchor", str(anchor_file)], live.data_dir, database_url)
    assert broken.returncode == 1 and "truncated" in broken.stderr, broken.stderr


async def test_key_rotation_keeps_older_events_verifiable(
    live: LiveBackend, database_url: str
) -> None:
    await activity(live)
    old_key = (live.data_dir / "audit.key").read_text().strip()
    old_id = live.app.audit_key_id
    new_key = "b" * 64
    # Restart on a new key, the old one kept by id: a second backend on the same database.
    second, server = await start_backend(
        database_url,
        live.data_dir / "second",
        audit_key=new_key,
        audit_previous_keys={old_id: old_key},
    )
    try:
        assert (await second.client("alice").create_request(title="after rotation"))["id"]
        new_id = second.app.audit_key_id
        async with second.backend.ctx.sessions() as s:
            ids = [e.key_id for e in await s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert new_id != old_id and ids[0] == old_id and ids[-1] == new_id
    finally:
        server.stop()
        await second.backend.close()

    async with live.backend.ctx.sessions() as s:
        both = audit.AuditKeys(new_id, {new_id: new_key.encode(), old_id: old_key.encode()})
        assert (await audit.verify(s, keys=both)).ok
        # Without the retired key the older events cannot be vouched for.
        only_new = await audit.verify(s, keys=audit.AuditKeys(new_id, {new_id: new_key.encode()}))
    assert (
        not only_new.ok
        and only_new.reason == f"no audit key with id '{old_id}' to check this event"
    )
