"""Optional OpenTelemetry tracing: off unless ``TrevorBackend.tracing_enabled`` is set.

When on, every HTTP request (Tornado), every SQL statement (SQLAlchemy), every S3 call
(aiobotocore's ``_make_api_call``; the botocore instrumentation only sees synchronous clients)
and each agent review and release the reconciler performs get spans, exported with OTLP/HTTP
(configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables) unless a test hands in its own
exporter. JSON log lines carry the current ``trace_id`` and ``span_id`` (``_logging.py``).

The packages come with ``pip install jupyter-trevor[tracing]``; nothing here imports them while
tracing is off.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

# (module, class, method, span name, how to name the request): the background work that a
# trace should show, besides the HTTP requests that start it.
JOB_SPANS = [
    ("trevor_backend.services.agent", "AgentReviewJob", "review", "trevor.agent_review"),
    ("trevor_backend.services.release_job", "ReleaseJob", "release", "trevor.release"),
]

_state: dict[str, Any] = {}


def enabled() -> bool:
    return "provider" in _state


def current_ids() -> dict[str, str]:
    """The active trace and span ids (hex, as OTLP backends show them), or nothing."""
    if not enabled():
        return {}
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": f"{ctx.trace_id:032x}", "span_id": f"{ctx.span_id:016x}"}


def _wrap_async(original: Callable[..., Any], make_span: Callable[..., Any]) -> Any:
    @functools.wraps(original)
    async def traced(*args: Any, **kwargs: Any) -> Any:
        with make_span(*args, **kwargs):
            return await original(*args, **kwargs)

    traced.__wrapped_by_trevor__ = original  # type: ignore[attr-defined]
    return traced


def _patch(owner: Any, name: str, make_span: Callable[..., Any]) -> None:
    original = getattr(owner, name)
    setattr(owner, name, _wrap_async(original, make_span))
    _state.setdefault("patched", []).append((owner, name, original))


def setup(*, service_name: str = "trevor-backend", exporter: Any = None) -> None:
    """Install the tracer provider and the instrumentations (once per process); engines are
    added with :func:`instrument_engine`, and Tornado applications made afterwards are traced."""
    if enabled():
        return
    from opentelemetry import trace
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.tornado import TornadoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        # A test's exporter sees each span as it ends.
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("trevor_backend")
    _state.update(provider=provider, tracer=tracer)

    TornadoInstrumentor().instrument(tracer_provider=provider)
    BotocoreInstrumentor().instrument(tracer_provider=provider)
    _instrument_aiobotocore(tracer)
    for module, cls, method, span_name in JOB_SPANS:
        owner = getattr(importlib.import_module(module), cls)
        _patch(owner, method, _job_span(tracer, span_name))
    trace.set_tracer_provider(provider)


def instrument_engine(engine: AsyncEngine) -> None:
    """Spans for every statement on ``engine`` (db.py binds its engine factory at import, so
    the instrumentation's wrapping of ``create_async_engine`` would not see it)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Its declared range stops below SQLAlchemy 2.1, whose event API it uses unchanged (the
    # tracing test checks the statements arrive).
    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine, tracer_provider=_state["provider"], skip_dep_check=True
    )


def _job_span(tracer: Any, name: str) -> Callable[..., Any]:
    @contextmanager
    def span(_job: Any, _ctx: Any, rid: str, *_rest: Any, **_kw: Any) -> Iterator[None]:
        with tracer.start_as_current_span(name, attributes={"trevor.request_id": rid}):
            yield

    return span


def _instrument_aiobotocore(tracer: Any) -> None:
    from aiobotocore.client import AioBaseClient
    from opentelemetry.trace import SpanKind

    @contextmanager
    def span(client: Any, operation: str, params: dict[str, Any]) -> Iterator[None]:
        service = client.meta.service_model.service_id
        attributes = {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": operation}
        if "Bucket" in params:
            attributes["aws.s3.bucket"] = params["Bucket"]
        name = f"{service}.{operation}"
        with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes):
            yield

    _patch(AioBaseClient, "_make_api_call", span)


def shutdown() -> None:
    """Flush and remove everything ``setup`` installed (tests; the server's exit)."""
    if not enabled():
        return
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.instrumentation.tornado import TornadoInstrumentor

    for owner, name, original in reversed(_state.get("patched", [])):
        setattr(owner, name, original)
    TornadoInstrumentor().uninstrument()
    SQLAlchemyInstrumentor().uninstrument()
    BotocoreInstrumentor().uninstrument()
    _state["provider"].shutdown()
    _state.clear()
