"""The command line: audit verify, token create, sync-projects, db upgrade, demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import select, text, update

from tests.fixtures.backend import LiveBackend
from trevor_backend.orm import AuditEvent, Membership, User

CLI = [sys.executable, "-m", "trevor_backend.app"]


def run(args: list[str], data_dir: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TREVOR_DATA_DIR": str(data_dir), "TREVOR_DATABASE_URL": database_url}
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_audit_verify_detects_an_edited_row(live: LiveBackend, database_url: str) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    await alice.described_object(rid)
    await alice.post(f"/api/v1/requests/{rid}/submit")

    ok = run(["audit", "verify"], live.data_dir, database_url)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    async with live.backend.ctx.sessions.begin() as s:
        ev = await s.scalar(select(AuditEvent).where(AuditEvent.type == "request.submitted"))
        assert ev is not None
        # An insider rewrites who submitted: the row's own hash no longer matches.
        await s.execute(update(AuditEvent).where(AuditEvent.seq == ev.seq).values(actor="mallory"))
        bad_seq = ev.seq
    broken = run(["audit", "verify"], live.data_dir, database_url)
    assert broken.returncode == 1
    assert f"BROKEN at event {bad_seq}" in broken.stderr and "altered" in broken.stderr


async def test_audit_verify_detects_a_removed_row(live: LiveBackend, database_url: str) -> None:
    alice = live.client("alice")
    await alice.create_request()
    await alice.create_request()
    async with live.backend.ctx.sessions.begin() as s:
        first = await s.scalar(select(AuditEvent).order_by(AuditEvent.seq.desc()).offset(1))
        assert first is not None
        await s.execute(text("DELETE FROM audit_events WHERE seq = :s"), {"s": first.seq})
    broken = run(["audit", "verify"], live.data_dir, database_url)
    assert broken.returncode == 1 and "missing" in broken.stderr


async def test_token_create_prints_a_working_token(live: LiveBackend, database_url: str) -> None:
    out = run(["token", "create", "bob"], live.data_dir, database_url)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("trv_")
    from tests.fixtures.backend import Client

    me = await Client(live.url, token).get("/api/v1/users/me")
    assert me.status == 200 and me.json["username"] == "bob"
    missing = run(["token", "create", "nobody"], live.data_dir, database_url)
    assert missing.returncode == 1 and "no user" in missing.stderr


async def test_sync_projects_is_idempotent_and_refuses_role_conflicts(
    live: LiveBackend, database_url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "projects.yaml"
    spec.write_text(
        textwrap.dedent(
            """
            users:
              - {username: zed, email: zed@example.org, display_name: Zed}
              - {username: yan}
            admins: [root]
            projects:
              - id: p3
                name: Project Three
                members:
                  - {user: zed, role: researcher}
                  - {user: yan, role: output_checker}
            """
        )
    )
    first = run(["sync-projects", str(spec)], live.data_dir, database_url)
    assert first.returncode == 0, first.stderr
    assert "+ project p3" in first.stdout and "+ zed as researcher on p3" in first.stdout
    second = run(["sync-projects", str(spec)], live.data_dir, database_url)
    assert second.returncode == 0 and second.stdout.strip() == "no changes"

    conflict = tmp_path / "conflict.yaml"
    conflict.write_text(
        textwrap.dedent(
            """
            users: [{username: zed}]
            projects:
              - id: p3
                name: Project Three
                members:
                  - {user: zed, role: researcher}
                  - {user: zed, role: output_checker}
            """
        )
    )
    refused = run(["sync-projects", str(conflict)], live.data_dir, database_url)
    assert refused.returncode == 1
    assert "/projects/0/members/1/role" in refused.stderr
    assert "cannot be researcher and checker" in refused.stderr
    async with live.backend.ctx.sessions() as s:
        zed = await s.scalar(select(User).where(User.username == "zed"))
        assert zed is not None
        roles = list(await s.scalars(select(Membership.role).where(Membership.user_id == zed.id)))
    assert roles == ["researcher"]


async def test_sync_projects_reports_the_api_changes_it_overrides(
    live: LiveBackend, database_url: str, tmp_path: Path
) -> None:
    spec = tmp_path / "projects.yaml"
    roles = {"zed": "researcher", "yan": "output_checker", "xia": "output_checker"}
    file = {
        "users": [{"username": name} for name in roles],
        "admins": ["root"],
        "projects": [
            {
                "id": "p3",
                "name": "Project Three",
                "members": [{"user": u, "role": r} for u, r in roles.items()],
            }
        ],
    }
    spec.write_text(json.dumps(file))  # JSON is YAML
    assert run(["sync-projects", str(spec)], live.data_dir, database_url).returncode == 0
    # An admin changes the project in the dashboard/API: adds, changes and removes a member.
    root = live.client("root")
    assert (
        await root.put("/api/v1/projects/p3/members/bob", {"role": "output_checker"})
    ).status == 201
    assert (
        await root.put("/api/v1/projects/p3/members/yan", {"role": "senior_checker"})
    ).status == 200
    assert (await root.delete("/api/v1/projects/p3/members/xia")).status in (200, 204)

    synced = run(["sync-projects", str(spec)], live.data_dir, database_url)
    assert synced.returncode == 0, synced.stderr
    drift = [line for line in synced.stdout.splitlines() if line.startswith("! ")]
    assert len(drift) == 3, synced.stdout
    assert drift[0].startswith("! bob: root made them output_checker on p3 at ")
    assert drift[0].endswith("the file overrides it: removed, not in the file")
    assert drift[1].startswith("! xia: root made them not a member of p3 at ")
    assert drift[1].endswith("the file overrides it: output_checker as the file says")
    assert drift[2].startswith("! yan: root made them senior_checker on p3 at ")
    assert "zed" not in "".join(drift)  # unchanged since the file put it there
    # The file won, and each override is in the audit log with who made the change.
    async with live.backend.ctx.sessions() as s:
        now = dict(
            (
                await s.execute(
                    select(User.username, Membership.role)
                    .join(Membership, Membership.user_id == User.id)
                    .where(Membership.project_id == "p3")
                )
            ).all()
        )
        events = list(
            await s.scalars(
                select(AuditEvent)
                .where(AuditEvent.type == "membership.drift_overridden")
                .order_by(AuditEvent.seq)
            )
        )
    assert now == roles
    assert [(e.project_id, e.actor, e.payload["user"]) for e in events] == [
        ("p3", "sync-projects", name) for name in ("bob", "xia", "yan")
    ]
    assert events[2].payload["role_here"] == "senior_checker"
    assert events[2].payload["role_in_file"] == "output_checker"
    assert events[2].payload["changed_by"] == "root"

    # Changes the sync made itself are not drift: the next sync has nothing to say.
    again = run(["sync-projects", str(spec)], live.data_dir, database_url)
    assert again.returncode == 0 and again.stdout.strip() == "no changes"


async def test_set_membership_refuses_role_conflict(live: LiveBackend) -> None:
    from trevor_backend.contract import Role
    from trevor_backend.errors import RoleConflict
    from trevor_backend.principal import system
    from trevor_backend.services.projects import set_membership, user_by_name

    async with live.backend.ctx.sessions.begin() as s:
        alice = await user_by_name(s, "alice")
        assert alice is not None
        try:
            await set_membership(s, system(), "p1", alice, Role.OUTPUT_CHECKER)
        except RoleConflict as exc:
            assert "cannot also be output_checker" in exc.detail
        else:
            raise AssertionError("role conflict was not refused")


def test_db_upgrade_migrates_to_head(tmp_path: Path, database_url: str) -> None:
    out = run(["db", "upgrade"], tmp_path, database_url)
    assert out.returncode == 0, out.stderr
    from trevor_backend.db import head_revision

    assert f"revision {head_revision()}" in out.stdout


def test_demo_prints_tokens_and_serves(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = os.environ | {"TREVOR_DATA_DIR": str(tmp_path)}
    env.pop("TREVOR_DATABASE_URL", None)
    proc = subprocess.Popen(
        [*CLI, "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    assert json.load(r) == {"status": "ok"}
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise AssertionError("demo did not start")
        tokens = json.loads((tmp_path / "demo-tokens.json").read_text())
        assert set(tokens) == {"alice", "bob", "carol", "dave", "erin", "root"}
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/users/me",
            headers={"Authorization": f"Bearer {tokens['alice']}"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.load(r)["username"] == "alice"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert tokens["alice"] in out
