"""The gateway's spans: the agent's trace continues through the gateway to the engine.

Each chat request is a server span ``chat {model}`` (GenAI conventions, ``gen_ai.provider.name =
sutazai``) whose parent is the caller's W3C ``traceparent``; inside it:

- ``gateway.queue``: the wait for a slot (``sutazai.queue.position``, ``.priority``, ``.wait_ms``);
- ``gateway.route``: the choice (``sutazai.engine``, ``sutazai.slot``, ``sutazai.routing.policy``);
- ``chat {model}`` (client) to the engine, with ``gen_ai.usage.input_tokens`` / ``output_tokens``
  and ``gen_ai.usage.cache_read.input_tokens`` (prompt tokens the engine had cached).

A request answered by an identical one in flight (single-flight) links its span to the leader's.
Spans are started with an explicit parent, never made current, so async generators that outlive a
``with`` block cannot mix contexts. Off (no ``OTEL_EXPORTER_OTLP_ENDPOINT``) everything is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sutazai import otel
from sutazai.stack.gateway.types import ChatRequest, Placement, Usage

SERVICE = "sutazai-gateway"


class _NoSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None

    def add_link(self, context: Any, attributes: Any = None) -> None:
        return None

    def get_span_context(self) -> None:
        return None


NO_SPAN = _NoSpan()
OFF: AbstractContextManager[Any] = nullcontext(NO_SPAN)  # tracing off: no generator per span


def server_span(
    headers: Mapping[str, str], request: ChatRequest, operation: str = "chat"
) -> AbstractContextManager[Any]:
    """The request's span in the gateway, child of the caller's ``traceparent``; stored on the
    request (``request.trace``) for the spans below it."""
    tracer = otel.tracer(SERVICE)
    return OFF if tracer is None else _server_span(tracer, headers, request, operation)


@contextmanager
def _server_span(
    tracer: Any, headers: Mapping[str, str], request: ChatRequest, operation: str
) -> Iterator[Any]:
    from opentelemetry.propagate import extract
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.trace import SpanKind, Status, StatusCode

    parent = extract(dict(headers))
    attributes = {
        gen_ai.GEN_AI_OPERATION_NAME: operation,
        gen_ai.GEN_AI_PROVIDER_NAME: otel.PROVIDER,
        gen_ai.GEN_AI_REQUEST_MODEL: request.model,
        gen_ai.GEN_AI_REQUEST_STREAM: request.stream,
        "sutazai.agent": request.agent,
        "sutazai.priority": request.priority,
    }
    span = tracer.start_span(
        f"{operation} {request.model}", context=parent, kind=SpanKind.SERVER, attributes=attributes
    )
    request.trace = span
    try:
        yield span
    except BaseException as exc:
        span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))
        raise
    finally:
        span.end()


def _child(request: ChatRequest, name: str, attributes: dict[str, Any], client: bool = False) -> Any:
    tracer = otel.tracer(SERVICE)
    if tracer is None or request.trace is None:
        return NO_SPAN
    from opentelemetry.trace import SpanKind, set_span_in_context

    return tracer.start_span(
        name,
        context=set_span_in_context(request.trace),
        kind=SpanKind.CLIENT if client else SpanKind.INTERNAL,
        attributes=attributes,
    )


def queue_span(request: ChatRequest, engine: str) -> AbstractContextManager[Any]:
    """The wait for a slot; spans below the server span exist only when it does."""
    return OFF if request.trace is None else _queue_span(request, engine)


@contextmanager
def _queue_span(request: ChatRequest, engine: str) -> Iterator[None]:
    span = _child(
        request, "gateway.queue", {"sutazai.engine": engine, "sutazai.queue.priority": request.priority}
    )
    try:
        yield
    finally:
        placement = request.placement
        span.set_attributes(
            {
                "sutazai.queue.position": placement.position,
                "sutazai.queue.estimate_ms": round(placement.estimate_ms),
                "sutazai.queue.wait_ms": round(placement.waited_ms),
            }
        )
        if span is not NO_SPAN:
            span.end()


def route_span(request: ChatRequest, policy: str, candidates: list[str]) -> None:
    """The routing decision, as an instant span: where it went and what came after it."""
    if request.trace is None:
        return
    placement: Placement = request.placement
    span = _child(
        request,
        "gateway.route",
        {
            "sutazai.routing.policy": policy,
            "sutazai.engine": placement.engine,
            "sutazai.slot": -1 if placement.slot is None else placement.slot,
            "sutazai.routing.fallbacks": candidates,
        },
    )
    if span is not NO_SPAN:
        span.end()


def engine_span(request: ChatRequest, engine: str, kind: str, model: str) -> AbstractContextManager[Any]:
    """``chat {model}`` from the gateway to the engine; ``record_usage`` records the tokens."""
    return OFF if request.trace is None else _engine_span(request, engine, kind, model)


@contextmanager
def _engine_span(request: ChatRequest, engine: str, kind: str, model: str) -> Iterator[Any]:
    span = _child(
        request,
        f"chat {model}",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": kind,
            "gen_ai.request.model": model,
            "sutazai.engine": engine,
        },
        client=True,
    )
    try:
        yield span
    finally:
        if span is not NO_SPAN:
            span.end()


def record_usage(span: Any, usage: Usage | None) -> None:
    if usage is None or span is NO_SPAN:
        return
    span.set_attributes(
        {
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
            "gen_ai.usage.cache_read.input_tokens": usage.cached_tokens,
        }
    )


def link_to(request: ChatRequest, leader: Any) -> None:
    """This request was answered by an identical one in flight: link its span to the leader's."""
    if request.trace is None or leader is None:
        return
    context = leader.get_span_context()
    if context is not None:
        request.trace.add_link(context, {"sutazai.single_flight": "follower"})
        request.trace.set_attribute("sutazai.single_flight", "follower")
