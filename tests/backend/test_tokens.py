"""API tokens: list and revoke through the API and the command line; a revoked token answers
401 at once, on every backend process sharing the database; revocations are audited."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import event, select

from tests.fixtures.backend import Client, LiveBackend
from tests.fixtures.processes import BackendProcess
from trevor_backend import db
from trevor_backend.app import TrevorBackend
from trevor_backend.demo import create_demo_world
from trevor_backend.orm import APIToken, AuditEvent

CLI = [sys.executable, "-m", "trevor_backend.app"]


def cli(args: list[str], data_dir: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TREVOR_DATA_DIR": str(data_dir), "TREVOR_DATABASE_URL": database_url}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def revoked_events(database_url: str) -> list[dict[str, object]]:
    engine = db.make_engine(database_url)
    try:
        async with db.session_factory(engine)() as s:
            rows = await s.scalars(select(AuditEvent).where(AuditEvent.type == "token.revoked"))
            return [{"actor": e.actor, **(e.payload or {})} for e in rows]
    finally:
        await engine.dispose()


async def test_users_list_and_revoke_their_own_tokens_only(live: LiveBackend) -> None:
    alice, bob = live.client("alice"), live.client("bob")
    mine = await alice.get("/api/v1/tokens")
    assert mine.status == 200, mine.body
    (token,) = mine.json["items"]
    assert token["user"] == "alice"
    assert live.tokens["alice"].startswith(token["prefix"])
    assert "token_hash" not in token and live.tokens["alice"] not in mine.body.decode()

    # Someone else's token is invisible: not listed with ?user=, and a 404 to revoke.
    assert [t["user"] for t in (await bob.get("/api/v1/tokens?user=alice")).json["items"]] == [
        "bob"
    ]
    assert (await bob.delete(f"/api/v1/tokens/{token['id']}")).status == 404
    assert (await alice.get("/api/v1/users/me")).status == 200

    gone = await alice.delete(f"/api/v1/tokens/{token['id']}")
    assert gone.status == 200 and gone.json["id"] == token["id"]
    denied = await alice.get("/api/v1/users/me")
    assert denied.status == 401
    assert denied.content_type.startswith("application/problem+json")
    assert (await alice.delete(f"/api/v1/tokens/{token['id']}")).status == 401

    async with live.backend.ctx.sessions() as s:
        ev = await s.scalar(select(AuditEvent).where(AuditEvent.type == "token.revoked"))
        assert ev is not None and ev.actor == "alice"
        assert ev.payload == {"token": token["id"], "prefix": token["prefix"], "user": "alice"}


async def test_admins_list_and_revoke_anyones_tokens(live: LiveBackend) -> None:
    root = live.client("root")
    everyone = (await root.get("/api/v1/tokens?user=*")).json["items"]
    assert {t["user"] for t in everyone} >= {"alice", "bob", "carol", "root"}
    (bobs,) = (await root.get("/api/v1/tokens?user=bob")).json["items"]
    assert bobs["user"] == "bob"
    assert (await root.delete(f"/api/v1/tokens/{bobs['id']}")).status == 200
    assert (await live.client("bob").get("/api/v1/users/me")).status == 401
    assert (await live.client("alice").get("/api/v1/users/me")).status == 200
    async with live.backend.ctx.sessions() as s:
        ev = await s.scalar(select(AuditEvent).where(AuditEvent.type == "token.revoked"))
        assert ev is not None and ev.actor == "root" and ev.payload["user"] == "bob"


async def test_last_used_is_written_once_not_on_every_request(live: LiveBackend) -> None:
    """Authentication reads; last_used_at is written on a token's first use and then at most
    once per resolution (five minutes), so ordinary requests never write."""
    writes: list[str] = []

    def hook(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    engine = live.backend.ctx.engine.sync_engine
    event.listen(engine, "before_cursor_execute", hook)
    try:
        alice = live.client("alice")
        for _ in range(5):
            assert (await alice.get("/api/v1/users/me")).status == 200
    finally:
        event.remove(engine, "before_cursor_execute", hook)
    assert len(writes) == 1
    (token,) = (await alice.get("/api/v1/tokens")).json["items"]
    assert token["last_used_at"] is not None


async def test_cli_lists_and_revokes(live: LiveBackend, database_url: str) -> None:
    listed = cli(["token", "list", "carol"], live.data_dir, database_url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert lines[0].startswith("id\tuser\tprefix")
    (row,) = lines[1:]
    token_id, user, prefix = row.split("\t")[:3]
    assert user == "carol" and live.tokens["carol"].startswith(prefix)
    assert live.tokens["carol"] not in listed.stdout

    everyone = cli(["token", "list"], live.data_dir, database_url)
    assert {line.split("\t")[1] for line in everyone.stdout.splitlines()[1:]} >= {"alice", "carol"}

    revoked = cli(["token", "revoke", token_id], live.data_dir, database_url)
    assert revoked.returncode == 0, revoked.stderr
    assert (await live.client("carol").get("/api/v1/users/me")).status == 401
    assert [e["user"] for e in await revoked_events(database_url)] == ["carol"]

    again = cli(["token", "revoke", token_id], live.data_dir, database_url)
    assert again.returncode == 1 and "no token" in again.stderr


async def test_revocation_answers_401_at_once_on_every_process(
    tmp_path: Path, database_url: str
) -> None:
    app = TrevorBackend(data_dir=str(tmp_path), database_url=database_url)
    backend = await app.make_backend(migrate=True)
    try:
        tokens = await create_demo_world(backend)
    finally:
        await backend.close()
    procs = [
        BackendProcess(tmp_path, database_url, args=["--TrevorBackend.rate_limit=0"]).start(180)
        for _ in range(2)
    ]
    try:
        a, b = (Client(p.url, tokens["alice"]) for p in procs)
        # Both processes have authenticated the token (and would hold it in any cache).
        for c in (a, b):
            assert (await c.get("/api/v1/users/me")).status == 200
        (token,) = (await a.get("/api/v1/tokens")).json["items"]
        assert (await a.delete(f"/api/v1/tokens/{token['id']}")).status == 200
        # The very next request on the other process is refused: no waiting, no cache.
        assert (await b.get("/api/v1/users/me")).status == 401
        assert (await a.get("/api/v1/users/me")).status == 401
        assert (await Client(procs[1].url, tokens["bob"]).get("/api/v1/users/me")).status == 200
        engine = db.make_engine(database_url)
        try:
            async with db.session_factory(engine)() as s:
                assert await s.get(APIToken, token["id"]) is None
        finally:
            await engine.dispose()
    finally:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
