"""The reconciler and the agent review, in process: leases, exactly-once results, retries, the
job list, the report, and the optional narrative (against a fake chat-completions server)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tests.backend.review_support import (
    FAILING,
    PASSING,
    add_table,
    agent_only,
    agent_reviews,
    audit_types,
    current,
    run_agent,
)
from tests.fixtures.backend import LiveBackend
from trevor_backend.jobs import Job, JobConfigError, JobContext, Reconciler, build_jobs
from trevor_backend.orm import AirlockRequest, OutputObject, Project, utcnow
from trevor_backend.services.agent import AgentReviewJob, claim_requests


async def submitted(live: LiveBackend, n: int = 1, cells: Any = FAILING) -> list[str]:
    alice = live.client("alice")
    rids = []
    for _ in range(n):
        rid = (await alice.create_request())["id"]
        await add_table(alice, rid, cells)
        assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
        rids.append(rid)
    return rids


# --- the job list ---------------------------------------------------------------------------


def test_jobs_are_built_with_their_configuration_and_a_broken_one_stops_the_start() -> None:
    from traitlets.config import Config

    from trevor_backend.app import TrevorBackend

    app = TrevorBackend(config=Config({"AgentReviewJob": {"batch_size": 3}}))
    (job,) = build_jobs([AgentReviewJob], parent=app)
    assert isinstance(job, AgentReviewJob) and job.batch_size == 3

    class Unbuildable(Job):
        def __init__(self, **kw: Any) -> None:
            raise ValueError("needs a setting it does not have")

    with pytest.raises(JobConfigError, match="Unbuildable could not be built: needs a setting"):
        build_jobs([AgentReviewJob, Unbuildable], parent=app)


def test_default_jobs_include_every_team() -> None:
    from trevor_backend.app import TrevorBackend

    jobs = TrevorBackend().reconciler_jobs
    assert all(issubclass(cls, Job) for cls in jobs)
    assert [f"{cls.__module__}.{cls.__name__}" for cls in jobs[:4]] == [
        "trevor_backend.services.agent.AgentReviewJob",
        "trevor_backend.services.notifications.outbox.DispatchJob",
        "trevor_backend.services.notifications.outbox.OutboxJob",
        "trevor_backend.services.release_job.ReleaseJob",
    ]


async def test_a_failing_job_does_not_stop_the_others(live: LiveBackend) -> None:
    class Broken:
        async def run_once(self, ctx: JobContext) -> int:
            raise RuntimeError("boom")

    (rid,) = await submitted(live)
    rec = Reconciler(live.backend.ctx, [Broken(), AgentReviewJob(parent=live.app)])
    assert await rec.run_once() == 1
    assert (await current(live.client("alice"), rid))["status"] == "HUMAN_REVIEW"


async def test_serving_loop_starts_and_stops(live: LiveBackend) -> None:
    (rid,) = await submitted(live)
    rec = agent_only(live, interval=0.05)
    rec.start()
    try:
        for _ in range(200):
            if (await current(live.client("alice"), rid))["status"] == "HUMAN_REVIEW":
                break
            await asyncio.sleep(0.05)
    finally:
        await rec.stop()
    assert (await current(live.client("alice"), rid))["status"] == "HUMAN_REVIEW"


# --- leases and exactly once ----------------------------------------------------------------


async def test_live_lease_is_respected_and_expired_lease_is_taken_over(live: LiveBackend) -> None:
    (rid,) = await submitted(live)
    # A process claims the request and dies before doing anything (its lease stays behind).
    dead = JobContext.of(live.backend.ctx, owner="dead-process", lease_seconds=60)
    async with live.backend.ctx.sessions.begin() as s:
        from trevor_backend.contract import RequestStatus

        assert await claim_requests(s, dead, [RequestStatus.SUBMITTED]) == [rid]
    # A second claim of the same row fails while the lease lives.
    async with live.backend.ctx.sessions.begin() as s:
        assert await claim_requests(s, dead, [RequestStatus.SUBMITTED]) == []

    other = agent_only(live)
    assert await other.run_once() == 0
    assert (await current(live.client("alice"), rid))["status"] == "SUBMITTED"

    # The lease runs out: another process takes the work over and finishes it.
    async with live.backend.ctx.sessions.begin() as s:
        await s.execute(
            update(AirlockRequest)
            .where(AirlockRequest.id == rid)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await other.run_once() == 1
    assert (await current(live.client("alice"), rid))["status"] == "HUMAN_REVIEW"
    assert await agent_reviews(live, rid) == {rid: 1}
    async with live.backend.ctx.sessions() as s:
        r = await s.get(AirlockRequest, rid)
        assert r is not None and r.lease_owner is None and r.lease_expires_at is None


async def test_agent_review_interrupted_after_the_claim_is_redone_once(live: LiveBackend) -> None:
    """A process that claimed (SUBMITTED → AGENT_REVIEW) and died: the work is redone by
    another process once the lease expires, and a late finish by the first changes nothing."""
    (rid,) = await submitted(live)
    job = AgentReviewJob(parent=live.app)
    first = JobContext.of(live.backend.ctx, owner="first", lease_seconds=0.2)
    async with live.backend.ctx.sessions.begin() as s:
        from trevor_backend.contract import RequestStatus

        assert await claim_requests(s, first, [RequestStatus.SUBMITTED]) == [rid]
        r = await s.get(AirlockRequest, rid, populate_existing=True)
        assert r is not None
        from trevor_backend.services.agent import AGENT
        from trevor_backend.services.transitions import transition

        await transition(s, r, "start_agent_review", AGENT)
        r.lease_owner, r.lease_expires_at = "first", first.lease_until()
    await asyncio.sleep(0.3)
    second = agent_only(live)
    assert await second.run_once() == 1
    # The first process wakes up and finishes its (now stale) work: nothing more happens.
    assert await job.review(first, rid, 1) == 0
    assert await agent_reviews(live, rid) == {rid: 1}
    types = await audit_types(live, rid)
    assert types.count("request.agent_review_started") == 1
    assert types.count("request.agent_review_completed") == 1


async def claimed_by(live: LiveBackend, rid: str, ctx: JobContext) -> None:
    """Claim ``rid`` as ``ctx.owner`` and start its agent review (as run_once would)."""
    from trevor_backend.contract import RequestStatus
    from trevor_backend.services.agent import AGENT
    from trevor_backend.services.transitions import transition

    async with live.backend.ctx.sessions.begin() as s:
        assert await claim_requests(s, ctx, [RequestStatus.SUBMITTED]) == [rid]
        r = await s.get(AirlockRequest, rid, populate_existing=True)
        assert r is not None
        await transition(s, r, "start_agent_review", AGENT)
        r.lease_owner, r.lease_expires_at = ctx.owner, ctx.lease_until()


async def test_long_review_renews_its_lease(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    for i in range(3):
        await add_table(alice, rid, PASSING, f"t{i}.csv")
    await alice.post(f"/api/v1/requests/{rid}/submit")
    # A lease so short that it must be renewed before every object.
    ctx = JobContext.of(live.backend.ctx, owner="slow", lease_seconds=0.001)
    await claimed_by(live, rid, ctx)
    renewals: list[object] = []

    async with live.backend.ctx.sessions() as s:
        before = (await s.get(AirlockRequest, rid)).lease_expires_at  # type: ignore[union-attr]
    job = AgentReviewJob(parent=live.app)
    original = job.check

    async def check(*args: Any, **kw: Any) -> Any:
        async with live.backend.ctx.sessions() as s:
            renewals.append((await s.get(AirlockRequest, rid)).lease_expires_at)  # type: ignore[union-attr]
        return await original(*args, **kw)

    job.check = check  # type: ignore[method-assign]
    assert await job.review(ctx, rid, 1) == 1
    assert len(renewals) == 3 and all(t is not None and t > before for t in renewals)
    assert renewals == sorted(renewals)


async def test_review_that_lost_its_lease_is_dropped(live: LiveBackend) -> None:
    (rid,) = await submitted(live)
    ctx = JobContext.of(live.backend.ctx, owner="slow", lease_seconds=0.001)
    await claimed_by(live, rid, ctx)
    async with live.backend.ctx.sessions.begin() as s:
        # The lease expired and another process claimed the request.
        await s.execute(
            update(AirlockRequest).where(AirlockRequest.id == rid).values(lease_owner="other")
        )
    await asyncio.sleep(0.01)
    assert await AgentReviewJob(parent=live.app).review(ctx, rid, 1) == 0
    assert await agent_reviews(live, rid) == {}
    assert (await current(live.client("alice"), rid))["status"] == "AGENT_REVIEW"


async def test_concurrent_reconcilers_review_each_request_once(live: LiveBackend) -> None:
    rids = await submitted(live, 8)
    recs = [agent_only(live, owner=f"r{i}") for i in range(3)]
    # Several passes each, all at once, with a small batch so that they interleave.
    for rec in recs:
        rec.jobs[0].batch_size = 2
    done = await asyncio.gather(*(rec.run_until_idle() for rec in recs))
    assert sum(done) == 8
    assert await agent_reviews(live) == dict.fromkeys(rids, 1)
    for rid in rids:
        types = await audit_types(live, rid)
        assert types.count("request.agent_review_started") == 1


async def test_failed_review_is_retried_after_a_back_off(live: LiveBackend) -> None:
    (rid,) = await submitted(live)
    async with live.backend.ctx.sessions() as s:
        obj = await s.scalar(select(OutputObject).where(OutputObject.request_id == rid))
        assert obj is not None
    data = await live.backend.ctx.store.read_bytes(obj.storage_key)
    await live.backend.ctx.store.delete(obj.storage_key)  # the store lost the bytes

    job = AgentReviewJob(parent=live.app, retry_delay=0.2)
    rec = Reconciler(live.backend.ctx, [job], app=live.app)
    assert await rec.run_once() == 0
    async with live.backend.ctx.sessions() as s:
        r = await s.get(AirlockRequest, rid)
        assert r is not None and r.status == "AGENT_REVIEW"
        assert r.last_error and "ObjectNotFound" in r.last_error
    assert await rec.run_once() == 0  # still backing off

    await live.backend.ctx.store.put_bytes(obj.storage_key, data)
    await asyncio.sleep(0.3)
    assert await rec.run_once() == 1
    assert (await current(live.client("alice"), rid))["status"] == "HUMAN_REVIEW"
    assert await agent_reviews(live, rid) == {rid: 1}


# --- what the agent finds -------------------------------------------------------------------


async def test_agent_verdicts(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    passing = await add_table(alice, rid, PASSING, "ok.csv")
    bare = await alice.described_object(rid, b"region,count\nnorth,20\n", "no-evidence.csv")
    empty = await alice.described_object(rid, b"", "empty.txt")
    blocked = await alice.described_object(rid, b"<svg/>", "figure.svg")
    await alice.post(f"/api/v1/requests/{rid}/submit")
    await run_agent(live)
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json
    objects = report["report"]["objects"]
    assert objects[passing["id"]]["status"] == "pass"
    assert objects[bare["id"]]["status"] == "review"
    assert "evidence" in {f["rule"] for f in objects[bare["id"]]["findings"]}
    assert objects[empty["id"]]["status"] == "fail"
    assert "empty_file" in {f["rule"] for f in objects[empty["id"]]["findings"]}
    assert "blocked_extension" in {f["rule"] for f in objects[blocked["id"]]["findings"]}
    assert report["recommendation"] == "fail"
    assert report["report"]["counts"] == {"pass": 1, "review": 1, "fail": 2}
    assert report["report"]["params"]["threshold"] == 10


async def test_agent_reads_stored_tables(live: LiveBackend) -> None:
    """Without evidence, a Frequencies table is read from the stored CSV/TSV/Parquet file
    itself; an unreadable or oversized file is noted, never a crash."""
    import io

    import pandas as pd

    buf = io.BytesIO()
    pd.DataFrame({"count": [2, 40]}, index=pd.Index(["a", "b"], name="group")).to_parquet(buf)
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    parquet = await alice.described_object(rid, buf.getvalue(), "counts.parquet")
    tsv = await alice.described_object(rid, b"group\tcount\na\t3\nb\t40\n", "counts.tsv")
    broken = await alice.described_object(rid, b"\x00\xff\x00garbage", "broken.parquet")
    await alice.post(f"/api/v1/requests/{rid}/submit")
    job = AgentReviewJob(parent=live.app)
    assert await Reconciler(live.backend.ctx, [job]).run_once() == 1
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json["report"]
    objects = report["objects"]
    for small in (parquet, tsv):
        assert objects[small["id"]]["status"] == "fail"
        assert "threshold" in {f["rule"] for f in objects[small["id"]]["findings"]}
    assert objects[broken["id"]]["status"] == "review"
    assert any("could not be read" in n for n in objects[broken["id"]]["notes"])

    # Over max_table_bytes the table is not loaded: no evidence, no table, so "review".
    rid2 = (await alice.create_request())["id"]
    big = await alice.described_object(rid2, b"group,count\na,3\n", "big.csv")
    await alice.post(f"/api/v1/requests/{rid2}/submit")
    small_cap = AgentReviewJob(parent=live.app, max_table_bytes=4)
    assert await Reconciler(live.backend.ctx, [small_cap]).run_once() == 1
    res = (await live.client("carol").get(f"/api/v1/requests/{rid2}/report")).json["report"]
    assert res["objects"][big["id"]]["status"] == "review"
    assert any("not loaded" in n for n in res["objects"][big["id"]]["notes"])


async def test_engine_failure_on_one_object_is_a_review_finding(live: LiveBackend) -> None:
    alice = live.client("alice")
    rid = (await alice.create_request())["id"]
    good = await add_table(alice, rid, PASSING)
    odd = await alice.upload(rid, b"coef\n0.5\n", "model.csv")
    oid = odd.json["id"]
    await alice.put(
        f"/api/v1/requests/{rid}/objects/{oid}/metadata",
        {"title": "Model", "statbarn": "CorrelationCoefficients"},
    )
    # Evidence the engine cannot read (a non-numeric residual degrees of freedom).
    bad = {"sha256": odd.json["sha256"], "kind": "model", "df_resid": "many"}
    assert (
        await alice.post(f"/api/v1/requests/{rid}/objects/{oid}/evidence", {"evidence": bad})
    ).status == 200
    await alice.post(f"/api/v1/requests/{rid}/submit")
    assert await run_agent(live) == 1
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json["report"]
    assert report["objects"][good["id"]]["status"] == "pass"
    assert report["objects"][oid]["status"] == "review"
    assert [f["rule"] for f in report["objects"][oid]["findings"]] == ["agent_error"]


async def test_project_parameters_apply(live: LiveBackend) -> None:
    async with live.backend.ctx.sessions.begin() as s:
        p1 = await s.get(Project, "p1")
        assert p1 is not None
        p1.sdc_params = {"threshold": 3}  # the failing table's smallest cell is 3
    (rid,) = await submitted(live)
    await run_agent(live)
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json
    assert report["recommendation"] == "pass" and report["report"]["params"]["threshold"] == 3

    async with live.backend.ctx.sessions.begin() as s:
        p1 = await s.get(Project, "p1")
        assert p1 is not None
        p1.sdc_params = {"threshold": "lots"}  # a bad override never blocks reviews
    (rid,) = await submitted(live)
    await run_agent(live)
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json
    assert report["recommendation"] == "fail" and report["report"]["params"]["threshold"] == 10
    assert any("project SDC parameters ignored" in n for n in report["report"]["notes"])


async def test_differencing_against_released_tables(live: LiveBackend) -> None:
    """A new table that differs from an already released one by a few people is flagged."""
    (old_rid,) = await submitted(live, cells=PASSING)
    await run_agent(live)
    async with live.backend.ctx.sessions.begin() as s:
        # The release itself is the release job's (tested in test_release.py): here the
        # request is simply marked released, with its object approved.
        r = await s.get(AirlockRequest, old_rid)
        assert r is not None
        r.status, r.closed_at = "RELEASED", utcnow()
        for obj in await s.scalars(select(OutputObject).where(OutputObject.request_id == old_rid)):
            obj.state = "approved"
    nested = {**PASSING, ("north", "f"): PASSING[("north", "f")] + 3}
    (rid,) = await submitted(live, cells=nested)
    await run_agent(live)
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json
    (res,) = report["report"]["objects"].values()
    diffs = [f for f in res["findings"] if f["rule"] == "differencing"]
    assert diffs and diffs[0]["status"] == "review", res["findings"]
    assert "released in" in diffs[0]["message"] or "released in" in json.dumps(diffs[0])
    assert res["status"] == "review"


async def test_report_endpoint(live: LiveBackend) -> None:
    (rid,) = await submitted(live)
    carol = live.client("carol")
    assert (await carol.get(f"/api/v1/requests/{rid}/report")).json["available"] is False
    await run_agent(live)
    assert (await carol.get(f"/api/v1/requests/{rid}/report?revision=1")).json["available"]
    bad = await carol.get(f"/api/v1/requests/{rid}/report?revision=one")
    assert bad.status == 422 and bad.json["errors"][0]["pointer"] == "/revision"
    assert (await carol.get(f"/api/v1/requests/{rid}/report?revision=5")).status == 404
    assert (await live.client("bob").get(f"/api/v1/requests/{rid}/report")).status == 404


async def test_evidence_for_other_bytes_is_ignored(live: LiveBackend) -> None:
    (rid,) = await submitted(live, cells=PASSING)
    async with live.backend.ctx.sessions.begin() as s:
        obj = await s.scalar(select(OutputObject).where(OutputObject.request_id == rid))
        assert obj is not None and obj.evidence is not None
        obj.evidence = {**obj.evidence, "sha256": "0" * 64}  # swapped behind the API's back
    await run_agent(live)
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json
    (res,) = report["report"]["objects"].values()
    assert res["status"] == "review" and res["has_evidence"] is False
    assert "belongs to a different file" in " ".join(res["notes"])


# --- narrative --------------------------------------------------------------------------------


class FakeChatCompletions(web.RequestHandler):
    """A FAKE OpenAI-compatible endpoint: no LLM can run here, so the test stands one in."""

    def initialize(self, state: dict[str, Any]) -> None:
        self.state = state

    async def post(self) -> None:
        self.state["requests"].append(
            {
                "auth": self.request.headers.get("Authorization"),
                "body": json.loads(self.request.body),
            }
        )
        mode = self.state["mode"]
        if mode == "slow":
            await asyncio.sleep(2)
        if mode == "error":
            self.set_status(500)
            self.finish({"error": "overloaded"})
            return
        self.finish(
            {
                "choices": [
                    {
                        "message": {
                            "role": "assistant",
                            "content": "One table fails the threshold rule.",
                        }
                    }
                ]
            }
        )


@pytest.fixture
async def fake_llm() -> Any:
    state: dict[str, Any] = {"mode": "ok", "requests": []}
    sock, port = bind_unused_port()
    server = HTTPServer(
        web.Application([(r"/v1/chat/completions", FakeChatCompletions, {"state": state})])
    )
    server.add_sockets([sock])
    state["url"] = f"http://127.0.0.1:{port}/v1"
    yield state
    server.stop()


@pytest.fixture
def backend_traits(request: pytest.FixtureRequest) -> dict[str, Any]:
    if "narrative" not in request.node.name:
        return {}
    from traitlets.config import Config

    from trevor_backend.services.narrative import OpenAIChatNarrative

    cfg = Config()
    cfg.OpenAIChatNarrative.api_key = "test-key"
    cfg.OpenAIChatNarrative.model = "fake-model"
    cfg.OpenAIChatNarrative.timeout = 0.5
    return {"narrative_class": OpenAIChatNarrative, "config": cfg}


async def test_narrative_added_redacted(live: LiveBackend, fake_llm: dict[str, Any]) -> None:
    live.app.config.OpenAIChatNarrative.base_url = fake_llm["url"]
    (rid,) = await submitted(live)
    await run_agent(live)
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json["report"]
    assert report["narrative"] == "One table fails the threshold rule."
    assert report["recommendation"] == "fail"  # decided by the rules, not the narrative
    (sent,) = fake_llm["requests"]
    assert sent["auth"] == "Bearer test-key" and sent["body"]["model"] == "fake-model"
    prompt = json.dumps(sent["body"])
    # Nothing disclosive leaves: no labels, counts, file names.
    for secret in ("north", "south", "table.csv", '"value"'):
        assert secret not in prompt
    assert "threshold" in prompt


@pytest.mark.parametrize("mode", ["error", "slow"])
async def test_narrative_failure_never_blocks_review(
    live: LiveBackend, fake_llm: dict[str, Any], mode: str
) -> None:
    live.app.config.OpenAIChatNarrative.base_url = fake_llm["url"]
    fake_llm["mode"] = mode
    (rid,) = await submitted(live)
    assert await run_agent(live) == 1
    req = await current(live.client("alice"), rid)
    assert req["status"] == "HUMAN_REVIEW"
    report = (await live.client("carol").get(f"/api/v1/requests/{rid}/report")).json["report"]
    # The typed report always carries the field; null means no narrative was written.
    assert report["narrative"] is None and report["narrative_error"]


def test_deprecated_per_job_leases_are_honoured_until_lease_seconds_is_set() -> None:
    import logging

    from traitlets.config import Config

    from trevor_backend.app import TrevorBackend

    assert TrevorBackend().job_lease() == 60.0
    old = TrevorBackend()
    warned: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append(record.getMessage())  # type: ignore[method-assign]
    old.log.addHandler(handler)
    try:
        old.update_config(Config({"TrevorBackend": {"release_lease": 900, "outbox_lease": 120}}))
    finally:
        old.log.removeHandler(handler)
    assert any("release_lease is deprecated" in w for w in warned), warned
    assert old.job_lease() == 900.0  # the longest: a shorter lease could cut a send short
    both = TrevorBackend(
        config=Config({"TrevorBackend": {"release_lease": 900, "lease_seconds": 30}})
    )
    assert both.job_lease() == 30.0
