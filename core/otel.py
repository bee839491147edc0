"""OpenTelemetry set-up shared by the agent runtime and the gateway, and nothing else: both name
their spans and attributes after the GenAI semantic conventions themselves (``agents/tracing.py``,
``stack/gateway/telemetry.py``).

On only when an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, or the per-signal
``..._TRACES_ENDPOINT``) and the ``otel`` extra is installed; off, every caller gets ``None`` from
:func:`tracer` and does nothing else, so tracing off costs one cached function call. The standard
variables are respected: ``OTEL_SDK_DISABLED``, ``OTEL_TRACES_EXPORTER`` and
``OTEL_METRICS_EXPORTER`` (``otlp``, ``console`` or ``none``), and the exporters read their own
(endpoints, headers, timeouts). A viewer that takes no metrics (Phoenix answers 405) is told once,
at debug level, and metrics stop: no error on every run. Message content goes into spans only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (the switch OpenTelemetry's own GenAI
instrumentations read), and always through the redactor.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import Any

CONTENT_SWITCH = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# The switch OpenTelemetry's GenAI instrumentations read for the newest experimental names.
STABILITY_SWITCH = "OTEL_SEMCONV_STABILITY_OPT_IN"
LATEST_GENAI = "gen_ai_latest_experimental"
PROVIDER = "sutazai"  # gen_ai.provider.name of the gateway: agents call models only through it


log = logging.getLogger("sutazai.otel")


def _exporter(signal: str) -> str:
    """``otlp`` | ``console`` | ``none`` for ``traces`` or ``metrics`` (the first one named)."""
    named = os.environ.get(f"OTEL_{signal.upper()}_EXPORTER", "otlp").split(",")[0].strip().lower()
    return named if named in ("otlp", "console", "none") else "otlp"


def _enabled() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    return bool(endpoint) or _exporter("traces") == "console"


@cache
def _providers(service: str) -> tuple[Any, Any] | None:
    if not _enabled() or _exporter("traces") == "none":
        return None
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError:
        return None
    resource = Resource.create({"service.name": service})
    spans = TracerProvider(resource=resource)
    if _exporter("traces") == "console":
        spans.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        spans.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(spans)
    readers = []
    if _exporter("metrics") == "console":
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    elif _exporter("metrics") == "otlp":
        readers.append(PeriodicExportingMetricReader(_quiet_metric_exporter()))
    meters = MeterProvider(resource=resource, metric_readers=readers)
    metrics.set_meter_provider(meters)
    return spans, meters


def _quiet_metric_exporter() -> Any:
    """OTLP metrics that stop, quietly, at the first export the endpoint refuses."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics.export import MetricExportResult

    # The exporter logs every refused batch as an error ("Failed to export metrics batch code:
    # 405") on stderr; a trace viewer without a metrics endpoint is not an error worth that.
    logging.getLogger(OTLPMetricExporter.__module__).setLevel(logging.CRITICAL)

    class QuietMetricExporter(OTLPMetricExporter):
        refused = False

        def export(self, metrics_data: Any, timeout_millis: float | None = 10_000, **kwargs: Any) -> Any:
            if self.refused:
                return MetricExportResult.SUCCESS
            result = super().export(metrics_data, timeout_millis=timeout_millis, **kwargs)
            if result is not MetricExportResult.SUCCESS:
                self.refused = True
                log.debug("the OTLP endpoint refused metrics; not sending more (OTEL_METRICS_EXPORTER=none)")
            return result

    return QuietMetricExporter()


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


def latest_genai() -> bool:
    """``OTEL_SEMCONV_STABILITY_OPT_IN`` names ``gen_ai_latest_experimental``: also send the newer
    registry names (agent id, description, conversation; tool description and call content;
    evaluation results), as OpenTelemetry's own GenAI instrumentations do behind the same switch."""
    chosen = os.environ.get(STABILITY_SWITCH, "")
    return LATEST_GENAI in {part.strip() for part in chosen.split(",")}


def flush(timeout_ms: int = 5000) -> None:
    """Send buffered spans and metrics now (short-lived processes such as the CLI call this)."""
    providers = _providers(_process_service[0]) if _process_service else None
    if providers is None:
        return
    spans, meters = providers
    spans.force_flush(timeout_ms)
    meters.force_flush(timeout_ms)
