"""The runtime's spans and metrics, in the OpenTelemetry GenAI semantic conventions:

- a run is ``invoke_agent {agent}`` (``gen_ai.operation.name = invoke_agent``, ``gen_ai.agent.name``);
- each model call is ``chat {model}``, a client span with ``gen_ai.provider.name``,
  ``gen_ai.request.*``, ``gen_ai.response.finish_reasons`` and ``gen_ai.usage.input_tokens`` /
  ``output_tokens``, plus the metrics ``gen_ai.client.token.usage`` and
  ``gen_ai.client.operation.duration``;
- each tool call is ``execute_tool {tool}`` (``gen_ai.tool.name``, ``gen_ai.tool.call.id``);
- memory recall is ``retrieval {store}``;
- a call to an A2A agent elsewhere is ``invoke_agent {agent}`` as a CLIENT span, and the request
  it makes is ``a2a {agent}``, a SERVER span continuing the caller's trace.

Names come from ``opentelemetry-semantic-conventions`` (the published registry as a package), not
from memory; ``tests/test_tracing.py`` checks every attribute we send against it. The W3C
``traceparent`` of the model call goes to the gateway (:func:`propagation_headers`), which continues
the trace with its queue, routing and engine spans.

Off (no ``OTEL_EXPORTER_OTLP_ENDPOINT``), every function returns a shared no-op at the cost of one
cached call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import orjson

from sutazai import otel

SERVICE = "sutazai-agents"


class _Off:
    """What callers hold when tracing is off: every method does nothing."""

    def finish(self, **_: Any) -> None:
        return None

    def evaluated(self, *_: Any, **__: Any) -> None:
        return None

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


OFF = _Off()


def flush(timeout_ms: int = 5000) -> None:
    otel.flush(timeout_ms)


def _attributes(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def agent_span(
    agent: str, run_id: str, model: str, *, description: str = "", conversation: str | None = None
) -> AbstractContextManager[Any]:
    """``invoke_agent {agent}``; with the latest names also the agent's id (its name), description
    and the conversation (the delegation tree's first run, across A2A hops too)."""
    tracer = otel.tracer(SERVICE)
    if tracer is None:
        return OFF
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

    attributes = {
        gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value,
        gen_ai.GEN_AI_PROVIDER_NAME: otel.PROVIDER,
        gen_ai.GEN_AI_AGENT_NAME: agent,
        gen_ai.GEN_AI_REQUEST_MODEL: model,
        "sutazai.run.id": run_id,
    }
    if otel.latest_genai():
        attributes[gen_ai.GEN_AI_AGENT_ID] = agent
        attributes[gen_ai.GEN_AI_CONVERSATION_ID] = conversation or run_id
        if description:
            attributes[gen_ai.GEN_AI_AGENT_DESCRIPTION] = description
    return _plain(tracer, f"invoke_agent {agent}", attributes)


def tool_span(name: str, call_id: str | None, description: str | None = None) -> AbstractContextManager[Any]:
    """``execute_tool {name}``: call ``finish(arguments, result)`` on what it yields (the call's
    content goes on the span only with the latest names and content capture on)."""
    tracer = otel.tracer(SERVICE)
    if tracer is None:
        return OFF
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

    latest = otel.latest_genai()
    attributes = _attributes(
        **{
            gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value,
            gen_ai.GEN_AI_TOOL_NAME: name,
            gen_ai.GEN_AI_TOOL_TYPE: "function",
            gen_ai.GEN_AI_TOOL_CALL_ID: call_id,
            gen_ai.GEN_AI_TOOL_DESCRIPTION: description if latest else None,
        }
    )
    return _tool(tracer, f"execute_tool {name}", attributes, latest and otel.capture_content())


@contextmanager
def _tool(tracer: Any, name: str, attributes: dict[str, Any], content: bool) -> Iterator[Any]:
    with tracer.start_as_current_span(name, attributes=attributes) as span:
        yield _ToolCall(span) if content else OFF


class _ToolCall:
    def __init__(self, span: Any) -> None:
        self.span = span

    def finish(self, *, arguments: Any, result: str) -> None:
        from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

        from sutazai.redact import Redactor

        redactor = Redactor()
        self.span.set_attribute(
            gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS, redactor.text(orjson.dumps(arguments).decode())
        )
        self.span.set_attribute(gen_ai.GEN_AI_TOOL_CALL_RESULT, redactor.text(result))


def evaluation_span(agent: str, case: str) -> AbstractContextManager[Any]:
    """With the latest names: a span around a smoke case (its run is a child), on which
    ``evaluated(...)`` records each verdict as a ``gen_ai.evaluation.result`` event."""
    tracer = otel.tracer(SERVICE)
    if tracer is None or not otel.latest_genai():
        return OFF
    return _evaluation(tracer, agent, case)


@contextmanager
def _evaluation(tracer: Any, agent: str, case: str) -> Iterator[Any]:
    with tracer.start_as_current_span(
        f"smoke {agent}/{case}", attributes={"sutazai.smoke.case": case}
    ) as span:
        yield _Evaluation(span)


class _Evaluation:
    def __init__(self, span: Any) -> None:
        self.span = span

    def evaluated(self, name: str, verdict: str, explanation: str = "") -> None:
        """A verdict (``passed``, ``failed``, ``error``, ...) as the label, 1.0 or 0.0 as the score."""
        from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

        attributes = _attributes(
            **{
                gen_ai.GEN_AI_EVALUATION_NAME: name,
                gen_ai.GEN_AI_EVALUATION_SCORE_LABEL: verdict,
                gen_ai.GEN_AI_EVALUATION_SCORE_VALUE: 1.0 if verdict == "passed" else 0.0,
                gen_ai.GEN_AI_EVALUATION_EXPLANATION: explanation or None,
            }
        )
        self.span.add_event("gen_ai.evaluation.result", attributes)


def retrieval_span(agent: str, store: str) -> AbstractContextManager[Any]:
    tracer = otel.tracer(SERVICE)
    if tracer is None:
        return OFF
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

    attributes = {
        gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.RETRIEVAL.value,
        gen_ai.GEN_AI_AGENT_NAME: agent,
        gen_ai.GEN_AI_DATA_SOURCE_ID: store,
    }
    return _plain(tracer, f"retrieval {store}", attributes)


def remote_agent_span(agent: str, url: str) -> AbstractContextManager[Any]:
    """``invoke_agent {agent}`` as a CLIENT span: the conventions' form for an agent in another
    process; :func:`propagation_headers` inside it makes the remote run its child."""
    tracer = otel.tracer(SERVICE)
    if tracer is None:
        return OFF
    from urllib.parse import urlsplit

    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.trace import SpanKind

    where = urlsplit(url)
    attributes = _attributes(
        **{
            gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value,
            gen_ai.GEN_AI_PROVIDER_NAME: otel.PROVIDER,
            gen_ai.GEN_AI_AGENT_NAME: agent,
            "server.address": where.hostname,
            "server.port": where.port,
            "url.full": url,
        }
    )
    return _kind(tracer, f"invoke_agent {agent}", SpanKind.CLIENT, attributes)


def served_span(agent: str, headers: dict[str, str]) -> AbstractContextManager[Any]:
    """The SERVER span of an A2A request for ``agent``, continuing the caller's trace from its
    ``traceparent``: the run below it joins the caller's trace."""
    tracer = otel.tracer(SERVICE)
    if tracer is None:
        return OFF
    from opentelemetry.propagate import extract
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.trace import SpanKind

    attributes = {
        gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value,
        gen_ai.GEN_AI_AGENT_NAME: agent,
    }
    return _kind(tracer, f"a2a {agent}", SpanKind.SERVER, attributes, extract(headers))


@contextmanager
def _kind(
    tracer: Any, name: str, kind: Any, attributes: dict[str, Any], context: Any = None
) -> Iterator[_Off]:
    with tracer.start_as_current_span(name, context=context, kind=kind, attributes=attributes):
        yield OFF


@contextmanager
def _plain(tracer: Any, name: str, attributes: dict[str, Any]) -> Iterator[_Off]:
    with tracer.start_as_current_span(name, attributes=attributes):
        yield OFF


def chat_span(
    model: str,
    agent: str,
    *,
    temperature: float | None,
    max_tokens: int | None,
    seed: int | None,
    server: str,
) -> AbstractContextManager[Any]:
    """``chat {model}``: call ``finish(...)`` on what it yields with the answer's usage."""
    tracer = otel.tracer(SERVICE)
    if tracer is None:
        return OFF
    from urllib.parse import urlsplit

    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

    where = urlsplit(server)
    attributes = _attributes(
        **{
            gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.CHAT.value,
            gen_ai.GEN_AI_PROVIDER_NAME: otel.PROVIDER,
            gen_ai.GEN_AI_REQUEST_MODEL: model,
            gen_ai.GEN_AI_REQUEST_TEMPERATURE: temperature,
            gen_ai.GEN_AI_REQUEST_MAX_TOKENS: max_tokens,
            gen_ai.GEN_AI_REQUEST_SEED: seed,
            gen_ai.GEN_AI_REQUEST_STREAM: True,
            gen_ai.GEN_AI_AGENT_NAME: agent,
            "server.address": where.hostname,
            "server.port": where.port,
        }
    )
    return _chat(tracer, model, attributes)


class _Chat:
    def __init__(self, span: Any, model: str) -> None:
        self.span = span
        self.model = model
        self.started = time.perf_counter()

    def finish(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        finish_reason: str,
        first_token_s: float | None = None,
        messages: list[dict[str, Any]] | None = None,
        output: str | None = None,
    ) -> None:
        from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

        self.span.set_attributes(
            _attributes(
                **{
                    gen_ai.GEN_AI_RESPONSE_MODEL: self.model,
                    gen_ai.GEN_AI_RESPONSE_FINISH_REASONS: [finish_reason],
                    gen_ai.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
                    gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
                    gen_ai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: first_token_s,
                }
            )
        )
        if otel.capture_content() and messages is not None:
            from sutazai.redact import Redactor

            redactor = Redactor()
            system = [m for m in messages if m.get("role") in ("system", "developer")]
            if system:
                instructions = [
                    {"type": "text", "content": redactor.text(str(m.get("content") or ""))} for m in system
                ]
                self.span.set_attribute(
                    gen_ai.GEN_AI_SYSTEM_INSTRUCTIONS, orjson.dumps(instructions).decode()
                )
            given = [
                conventional(m, redactor) for m in messages if m.get("role") not in ("system", "developer")
            ]
            self.span.set_attribute(gen_ai.GEN_AI_INPUT_MESSAGES, orjson.dumps(given).decode())
            parts: list[dict[str, Any]] = (
                [{"type": "text", "content": redactor.text(output or "")}] if output else []
            )
            answer = [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}]
            self.span.set_attribute(gen_ai.GEN_AI_OUTPUT_MESSAGES, orjson.dumps(answer).decode())
            # OpenInference's names, which Phoenix shows as a span's input and output.
            asked = next((m for m in reversed(given) if m["role"] == "user"), None)
            if asked is not None:
                self.span.set_attribute("input.value", " ".join(p.get("content", "") for p in asked["parts"]))
            self.span.set_attribute("output.value", redactor.text(output or ""))
        _record_metrics(self.model, input_tokens, output_tokens, time.perf_counter() - self.started)


