"""Runtime logic against the scripted engine (a test double for the loop's logic)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sutazai.agents.events import MemoriesRetrieved, RunFinished, RunStarted, Token, ToolCalled, ToolReturned
from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentCatalog
from sutazai.agents.runstore import RunStore
from sutazai.agents.runtime import AgentRuntime
from sutazai.redact import Redactor
from sutazai.workspace import Workspace
from tests.scripted_engine import Reply, ScriptedEngine


def _runtime(ws: Workspace, redactor: Redactor | None = None) -> AgentRuntime:
    return AgentRuntime(ws, GatewayClient(ws.settings.gateway.url), RunStore(ws.runs_db, redactor))


async def _collect(runtime: AgentRuntime, agent: str, text: str, **kw: Any) -> list[Any]:
    definition = AgentCatalog.scan(runtime.workspace).get(agent)
    return [e async for e in runtime.run(definition, text, **kw)]


async def test_streams_tokens_and_records_every_step(workspace: Workspace, engine: Any) -> None:
    scripted: ScriptedEngine = engine[0]
    scripted.replies = [Reply("A cat sat on a mat.")]
    runtime = _runtime(workspace)
    events = await _collect(runtime, "summarizer", "Summarise: the cat sat on the mat.")
    assert isinstance(events[0], RunStarted)
    assert "".join(e.text for e in events if isinstance(e, Token)) == "A cat sat on a mat."
    done = events[-1]
    assert isinstance(done, RunFinished) and done.status == "ok" and done.completion_tokens == 6
    record = runtime.store.run(done.run_id)
    assert record is not None and record.status == "ok" and record.output == "A cat sat on a mat."
    [llm] = runtime.store.steps(done.run_id)
    assert llm.kind == "llm" and llm.data["messages"][-1]["content"].startswith("Summarise")
    assert scripted.headers[0]["X-Sutazai-Agent"] == "summarizer"
    assert scripted.headers[0]["X-Sutazai-Priority"] == "normal"


async def test_text_protocol_tool_call(workspace: Workspace, engine: Any) -> None:
    scripted: ScriptedEngine = engine[0]
    scripted.replies = [Reply('TOOL: calculator {"expression": "6 * 7"}'), Reply("The answer is 42.")]
    runtime = _runtime(workspace)
    events = await _collect(runtime, "code-helper", "what is 6*7?")
    called = [e for e in events if isinstance(e, ToolCalled)]
    returned = [e for e in events if isinstance(e, ToolReturned)]
    assert called[0].arguments == {"expression": "6 * 7"} and returned[0].result == "42"
    tokens = "".join(e.text for e in events if isinstance(e, Token))
    assert "TOOL:" not in tokens and tokens == "The answer is 42."
    assert scripted.requests[1]["messages"][-1] == {"role": "user", "content": "RESULT: 42"}
    steps = runtime.store.steps(events[-1].run_id)
    assert [s.kind for s in steps] == ["llm", "tool", "llm"]


async def test_native_tool_calls(workspace: Workspace, engine: Any) -> None:
    spec_file = workspace.agent_dir("code-helper") / "agent.yaml"
    spec_file.write_text(spec_file.read_text() + "tool_protocol: native\n")
    scripted: ScriptedEngine = engine[0]
    scripted.replies = [
        Reply("", tool_calls=[{"name": "calculator", "arguments": {"expression": "1+1"}}]),
        Reply("2"),
    ]
    events = await _collect(_runtime(workspace), "code-helper", "1+1?")
    assert scripted.requests[0]["tools"][0]["function"]["name"] == "calculator"
    assert scripted.requests[1]["messages"][-1]["role"] == "tool"
    assert events[-1].output == "2"


async def test_max_iterations_bounds_a_tool_loop(workspace: Workspace, engine: Any) -> None:
    scripted: ScriptedEngine = engine[0]
    scripted.default = 'TOOL: calculator {"expression": "1"}'
    events = await _collect(_runtime(workspace), "code-helper", "loop forever")
    assert len(scripted.requests) == 3 and events[-1].status == "ok"


async def test_timeout_is_recorded(workspace: Workspace, engine: Any) -> None:
    spec_file = workspace.agent_dir("summarizer") / "agent.yaml"
    spec_file.write_text(spec_file.read_text().replace("timeout_s: 120", "timeout_s: 0.3"))
    engine[0].replies = [Reply("slow " * 20, delay_s=0.05)]
    runtime = _runtime(workspace)
    events = await _collect(runtime, "summarizer", "x")
    assert events[-1].status == "timeout"
    assert runtime.store.run(events[-1].run_id).status == "timeout"  # type: ignore[union-attr]


async def test_cancelling_the_consumer_cancels_the_run(workspace: Workspace, engine: Any) -> None:
    engine[0].replies = [Reply("slow " * 100, delay_s=0.05)]
    runtime = _runtime(workspace)
    definition = AgentCatalog.scan(workspace).get("summarizer")
    run_ids: list[str] = []

    async def consume() -> None:
        async for event in runtime.run(definition, "x"):
            if isinstance(event, RunStarted):
                run_ids.append(event.run_id)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runtime.store.run(run_ids[0]).status == "cancelled"  # type: ignore[union-attr]


async def test_memory_is_retrieved_persisted_and_reloaded(workspace: Workspace, engine: Any) -> None:
    runtime = _runtime(workspace)
    agent = AgentCatalog.scan(workspace).get("fact-finder")
    await runtime.memory_for(agent).remember(["Paris is the capital of France.", "Bananas are yellow."])
    events = await _collect(runtime, "fact-finder", "What is the capital of France?")
    hits = next(e for e in events if isinstance(e, MemoriesRetrieved)).hits
    assert hits[0].text == "Paris is the capital of France."
    assert "Paris is the capital" in engine[0].requests[0]["messages"][0]["content"]
    fresh = _runtime(workspace)  # a new process: the index comes back from disk
    again = await fresh.memory_for(agent).recall("capital of France", 1)
    assert again[0].text == "Paris is the capital of France."
    kinds = [s.kind for s in runtime.store.steps(events[-1].run_id)]
    assert kinds == ["memory", "llm"]


async def test_secrets_are_redacted_before_storage(workspace: Workspace, engine: Any) -> None:
    secret = "hunter2-very-secret-value"
    redactor = Redactor(["MY_DB_PASS"], environ={"MY_DB_PASS": secret})
    engine[0].replies = [Reply(f"the key is sk-abcdefghijklmnopqrstuvwx and {secret}")]
    runtime = _runtime(workspace, redactor)
    events = await _collect(runtime, "summarizer", f"use {secret}")
    raw = workspace.runs_db.read_bytes() + workspace.runs_db.with_name("runs.db-wal").read_bytes()
    assert secret.encode() not in raw and b"sk-abcdefghijklmnop" not in raw
    assert "[REDACTED]" in runtime.store.run(events[-1].run_id).output  # type: ignore[union-attr]


async def test_gateway_down_is_a_distinct_status(demo_root: Any) -> None:
    ws = Workspace(demo_root, flags={"gateway": {"url": "http://127.0.0.1:9"}})
    events = await _collect(_runtime(ws), "summarizer", "x")
    assert events[-1].status == "unavailable" and "stack up" in events[-1].error


async def test_qdrant_local_mode_memory(workspace: Workspace, engine: Any, tmp_path: Any) -> None:
    pytest.importorskip("qdrant_client")
    from sutazai.agents.memory import Memory, open_store
    from tests.scripted_engine import embed

    async def embedder(texts: list[str]) -> list[list[float]]:
        return [embed(t) for t in texts]

    store = open_store("qdrant", "fact-finder", "knowledge", tmp_path)
    memory = Memory(store, embedder)
    await memory.remember(["Paris is the capital of France.", "Bananas are yellow."])
    other = Memory(open_store("qdrant", "someone-else", "knowledge", tmp_path / "x"), embedder)
    assert (await memory.recall("capital of France", 1))[0].text == "Paris is the capital of France."
    assert await other.recall("capital of France", 1) == []


async def test_a_busy_gateway_slows_a_run_down_instead_of_failing_it(
    workspace: Workspace, engine: Any
) -> None:
    engine[0].replies = [
        Reply("queue full", status=429, retry_after="0"),
        Reply("engine busy", status=503, retry_after="0"),
        Reply("Done at last."),
    ]
    runtime = _runtime(workspace)
    events = await _collect(runtime, "summarizer", "x")
    assert events[-1].status == "ok" and events[-1].output == "Done at last."
    steps = runtime.store.steps(events[-1].run_id)
    assert [s.kind for s in steps] == ["backoff", "backoff", "llm"]  # the trace says why it was slow
    assert [s.data["status"] for s in steps[:2]] == [429, 503] and "queue full" in steps[0].data["message"]


async def test_a_busy_gateway_past_the_run_deadline_ends_the_run(workspace: Workspace, engine: Any) -> None:
    spec_file = workspace.agent_dir("summarizer") / "agent.yaml"
    spec_file.write_text(spec_file.read_text().replace("timeout_s: 120", "timeout_s: 1"))
    engine[0].replies = [Reply("queue full", status=429, retry_after="5")] * 3
    runtime = _runtime(workspace)
    started = asyncio.get_running_loop().time()
    events = await _collect(runtime, "summarizer", "x")
    assert events[-1].status == "error" and "429" in (events[-1].error or "")
    # It did not wait the 5 s asked (at least 3.75 s with jitter): that wait could not finish in time.
    assert asyncio.get_running_loop().time() - started < 3.0
