"""The OpenAPI document is truthful (issue 10, item 8): a bounded schemathesis run against a
live backend, as each role, finds no 5xx, no undocumented status code, no response that
breaks its schema and no undocumented content type.

The world is realistic: path parameters are the ids of real requests, objects, releases,
notifications and tokens, so generated requests reach the handlers' logic rather than
stopping at a 404. Each role runs with its own token: a researcher of the project, a
researcher of another project, a checker and an admin. Bounded for the suite's budget:
``MAX_EXAMPLES`` per operation, a fixed seed, the fuzzing phase only.

To search further than CI does (an attacker's budget), set ``TREVOR_SCHEMATHESIS_EXAMPLES``,
``TREVOR_SCHEMATHESIS_SEED`` and ``TREVOR_SCHEMATHESIS_PHASES`` (e.g. ``examples,coverage,
fuzzing``) and run this file alone; a failure names the seed to replay.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.backend.review_support import PASSING, add_table, run_agent
from tests.fixtures.backend import LiveBackend
from trevor_backend import openapi
from trevor_backend.auth import create_token
from trevor_backend.orm import APIToken, Notification, User
from trevor_backend.services.release_job import ReleaseJob
from trevor_backend.web import api_routes

MAX_EXAMPLES = int(os.environ.get("TREVOR_SCHEMATHESIS_EXAMPLES", "25"))
SEED = int(os.environ.get("TREVOR_SCHEMATHESIS_SEED", "20261130"))
PHASES = os.environ.get("TREVOR_SCHEMATHESIS_PHASES", "fuzzing")
CHECKS = (
    "not_a_server_error,status_code_conformance,response_schema_conformance,"
    "content_type_conformance"
)
ROLES = ("alice", "bob", "carol", "root")
ST = Path(sys.executable).with_name("st")


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """One database, not both: PostgreSQL when the suite has one (as CI does), else SQLite.
    This is the suite's longest test, and what it checks (the HTTP layer against its
    document) does not differ between the databases; the other suites cover both."""
    from tests.conftest import PG_URL, _fresh_postgres

    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'trevor.sqlite'}"
        return
    async for url in _fresh_postgres():
        yield url


async def seed(live: LiveBackend) -> dict[str, str]:
    """Requests in several states with objects, a release and notifications: the ids the
    generated requests use."""
    alice, root = live.client("alice"), live.client("root")
    released = (await alice.create_request(title="released"))["id"]
    await add_table(alice, released, PASSING)
    assert (await alice.post(f"/api/v1/requests/{released}/submit")).status == 200
    await run_agent(live)
    req = (await alice.get(f"/api/v1/requests/{released}")).json
    for checker in ("carol", "dave"):
        body = {
            "decision": "approve",
            "summary": "ok",
            "objects": [{"object_id": o["id"], "decision": "approve"} for o in req["objects"]],
        }
        assert (
            await live.client(checker).post(f"/api/v1/requests/{released}/reviews", body)
        ).status in (200, 201)
    assert await ReleaseJob().run_once(live.backend.ctx) == 1

    draft = (await alice.create_request(title="draft"))["id"]
    oid = (await add_table(alice, draft, PASSING, "draft.csv"))["id"]
    ingress = await root.post(
        "/api/v1/requests", {"project": "p1", "title": "in", "direction": "ingress"}
    )
    async with live.backend.ctx.sessions() as s:
        nid = await s.scalar(
            select(Notification.id).join(User).where(User.username == "alice").limit(1)
        )
        # A spare token of alice's: revoking it (as alice or root) leaves the run's own.
        user = await s.scalar(select(User).where(User.username == "alice"))
        assert user is not None
        await create_token(s, user, note="spare")
        await s.commit()
        token_id = await s.scalar(
            select(APIToken.id).where(APIToken.user_id == user.id, APIToken.note == "spare")
        )
    return {
        "rid": draft,
        "oid": oid,
        "released": released,
        "ingress": ingress.json["id"],
        "nid": nid or "none",
        "token_id": token_id or "none",
    }


def config(ids: dict[str, str], token: str) -> str:
    return f"""
[parameters]
"path.rid" = "{ids["rid"]}"
"path.oid" = "{ids["oid"]}"
"path.nid" = "{ids["nid"]}"
"path.pid" = "p1"
"path.username" = "dave"
"path.token_id" = "{ids["token_id"]}"
"path.asset" = "swagger-ui.css"

[headers]
Authorization = "Bearer {token}"
"""


def run_schemathesis(live: LiveBackend, tmp: Path, user: str, ids: dict[str, str]) -> str:
    spec = tmp / "openapi.json"
    spec.write_text(openapi.render(api_routes()))
    cfg = tmp / f"{user}.toml"
    cfg.write_text(config(ids, live.tokens[user]))
    proc = subprocess.run(
        [
            str(ST),
            "--config-file",
            str(cfg),
            "run",
            str(spec),
            "--url",
            live.url,
            "--checks",
            CHECKS,
            "--max-examples",
            str(MAX_EXAMPLES),
            "--seed",
            str(SEED),
            "--phases",
            PHASES,
            "--workers",
            "1",
            "--no-color",
            "--request-timeout",
            "30",
            # An event stream never ends: its own tests cover it (tests/backend/test_events.py).
            "--exclude-path",
            "/api/v1/events",
            "--generation-database",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp,
        env=os.environ | {"SCHEMATHESIS_HOOKS": ""},
    )
    return f"exit {proc.returncode}\n{proc.stdout[-20000:]}\n{proc.stderr[-4000:]}"


async def test_openapi_holds_for_every_role(live: LiveBackend, tmp_path: Path) -> None:
    ids = await seed(live)
    reports: dict[str, Any] = {}
    for user in ROLES:
        reports[user] = await asyncio.to_thread(run_schemathesis, live, tmp_path, user, ids)
    failed = {u: r for u, r in reports.items() if not r.startswith("exit 0")}
    assert not failed, "\n\n".join(f"--- as {u} ---\n{r}" for u, r in failed.items())
