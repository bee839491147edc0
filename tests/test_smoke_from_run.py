"""Evals from real runs: ``sutazai smoke add AGENT --from-run RUN`` makes a case and its cassette
that pass in replay, with expectations proposed for the user to edit."""

from __future__ import annotations

import json
from pathlib import Path

from sutazai.agents.smoke.spec import load_smoke
from sutazai.scaffolds.generate import init_workspace
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_cli import cli


def test_a_recorded_run_becomes_a_case_that_passes_in_replay(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [
        Reply('TOOL: calculator {"expression": "6*7"}'),
        Reply("The product is 42, computed exactly."),
    ]
    run = cli("--gateway", engine[1], "run", "code-helper", "What is 6*7?", cwd=root)
    assert run.returncode == 0, run.stderr
    run_id = json.loads(cli("runs", "code-helper", "--json", cwd=root).stdout)[0]["id"]

    added = cli("smoke", "add", "code-helper", "--from-run", run_id[:8], "--name", "times", cwd=root)
    assert added.returncode == 0, added.stderr + added.stdout
    smoke_file = root / "agents" / "code-helper" / "smoke.yaml"
    case = next(c for c in load_smoke(smoke_file).cases if c.name == "times")
    assert case.input == "What is 6*7?"
    assert case.expect.tool_called == "calculator" and "product" in (case.expect.contains or [])
    assert "from run" in smoke_file.read_text()  # the proposals are marked for editing

    requests_before = len(engine[0].requests)
    replayed = cli("--gateway", "http://127.0.0.1:9", "smoke", "code-helper", "--replay", "--json", cwd=root)
    results = {r["case"]: r for r in json.loads(replayed.stdout)["cases"]}
    assert results["times"]["status"] == "passed", results["times"]
    assert len(engine[0].requests) == requests_before  # offline: nothing reached an engine

    text = smoke_file.read_text().replace("- product", "- '42'")  # the user edits a proposal
    smoke_file.write_text(text)
    again = cli("--gateway", "http://127.0.0.1:9", "smoke", "code-helper", "--replay", "--json", cwd=root)
    assert {r["case"]: r for r in json.loads(again.stdout)["cases"]}["times"]["status"] == "passed"

    duplicate = cli("smoke", "add", "code-helper", "--from-run", run_id, "--name", "times", cwd=root)
    assert duplicate.returncode == 2 and "exists already" in duplicate.stderr
    missing = cli("smoke", "add", "code-helper", "--from-run", "zzzz", cwd=root)
    assert (
        missing.returncode == 2
        and "no run of code-helper" in missing.stderr
        and "Traceback" not in missing.stderr
    )


def test_runs_export_as_jsonl_and_as_otlp_json(tmp_path: Path, engine: tuple[ScriptedEngine, str]) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [Reply('TOOL: calculator {"expression": "1+1"}'), Reply("Two.")]
    assert cli("--gateway", engine[1], "run", "code-helper", "1+1?", cwd=root).returncode == 0
    lines = cli("runs", "export", cwd=root).stdout.splitlines()
    run = json.loads(lines[0])
    assert (
        len(lines) == 1
        and run["agent"] == "code-helper"
        and [s["kind"] for s in run["steps"]]
        == [
            "llm",
            "tool",
            "llm",
        ]
    )
    out = tmp_path / "runs.otlp"
    assert (
        cli("runs", "export", "code-helper", "--format", "otlp", "--out", str(out), cwd=root).returncode == 0
    )
    message = ExportTraceServiceRequest()
    message.ParseFromString(out.read_bytes())  # protobuf, what collectors and Phoenix take
    as_json = tmp_path / "runs.otlp.json"
    assert cli("runs", "export", "--format", "otlp-json", "--out", str(as_json), cwd=root).returncode == 0
    assert json.loads(as_json.read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] == (
        message.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    )
    spans = list(message.resource_spans[0].scope_spans[0].spans)
    names = [s.name for s in spans]
    assert names == ["invoke_agent code-helper", "chat fast", "execute_tool calculator", "chat fast"]
    assert {s.trace_id for s in spans} == {spans[0].trace_id}
    assert all(s.parent_span_id == spans[0].span_id for s in spans[1:])
    bad = cli("runs", "export", "--format", "csv", cwd=root)
    assert bad.returncode == 2 and "jsonl" in bad.stderr


def test_an_exported_delegation_is_one_trace_and_reaches_a_collector(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    """The child run's spans sit inside the parent's trace, under the step that asked it; --to posts
    the protobuf to an OTLP/HTTP endpoint."""
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.conftest import ServerThread

    root = init_workspace(tmp_path / "ws", demo=True)
    engine[0].replies = [
        Reply(tool_calls=[{"name": "ask_fact_finder", "arguments": {"input": "CPU facts?"}}]),
        Reply("CPUs compute."),
        Reply("A plan."),
    ]
    ran = cli("--gateway", engine[1], "run", "planner", "Plan CPUs.", "--json", cwd=root)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    exported = cli("runs", "export", "--format", "otlp-json", cwd=root)
    spans = json.loads(exported.stdout)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert len({s["traceId"] for s in spans}) == 1  # the planner and fact-finder runs: one trace
    by_id = {s["spanId"]: s for s in spans}
    [child] = [s for s in spans if s["name"] == "invoke_agent fact-finder"]
    assert by_id[child["parentSpanId"]]["name"] == "execute_tool ask_fact_finder"
    received: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    with ServerThread(app) as collector:
        sent = cli("runs", "export", "--format", "otlp", "--to", collector.url, cwd=root)
    assert sent.returncode == 0, sent.stderr
    message = ExportTraceServiceRequest()
    message.ParseFromString(received[0])
    assert len(message.resource_spans[0].scope_spans[0].spans) == len(spans)
