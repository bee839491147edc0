"""OpenTelemetry: a run is one trace from the agent through the gateway to the engine, in the GenAI
semantic conventions, received by a real OTLP/HTTP endpoint (protobuf, as collectors take it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.semconv._incubating.metrics import gen_ai_metrics

from sutazai.scaffolds.generate import init_workspace
from tests.conftest import ServerThread, free_port
from tests.scripted_engine import Reply, ScriptedEngine

SUTAZAI = str(Path(sys.executable).parent / "sutazai")
PUBLISHED = {v for k, v in vars(gen_ai_attributes).items() if k.startswith("GEN_AI_") and isinstance(v, str)}


class Receiver:
    """An OTLP/HTTP endpoint: decodes what exporters post to /v1/traces and /v1/metrics."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.metrics: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/traces", self.traces)
        app.router.add_post("/v1/metrics", self.metrics_in)
        return app

    async def traces(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        for resource in message.resource_spans:
            service = next(
                a.value.string_value for a in resource.resource.attributes if a.key == "service.name"
            )
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        {
                            "service": service,
                            "name": span.name,
                            "kind": span.kind,
                            "trace": span.trace_id.hex(),
                            "id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "links": [link.span_id.hex() for link in span.links],
                            "attributes": {a.key: _value(a.value) for a in span.attributes},
                            "events": [
                                {"name": e.name, "attributes": {a.key: _value(a.value) for a in e.attributes}}
                                for e in span.events
                            ],
                        }
                    )
        return web.Response(status=200)

    async def metrics_in(self, request: web.Request) -> web.Response:
        message = ExportMetricsServiceRequest()
        message.ParseFromString(await request.read())
        for resource in message.resource_metrics:
            for scope in resource.scope_metrics:
                self.metrics.update(m.name for m in scope.metrics)
        return web.Response(status=200)

    def named(self, name: str, service: str | None = None) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["name"] == name and (service is None or s["service"] == service)]


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@contextmanager
def traced_gateway(engine_url: str, otlp: str, tmp_path: Path) -> Iterator[str]:
    """The real gateway as a process, exporting its spans to ``otlp``."""
    port = free_port()
    folder = tmp_path / "gateway"
    folder.mkdir()
    (folder / "sutazai.toml").write_text(
        f'[gateway]\nport = {port}\n[tiers]\nfast = "smollm2"\n[stack]\nembedded = false\n'
        f'[[stack.engines]]\nname = "e"\nkind = "openai"\nurl = "{engine_url}"\nslots = 4\nmodels = ["smollm2"]\n'
    )
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_BSP_SCHEDULE_DELAY": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sutazai.stack.gateway.serve", "--workspace", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()  # the gateway flushes its spans on the way out
        proc.wait(15)


