"""OpenTelemetry set-up shared by the agent runtime and the gateway, and nothing else: both name
their spans and attributes after the GenAI semantic conventions themselves (``agents/tracing.py``,
``stack/gateway/telemetry.py``).

On only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the ``otel`` extra is installed; off, every
caller gets ``None`` from :func:`tracer` and does nothing else, so tracing off costs one cached
function call. Message content goes into spans only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (the switch OpenTelemetry's own GenAI
instrumentations read), and always through the redactor.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

CONTENT_SWITCH = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
PROVIDER = "sutazai"  # gen_ai.provider.name of the gateway: agents call models only through it


@cache
def _providers(service: str) -> tuple[Any, Any] | None:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        return None
    resource = Resource.create({"service.name": service})
    spans = TracerProvider(resource=resource)
    spans.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(spans)
    meters = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    metrics.set_meter_provider(meters)
    return spans, meters


def tracer(service: str) -> Any | None:
    """The process's tracer (one service name per process: the first caller's), or None when off."""
    providers = _providers_for_process(service)
    return None if providers is None else providers[0].get_tracer(f"{service}")


def meter(service: str) -> Any | None:
    providers = _providers_for_process(service)
    return None if providers is None else providers[1].get_meter(f"{service}")


_process_service: list[str] = []


def _providers_for_process(service: str) -> tuple[Any, Any] | None:
    if not _process_service:
        _process_service.append(service)
    return _providers(_process_service[0])


def capture_content() -> bool:
    return os.environ.get(CONTENT_SWITCH, "").lower() in ("1", "true", "yes")


def flush(timeout_ms: int = 5000) -> None:
    """Send buffered spans and metrics now (short-lived processes such as the CLI call this)."""
    providers = _providers(_process_service[0]) if _process_service else None
    if providers is None:
        return
    spans, meters = providers
    spans.force_flush(timeout_ms)
    meters.force_flush(timeout_ms)
