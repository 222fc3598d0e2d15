"""Real ``trevor-backend serve`` processes: one killed right after claiming an agent review
(a fault-injecting job from ``fault_jobs.py``), and two sharing one PostgreSQL database through
50 concurrent submissions; a misconfigured job list stops the start. ``reconcile --once`` from
the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.backend.review_support import PASSING, add_table
from tests.fixtures.backend import Client, LiveBackend
from tests.fixtures.processes import BackendProcess
from trevor_backend import db
from trevor_backend.app import TrevorBackend
from trevor_backend.demo import create_demo_world
from trevor_backend.orm import AirlockRequest, AuditEvent, Review

QUICK = [
    "--TrevorBackend.rate_limit=0",
    "--TrevorBackend.reconcile_interval=0.1",
    "--TrevorBackend.lease_seconds=1",
]
# Only the agent: the other teams' jobs are tested by their own suites.
FAST = [*QUICK, "--TrevorBackend.reconciler_jobs=trevor_backend.services.agent.AgentReviewJob"]


async def demo_tokens(data_dir: Path, database_url: str) -> dict[str, str]:
    app = TrevorBackend(data_dir=str(data_dir), database_url=database_url)
    backend = await app.make_backend(migrate=True)
    try:
        return await create_demo_world(backend)
    finally:
        await backend.close()


async def state(database_url: str) -> tuple[dict[str, str], dict[str, int], dict[str, int]]:
    """Status per request, agent reviews per request, agent_review_started events per request."""
    engine = db.make_engine(database_url)
    try:
        async with db.session_factory(engine)() as s:
            status = dict((await s.execute(select(AirlockRequest.id, AirlockRequest.status))).all())
            reviews = dict(
                (
                    await s.execute(
                        select(Review.request_id, func.count())
                        .where(Review.kind == "agent")
                        .group_by(Review.request_id)
                    )
                ).all()
            )
            started = dict(
                (
                    await s.execute(
                        select(AuditEvent.request_id, func.count())
                        .where(AuditEvent.type == "request.agent_review_started")
                        .group_by(AuditEvent.request_id)
                    )
                ).all()
            )
            return status, reviews, started
    finally:
        await engine.dispose()


async def wait_for(predicate: object, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.2)
    raise AssertionError("timed out waiting")


async def test_killed_after_claim_the_review_completes_once(
    tmp_path: Path, database_url: str
) -> None:
    tokens = await demo_tokens(tmp_path, database_url)  # migrated before either process starts
    dying = "--TrevorBackend.reconciler_jobs=tests.backend.fault_jobs.AgentReviewDyingAfterClaim"
    crashing = BackendProcess(tmp_path, database_url, args=[*QUICK, dying]).start()
    try:
        alice = Client(crashing.url, tokens["alice"])
        rid = (await alice.create_request())["id"]
        await add_table(alice, rid, PASSING)
        assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200

        # The reconciler claims the review, commits the claim, and the process dies.
        assert crashing.proc is not None
        await asyncio.to_thread(crashing.proc.wait, 30)
        assert crashing.proc.returncode == 137
        status, reviews, started = await state(database_url)
        assert status[rid] == "AGENT_REVIEW" and rid not in reviews and started[rid] == 1
    finally:
        crashing.stop()

    restarted = BackendProcess(tmp_path, database_url, args=FAST).start()
    try:

        async def done() -> bool:
            return (await state(database_url))[0][rid] == "HUMAN_REVIEW"

        await wait_for(done)  # after the dead process's 1 s lease ran out
        status, reviews, started = await state(database_url)
        assert reviews == {rid: 1} and started == {rid: 1}
        alice = Client(restarted.url, tokens["alice"])
        obj = (await alice.get(f"/api/v1/requests/{rid}")).json["objects"][0]
        assert obj["verdict"] == "pass"
    finally:
        restarted.stop()


async def test_two_processes_share_fifty_submissions(tmp_path: Path, postgres_url: str) -> None:
    # Scale-out is PostgreSQL's story: SQLite is the single-process embedded default.
    database_url = postgres_url
    tokens = await demo_tokens(tmp_path, database_url)
    procs = [BackendProcess(tmp_path, database_url, args=FAST).start() for _ in range(2)]
    try:
        clients = [Client(p.url, tokens["alice"]) for p in procs]
        gate = asyncio.Semaphore(10)

        async def prepare(i: int) -> str:
            async with gate:
                c = clients[i % 2]
                rid = (await c.create_request(title=f"r{i}"))["id"]
                await add_table(c, rid, PASSING)
                return str(rid)

        rids = list(await asyncio.gather(*(prepare(i) for i in range(50))))
        replies = await asyncio.gather(
            *(clients[i % 2].post(f"/api/v1/requests/{rid}/submit") for i, rid in enumerate(rids))
        )
        assert {r.status for r in replies} == {200}

        async def all_reviewed() -> bool:
            status = (await state(database_url))[0]
            return all(status[rid] == "HUMAN_REVIEW" for rid in rids)

        await wait_for(all_reviewed, limit=90)
        _, reviews, started = await state(database_url)
        assert reviews == dict.fromkeys(rids, 1)
        assert started == dict.fromkeys(rids, 1)
    finally:
        for p in procs:
            p.stop()


BROKEN_JOB = "import a_dependency_that_is_not_installed\n"
NOT_A_JOB = "class Job:\n    async def run_once(self, ctx):\n        return 0\n"


@pytest.mark.parametrize(
    ("jobs", "module", "says"),
    [
        # A typo in a class name, in a module name, a module that cannot be imported, and a
        # class that is not a Job: each names the entry and why.
        ("trevor_backend.services.agent.AgentReviewJb", "", "AgentReviewJb"),
        ("trevor_backend.services.agentt.AgentReviewJob", "", "No module named"),
        ("trevor_test_jobs.Job", BROKEN_JOB, "a_dependency_that_is_not_installed"),
        (
            "trevor_test_jobs.Job",
            NOT_A_JOB,
            "a subclass of trevor_backend.jobs.Job",
        ),
    ],
)
def test_misconfigured_job_list_stops_the_start(
    tmp_path: Path, jobs: str, module: str, says: str
) -> None:
    """A job that cannot run is a reason not to start: otherwise approved requests would never
    be released while the process looked healthy."""
    if module:
        (tmp_path / "trevor_test_jobs.py").write_text(module)
    config = tmp_path / "trevor_backend_config.py"
    config.write_text(f"c.TrevorBackend.reconciler_jobs = [{jobs!r}]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "trevor_backend.app", "serve", f"--config={config}", "--port=0"],
        env=os.environ
        | {
            "TREVOR_DATA_DIR": str(tmp_path),
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert "CRITICAL" in proc.stderr and "reconciler_jobs" in proc.stderr, proc.stderr
    assert jobs in proc.stderr and says in proc.stderr, proc.stderr
    assert "listening" not in proc.stderr + proc.stdout


async def test_reconcile_once_command(live: LiveBackend) -> None:
    # The in-process server of the `live` fixture runs no reconciler: the command does the work.
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    await add_table(alice, rid, PASSING)
    await alice.post(f"/api/v1/requests/{rid}/submit")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trevor_backend.app",
        "reconcile",
        "--once",
        "--TrevorBackend.reconciler_jobs=trevor_backend.services.agent.AgentReviewJob",
        env=os.environ
        | {"TREVOR_DATA_DIR": str(live.data_dir), "TREVOR_DATABASE_URL": live.app.database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "reconciled: 1 items done" in out.decode()
    assert (await state(live.app.database_url))[0][rid] == "HUMAN_REVIEW"


async def test_reconciler_can_be_turned_off(tmp_path: Path, database_url: str) -> None:
    """An API-only replica (reconciler_enabled=False) leaves background work to others."""
    tokens = await demo_tokens(tmp_path, database_url)
    api_only = BackendProcess(
        tmp_path, database_url, args=[*FAST, "--TrevorBackend.reconciler_enabled=False"]
    ).start()
    try:
        alice = Client(api_only.url, tokens["alice"])
        rid = (await alice.create_request())["id"]
        await add_table(alice, rid, PASSING)
        assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
        # Many reconcile intervals (0.1 s) pass: nothing claims the review.
        await asyncio.sleep(2.0)
        assert (await state(database_url))[0][rid] == "SUBMITTED"
    finally:
        api_only.stop()
    worker = BackendProcess(tmp_path, database_url, args=FAST).start()
    try:

        async def reviewed() -> bool:
            return (await state(database_url))[0][rid] == "HUMAN_REVIEW"

        await wait_for(reviewed)
    finally:
        worker.stop()