def _wait_for(receiver: Receiver, name: str, service: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not receiver.named(name, service) and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    got = Receiver()
    with ServerThread(got.app()) as server:
        yield got, server.url


def test_a_run_is_one_trace_from_the_agent_through_the_gateway_to_the_engine(
    tmp_path: Path, engine: tuple[ScriptedEngine, str], receiver: tuple[Receiver, str]
) -> None:
    got, otlp = receiver
    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [
        Reply("", tool_calls=[{"name": "calculator", "arguments": {"expression": "2+2"}}]),
        Reply("4, secret sk-abcdefghijklmnopqrstu"),
    ]
    with traced_gateway(engine[1], otlp, tmp_path) as gateway:
        env = {"PATH": "/usr/bin:/bin", "OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "HOME": str(tmp_path)}
        result = subprocess.run(
            [SUTAZAI, "--gateway", gateway, "run", "code-helper", "2+2?"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        _wait_for(got, "gateway.queue", "sutazai-gateway")
    [run] = got.named("invoke_agent code-helper", "sutazai-agents")
    chats = got.named("chat fast", "sutazai-agents")
    [tool] = got.named("execute_tool calculator", "sutazai-agents")
    servers = [s for s in got.named("chat fast", "sutazai-gateway") if s["kind"] == 2]  # SERVER
    engine_calls = got.named("chat smollm2", "sutazai-gateway")
    assert len(chats) == 2 and len(servers) == 2 and len(engine_calls) == 2
    assert {s["trace"] for s in got.spans} == {run["trace"]}  # one trace, agent to engine
    assert {c["parent"] for c in chats} == {run["id"]} and tool["parent"] == run["id"]
    assert {s["parent"] for s in servers} == {c["id"] for c in chats}  # traceparent crossed over
    queues, routes = got.named("gateway.queue"), got.named("gateway.route")
    assert {q["parent"] for q in queues} == {s["id"] for s in servers} == {r["parent"] for r in routes}
    assert all(r["attributes"]["sutazai.engine"] == "e" for r in routes)
    assert "sutazai.queue.wait_ms" in queues[0]["attributes"]
    chat = chats[0]["attributes"]
    assert chat["gen_ai.operation.name"] == "chat" and chat["gen_ai.request.model"] == "fast"
    assert chat["gen_ai.usage.input_tokens"] > 0
    assert max(c["attributes"]["gen_ai.usage.output_tokens"] for c in chats) > 0
    assert run["attributes"]["gen_ai.agent.name"] == "code-helper"
    assert tool["attributes"]["gen_ai.tool.name"] == "calculator"
    assert "gen_ai.usage.cache_read.input_tokens" in engine_calls[0]["attributes"]
    sent = {k for s in got.spans for k in s["attributes"] if k.startswith("gen_ai.")}
    assert sent <= PUBLISHED, sent - PUBLISHED  # every name is in the published conventions
    assert {
        gen_ai_metrics.GEN_AI_CLIENT_TOKEN_USAGE,
        gen_ai_metrics.GEN_AI_CLIENT_OPERATION_DURATION,
    } <= got.metrics
    body = repr(got.spans)
    assert "sk-abcdefghijklmnopqrstu" not in body and "2+2?" not in body  # no content unless asked


def test_message_content_only_when_asked_and_always_redacted(
    tmp_path: Path, engine: tuple[ScriptedEngine, str], receiver: tuple[Receiver, str]
) -> None:
    got, otlp = receiver
    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [Reply("Short, with sk-abcdefghijklmnopqrstu inside.")]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    }
    result = subprocess.run(
        [
            SUTAZAI,
            "--gateway",
            engine[1],
            "run",
            "summarizer",
            "Summarise: my key is hf_abcdefghijklmnopqrstuvwxyz0123",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    [chat] = got.named("chat fast", "sutazai-agents")
    given, answered = (
        chat["attributes"]["gen_ai.input.messages"],
        chat["attributes"]["gen_ai.output.messages"],
    )
    assert "Summarise: my key is" in given and "Short, with" in answered
    assert "hf_abcdefghij" not in given and "sk-abcdefghij" not in answered and "[REDACTED]" in answered
    # The conventions' form: roles with typed parts, the system prompt apart, a finish reason.
    [asked] = json.loads(given)
    assert asked["role"] == "user" and asked["parts"][0]["type"] == "text"
    [reply] = json.loads(answered)
    assert reply["parts"][0]["type"] == "text" and reply["finish_reason"] == "stop"
    assert json.loads(chat["attributes"]["gen_ai.system_instructions"])[0]["type"] == "text"
    assert chat["attributes"]["input.value"].startswith("Summarise: my key is")  # what Phoenix shows
    assert "Short, with" in chat["attributes"]["output.value"]


def test_the_latest_genai_names_only_behind_the_opt_in(
    tmp_path: Path, engine: tuple[ScriptedEngine, str], receiver: tuple[Receiver, str]
) -> None:
    """``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` adds the newer registry names:
    agent id, description and conversation; tool description and call content (with capture);
    smoke verdicts as ``gen_ai.evaluation.result`` events. Without it, none of them."""
    got, otlp = receiver
    root = init_workspace(tmp_path / "ws", demo=True)
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
    latest = {
        **base,
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http,gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    }

    def run(env: dict[str, str], *argv: str) -> None:
        engine[0].replies = [
            Reply("", tool_calls=[{"name": "calculator", "arguments": {"expression": "6*7"}}]),
            Reply("42"),
        ]
        command = [SUTAZAI, "--gateway", engine[1], *argv]
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode in (0, 1), result.stderr

    run(base, "run", "code-helper", "6*7?")
    [plain] = got.named("invoke_agent code-helper")
    assert "gen_ai.agent.id" not in plain["attributes"]
    got.spans.clear()
    run(latest, "run", "code-helper", "6*7?")
    [agent] = got.named("invoke_agent code-helper")
    [tool] = got.named("execute_tool calculator")
    assert agent["attributes"]["gen_ai.agent.id"] == "code-helper"
    assert agent["attributes"]["gen_ai.conversation.id"] == agent["attributes"]["sutazai.run.id"]
    assert agent["attributes"]["gen_ai.agent.description"]
    assert tool["attributes"]["gen_ai.tool.description"]
    assert json.loads(tool["attributes"]["gen_ai.tool.call.arguments"]) == {"expression": "6*7"}
    assert tool["attributes"]["gen_ai.tool.call.result"] == "42"
    got.spans.clear()
    run(latest, "smoke", "run", "code-helper")
    cases = [s for s in got.spans if s["name"].startswith("smoke code-helper/")]
    assert cases and all(c["events"][0]["name"] == "gen_ai.evaluation.result" for c in cases)
    verdict = cases[0]["events"][0]["attributes"]
    assert verdict["gen_ai.evaluation.score.label"] in ("passed", "failed", "error")
    runs = got.named("invoke_agent code-helper")
    assert {r["parent"] for r in runs} <= {c["id"] for c in cases}  # each run under its case
    sent = {k for s in got.spans for k in s["attributes"] if k.startswith("gen_ai.")}
    sent |= {k for s in got.spans for e in s["events"] for k in e["attributes"]}
    assert sent <= PUBLISHED, sent - PUBLISHED


class NoMetrics(Receiver):
    """A trace viewer without a metrics endpoint (Phoenix answers 405)."""

    def __init__(self) -> None:
        super().__init__()
        self.metric_posts = 0

    async def metrics_in(self, request: web.Request) -> web.Response:
        self.metric_posts += 1
        return web.Response(status=405)


@pytest.mark.parametrize("metrics_exporter", [None, "none"])
def test_a_viewer_without_metrics_gets_traces_and_no_error_is_printed(
    tmp_path: Path, engine: tuple[ScriptedEngine, str], metrics_exporter: str | None
) -> None:
    got = NoMetrics()
    root = init_workspace(tmp_path / "ws", demo=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    if metrics_exporter is not None:
        env["OTEL_METRICS_EXPORTER"] = metrics_exporter
    with ServerThread(got.app()) as server:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = server.url
        result = subprocess.run(
            [SUTAZAI, "--gateway", engine[1], "run", "summarizer", "Summarise: a cat sat."],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert "Failed to export" not in result.stderr and "405" not in result.stderr, result.stderr
    assert got.named("chat fast", "sutazai-agents")  # the traces arrived all the same
    if metrics_exporter == "none":
        assert got.metric_posts == 0  # the standard switch is respected: nothing sent


def test_a_single_flight_follower_links_to_the_leader(tmp_path: Path, receiver: tuple[Receiver, str]) -> None:
    got, otlp = receiver
    slow = ScriptedEngine()
    slow.replies = [Reply("shared answer", delay_s=0.3)]
    body = {"model": "fast", "temperature": 0, "messages": [{"role": "user", "content": "same question"}]}
    with ServerThread(slow.app()) as engine, traced_gateway(engine.url, otlp, tmp_path) as gateway:
        import asyncio

        async def both() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:
                first = asyncio.ensure_future(client.post(f"{gateway}/v1/chat/completions", json=body))
                await asyncio.sleep(0.1)
                second = await client.post(f"{gateway}/v1/chat/completions", json=body)
                return [(await first).status_code, second.status_code]

        assert asyncio.run(both()) == [200, 200]
        _wait_for(got, "chat smollm2", "sutazai-gateway")
    servers = [s for s in got.named("chat fast", "sutazai-gateway") if s["kind"] == 2]
    assert len(servers) == 2 and len(slow.requests) == 1
    follower = next(s for s in servers if s["links"])
    leader = next(s for s in servers if not s["links"])
    assert (
        follower["links"] == [leader["id"]] and follower["attributes"]["sutazai.single_flight"] == "follower"
    )
