"""Optional OpenTelemetry tracing (trevor_backend/tracing.py), checked with the SDK's in-memory
exporter against a real backend on a real S3 server: HTTP requests, SQL statements and S3 calls
in one trace; the agent review and the release as spans of their own; trace ids in JSON logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from tests.fixtures.backend import USERS, Client
from trevor_backend import tracing
from trevor_backend._logging import JSONFormatter
from trevor_backend.app import TrevorBackend
from trevor_backend.demo import create_demo_world
from trevor_backend.web import make_app


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.setup(service_name="trevor-test", exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TREVOR_TRACING", raising=False)
    assert TrevorBackend().tracing_enabled is False
    assert not tracing.enabled() and tracing.current_ids() == {}
    monkeypatch.setenv("TREVOR_TRACING", "1")
    assert TrevorBackend().tracing_enabled is True


async def test_requests_sql_s3_and_jobs_are_traced(
    spans: InMemorySpanExporter,
    database_url: str,
    data_dir: Path,
    s3_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bucket = s3_server.create_bucket()
    app = TrevorBackend(
        data_dir=str(data_dir),
        database_url=database_url,
        storage_url=f"s3://{bucket}",
        rate_limit=0.0,
        tracing_enabled=True,
        reconciler_jobs=[
            "trevor_backend.services.agent.AgentReviewJob",
            "trevor_backend.services.release_job.ReleaseJob",
        ],
    )
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    backend = await app.make_backend(migrate=True)
    tokens = await create_demo_world(backend)
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(backend))
    server.add_sockets([sock])
    try:
        url = f"http://127.0.0.1:{port}"
        clients = {u: Client(url, tokens[u]) for u in USERS}
        alice = clients["alice"]
        rid = (await alice.create_request(title="traced"))["id"]
        await alice.described_object(rid)
        assert (await alice.post(f"/api/v1/requests/{rid}/submit")).status == 200
        reconciler = app.make_reconciler(backend)
        await reconciler.run_until_idle()
        req = (await alice.get(f"/api/v1/requests/{rid}")).json
        assert req["status"] == "HUMAN_REVIEW", req["status"]
        for checker in ("carol", "dave"):
            body = {
                "decision": "approve",
                "summary": "ok",
                "objects": [{"object_id": o["id"], "decision": "approve"} for o in req["objects"]],
            }
            assert (
                await clients[checker].post(f"/api/v1/requests/{rid}/reviews", body)
            ).status in (
                200,
                201,
            )
        await reconciler.run_until_idle()
        assert (await alice.get(f"/api/v1/requests/{rid}")).json["status"] == "RELEASED"
    finally:
        server.stop()
        await server.close_all_connections()
        await backend.close()

    finished = spans.get_finished_spans()
    by_id = {s.context.span_id: s for s in finished}

    def descendants_of(root: Any) -> list[Any]:
        out = []
        for s in finished:
            parent = s.parent
            while parent is not None:
                if parent.span_id == root.context.span_id:
                    out.append(s)
                    break
                parent = by_id[parent.span_id].parent if parent.span_id in by_id else None
        return out

    # The upload: one server span, with the SQL it ran and the S3 calls that stored the bytes.
    uploads = [
        s
        for s in finished
        if s.kind == SpanKind.SERVER
        and s.attributes.get("http.method", s.attributes.get("http.request.method")) == "POST"
        and f"/api/v1/requests/{rid}/objects"
        in str(s.attributes.get("http.target", "")) + str(s.attributes.get("url.path", ""))
    ]
    assert len(uploads) == 1, [
        (s.name, dict(s.attributes)) for s in finished if s.kind == SpanKind.SERVER
    ]
    inside = descendants_of(uploads[0])
    assert any(s.attributes.get("db.system") for s in inside), [s.name for s in inside]
    assert any(s.attributes.get("rpc.service") == "S3" for s in inside), [s.name for s in inside]
    assert all(s.context.trace_id == uploads[0].context.trace_id for s in inside)

    # The background work: one span per agent review and per release, naming the request, with
    # their SQL and S3 calls inside.
    (review,) = [s for s in finished if s.name == "trevor.agent_review"]
    (release,) = [s for s in finished if s.name == "trevor.release"]
    for job in (review, release):
        assert job.attributes["trevor.request_id"] == rid
        assert any(s.attributes.get("db.system") for s in descendants_of(job)), job.name
    assert any(
        s.attributes.get("rpc.method") == "PutObject"
        or "Upload" in str(s.attributes.get("rpc.method"))
        for s in descendants_of(release)
    )
    assert {s.resource.attributes["service.name"] for s in finished} == {"trevor-test"}


def test_json_log_lines_carry_the_trace_id(spans: InMemorySpanExporter) -> None:
    formatter = JSONFormatter()
    record = logging.LogRecord("trevor_backend.x", logging.INFO, __file__, 1, "hello", None, None)
    assert "trace_id" not in json.loads(formatter.format(record))
    tracer = tracing._state["tracer"]
    with tracer.start_as_current_span("work") as span:
        line = json.loads(formatter.format(record))
    ctx = span.get_span_context()
    assert line["trace_id"] == f"{ctx.trace_id:032x}" and line["span_id"] == f"{ctx.span_id:016x}"