def conventional(message: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """An OpenAI-shaped message in the GenAI conventions' form: a role and typed parts."""
    role = str(message.get("role") or "user")
    if role == "tool":
        response = redactor.text(str(message.get("content") or ""))
        return {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": message.get("tool_call_id"), "response": response}
            ],
        }
    content = message.get("content")
    text = (
        content
        if isinstance(content, str)
        else " ".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict))
    )
    parts: list[dict[str, Any]] = [{"type": "text", "content": redactor.text(text)}] if text else []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = function.get("arguments")
        parts.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name"),
                "arguments": redactor.value(arguments),
            }
        )
    return {"role": role, "parts": parts}


@contextmanager
def _chat(tracer: Any, model: str, attributes: dict[str, Any]) -> Iterator[_Chat]:
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield _Chat(span, model)


_instruments: list[Any] = []


def _record_metrics(model: str, input_tokens: int, output_tokens: int, seconds: float) -> None:
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

    if not _instruments:
        meter = otel.meter(SERVICE)
        if meter is None:
            return
        _instruments.extend(
            [
                gen_ai_metrics.create_gen_ai_client_token_usage(meter),
                gen_ai_metrics.create_gen_ai_client_operation_duration(meter),
            ]
        )
    tokens, duration = _instruments
    common = {
        gen_ai.GEN_AI_OPERATION_NAME: gen_ai.GenAiOperationNameValues.CHAT.value,
        gen_ai.GEN_AI_PROVIDER_NAME: otel.PROVIDER,
        gen_ai.GEN_AI_REQUEST_MODEL: model,
    }
    tokens.record(input_tokens, {**common, gen_ai.GEN_AI_TOKEN_TYPE: "input"})
    tokens.record(output_tokens, {**common, gen_ai.GEN_AI_TOKEN_TYPE: "output"})
    duration.record(seconds, common)


def propagation_headers() -> dict[str, str]:
    """``traceparent`` (W3C) of the current span, for the gateway to continue the trace."""
    if otel.tracer(SERVICE) is None:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier
