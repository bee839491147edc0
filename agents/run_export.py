"""Runs out of the run store for other tools: ``sutazai runs export``.

- JSONL: one run a line, with its steps (the run store's own records, already redacted);
- OTLP: an ``ExportTraceServiceRequest``, in protobuf (what collectors and Phoenix take on
  ``/v1/traces``) or in the OTLP/JSON encoding; one trace per run a user started, its delegated runs
  inside it (a child's ``invoke_agent`` span under the parent's delegation step), spans named and
  attributed by the GenAI conventions as ``agents/tracing.py`` sends them live (``invoke_agent``,
  ``chat``, ``execute_tool``, ``retrieval``), so a run recorded without a collector can still be
  loaded into Jaeger, Phoenix or any OTLP tool. Trace and span ids are derived from the run ids, so
  exporting twice gives the same ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sutazai.agents.run_record import RunView
from sutazai.agents.runstore import RunRecord, StepRecord

PROVIDER = "sutazai"
_SPAN_KIND_INTERNAL, _SPAN_KIND_CLIENT = 1, 3
_STATUS_OK, _STATUS_ERROR = 1, 2


def runs_jsonl(views: Iterable[RunView]) -> Iterator[str]:
    """One line a run, in the shape ``sutazai show --json`` prints; a run whose parent is also
    exported is inside its parent's ``children``, not on a line of its own."""
    views = list(views)
    exported = {v.run.id for v in views}
    for view in views:
        if view.run.parent_run not in exported:
            yield json.dumps(view.to_json(), ensure_ascii=False, default=str)


def _id(text: str, size: int) -> str:
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def _ns(seconds: float) -> str:
    return str(int(seconds * 1e9))


def _attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [_attribute("", v)["value"] for v in value]}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _step_span(run: RunRecord, step: StepRecord) -> tuple[str, int, dict[str, Any]]:
    data = step.data
    if step.kind == "llm":
        model = str(data.get("model") or run.model or "")
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": model,
            "gen_ai.agent.name": run.agent,
            "gen_ai.usage.input_tokens": step.prompt_tokens,
            "gen_ai.usage.output_tokens": step.completion_tokens,
            "gen_ai.response.finish_reasons": ["tool_calls" if data.get("tool_calls") else "stop"],
        }
        return f"chat {model}", _SPAN_KIND_CLIENT, attributes
    if step.kind == "tool":
        name = str(data.get("tool", ""))
        attributes = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.type": "function",
        }
        return f"execute_tool {name}", _SPAN_KIND_INTERNAL, attributes
    if step.kind == "memory":
        attributes = {"gen_ai.operation.name": "retrieval", "gen_ai.agent.name": run.agent}
        return "retrieval memory", _SPAN_KIND_INTERNAL, attributes
    return f"sutazai.{step.kind}", _SPAN_KIND_INTERNAL, {}


def runs_otlp(
    runs: Iterable[tuple[RunRecord, list[StepRecord]]], root_of: Callable[[RunRecord], str] | None = None
) -> dict[str, Any]:
    """``root_of`` names the run a user started above each run (its trace); by default each run
    is its own."""
    spans: list[dict[str, Any]] = []
    for run, steps in runs:
        trace_id = _id(root_of(run) if root_of else run.id, 16)
        root_id = _id(run.id + "/run", 8)
        parent = _id(f"{run.parent_run}/{run.parent_step}", 8) if run.parent_run and root_of else None
        ended = run.ended_at or max(
            (s.started_at + s.duration_ms / 1000 for s in steps), default=run.started_at
        )
        spans.append(
            {
                "traceId": trace_id,
                "spanId": root_id,
                **({"parentSpanId": parent} if parent else {}),
                "name": f"invoke_agent {run.agent}",
                "kind": _SPAN_KIND_INTERNAL,
                "startTimeUnixNano": _ns(run.started_at),
                "endTimeUnixNano": _ns(ended),
                "attributes": [
                    _attribute(k, v)
                    for k, v in {
                        "gen_ai.operation.name": "invoke_agent",
                        "gen_ai.provider.name": PROVIDER,
                        "gen_ai.agent.name": run.agent,
                        "gen_ai.request.model": run.model or "",
                        "gen_ai.usage.input_tokens": run.prompt_tokens,
                        "gen_ai.usage.output_tokens": run.completion_tokens,
                        "sutazai.run.id": run.id,
                        "sutazai.run.status": run.status,
                    }.items()
                ],
                "status": {
                    "code": _STATUS_OK if run.status == "ok" else _STATUS_ERROR,
                    "message": run.error or "",
                },
            }
        )
        for step in steps:
            name, kind, attributes = _step_span(run, step)
            spans.append(
                {
                    "traceId": trace_id,
                    "spanId": _id(f"{run.id}/{step.seq}", 8),
                    "parentSpanId": root_id,
                    "name": name,
                    "kind": kind,
                    "startTimeUnixNano": _ns(step.started_at),
                    "endTimeUnixNano": _ns(step.started_at + step.duration_ms / 1000),
                    "attributes": [_attribute(k, v) for k, v in attributes.items()],
                    "status": {
                        "code": _STATUS_ERROR if step.error else _STATUS_OK,
                        "message": step.error or "",
                    },
                }
            )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attribute("service.name", "sutazai-agents")]},
                "scopeSpans": [{"scope": {"name": "sutazai.runs.export"}, "spans": spans}],
            }
        ]
    }


def otlp_protobuf(request: dict[str, Any]) -> bytes:
    """The same request in protobuf: ids as bytes where OTLP/JSON writes them in hex."""
    from google.protobuf.json_format import ParseDict
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    def b64(hex_id: str) -> str:
        return base64.b64encode(bytes.fromhex(hex_id)).decode()

    converted = json.loads(json.dumps(request))
    for resource in converted["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = b64(span[key])
    message: Any = ParseDict(converted, ExportTraceServiceRequest())
    data: bytes = message.SerializeToString()
    return data


def root_run(store: Any, run: RunRecord) -> str:
    """The run a user started above ``run``: the one whose trace holds it."""
    seen: set[str] = set()
    current = run
    while current.parent_run and current.id not in seen:
        seen.add(current.id)
        parent = store.run(current.parent_run)
        if parent is None:
            break
        current = parent
    return current.id
