"""OpenTelemetry spans (run -> step -> LLM call / tool call), only when asked for.

Active when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the ``otel`` extra is installed; otherwise
every span is a no-op that costs a function call.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache
from typing import Any


@cache
def _tracer() -> Any | None:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": "sutazai-agents"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return trace.get_tracer("sutazai.agents")


def flush(timeout_ms: int = 5000) -> None:
    """Send buffered spans now (short-lived processes such as the CLI call this before exiting)."""
    if _tracer() is None:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_ms)


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    tracer = _tracer()
    if tracer is None:
        return nullcontext()
    return _span(tracer, name, attributes)


@contextmanager
def _span(tracer: Any, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
    with tracer.start_as_current_span(name) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(f"sutazai.{key}", value)
        yield current
