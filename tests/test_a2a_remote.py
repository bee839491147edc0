"""Remote delegates: an agent of one workspace calls an agent of a second workspace on this machine
over A2A (``sutazai a2a serve`` on the second, the official ``a2a-sdk`` client in the first). Both
sides are real processes; each workspace's engine is scripted, so the test says what each model
answered and can check what crossed the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentCatalog
from sutazai.agents.runstore import RunStore
from sutazai.agents.runtime import AgentRuntime
from sutazai.agents.spec import AgentSpec
from sutazai.scaffolds.generate import init_workspace
from sutazai.workspace import Workspace
from tests.a2a_serving import a2a_serving
from tests.conftest import ServerThread, eventually
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_cli import cli

ASK = 'TOOL: ask_summarizer {"input": "Summarise: cats sit on mats all day."}'


@dataclass
class Remote:
    root: Path  # the second workspace
    url: str  # its A2A server
    engine: ScriptedEngine  # what its agents' model calls reach

    @property
    def summarizer(self) -> str:
        return f"{self.url}/agents/summarizer/"

    def runs(self) -> list[object]:
        store = RunStore(Workspace(self.root).runs_db)
        try:
            return list(store.runs(limit=20))
        finally:
            store.close()


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    """The demo workspace served over A2A; its runtime talks to a scripted engine directly, so the
    headers its agents send (priority) are what the engine records."""
    root = init_workspace(tmp_path / "remote", demo=True)
    Workspace(root).ensure_gateway_token()
    engine = ScriptedEngine(default="Cats rest on mats.")
    with ServerThread(engine.app()) as scripted:
        toml = root / "sutazai.toml"
        toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", scripted.url))
        with a2a_serving(root) as url:
            yield Remote(root, url, engine)


def test_one_trace_crosses_the_a2a_hop(tmp_path: Path, local: tuple[Path, ScriptedEngine, str]) -> None:
    """Caller's run → its tool call → an ``invoke_agent`` CLIENT span → the remote's SERVER span →
    the remote run → its model call: one trace, in the shape viewers expect."""
    from tests.test_tracing import Receiver

    got = Receiver()
    root, engine, gateway = local
    with ServerThread(got.app()) as otlp:
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.url, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        remote_root = init_workspace(tmp_path / "remote", demo=True)
        remote_engine = ScriptedEngine(default="Cats rest on mats.")
        with ServerThread(remote_engine.app()) as scripted:
            toml = remote_root / "sutazai.toml"
            toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", scripted.url))
            with a2a_serving(remote_root, env=env) as url:
                _asker(root, f"{{a2a: {url}/agents/summarizer/}}")
                engine.replies = [Reply(ASK), Reply("Done: mats.")]
                run = cli("--gateway", gateway, "run", "asker", "cats", cwd=root, env=env)
                assert run.returncode == 0, run.stderr
                eventually(lambda: got.named("chat fast") and len(got.named("chat fast")) == 3, timeout=15)
    [caller] = got.named("invoke_agent asker")
    [tool] = got.named("execute_tool ask_summarizer")
    [client, callee] = sorted(got.named("invoke_agent summarizer"), key=lambda s: s["kind"] != 3)
    [server] = got.named("a2a summarizer")
    remote_chat = [c for c in got.named("chat fast") if c["parent"] == callee["id"]]
    assert {s["trace"] for s in got.spans} == {caller["trace"]}  # one trace over both workspaces
    assert (client["kind"], server["kind"]) == (3, 2)  # CLIENT, SERVER
    assert (tool["parent"], client["parent"], server["parent"]) == (caller["id"], tool["id"], client["id"])
    assert callee["parent"] == server["id"] and len(remote_chat) == 1
    assert client["attributes"]["server.port"] == int(url.rsplit(":", 1)[1])


def _asker(root: Path, delegate: str, limits: str = "") -> None:
    folder = root / "agents" / "asker"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.yaml").write_text(
        "name: asker\ndescription: Asks a remote summarizer.\nkind: document\ntemperature: 0\n"
        "prompt: You hand summaries to the remote summarizer.\ntool_protocol: text\n"
        f"delegates:\n  - {delegate}\nmemory:\n  enabled: false\n"
        f"limits:\n  max_iterations: 3\n{limits}smoke: smoke.yaml\n"
    )
    (folder / "smoke.yaml").write_text(
        "cases:\n  - name: remote-summary\n    input: cats sit on mats all day\n    expect:\n"
        "      contains: mats\n      trajectory:\n        calls: [ask_summarizer]\n        mode: exact\n"
    )


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Path, ScriptedEngine, str]]:
    root = init_workspace(tmp_path / "local")
    engine = ScriptedEngine()
    with ServerThread(engine.app()) as scripted:
        yield root, engine, scripted.url


def test_a_remote_delegate_passes_its_smoke_case_live_and_in_replay(
    remote: Remote, local: tuple[Path, ScriptedEngine, str]
) -> None:
    root, engine, gateway = local
    _asker(root, f"{{a2a: {remote.summarizer}}}")
    engine.replies = [Reply(ASK), Reply("The remote says: Cats rest on mats.")]
    recorded = cli("--gateway", gateway, "smoke", "run", "asker", "--record", "--json", cwd=root)
    case = json.loads(recorded.stdout)["cases"][0]
    assert case["status"] == "passed", recorded.stdout + recorded.stderr
    # The card's description is what the model was offered, and the remote run was a run there.
    system = engine.requests[0]["messages"][0]["content"]
    assert "ask_summarizer" in system and "ummar" in system
    [remote_run] = [r for r in remote.runs() if r.agent == "summarizer"]  # type: ignore[attr-defined]
    assert remote_run.output == "Cats rest on mats." and remote_run.status == "ok"  # type: ignore[attr-defined]
    assert remote_run.source == "a2a"  # type: ignore[attr-defined]
    assert remote.engine.requests[-1]["messages"][-1]["content"] == "Summarise: cats sit on mats all day."

    # In replay the remote answer (and its card) come from the cassette: no remote, no engine.
    remote_calls = len(remote.engine.requests)
    requests = len(engine.requests)
    replayed = cli("--gateway", "http://127.0.0.1:9", "smoke", "run", "asker", "--replay", "--json", cwd=root)
    assert json.loads(replayed.stdout)["cases"][0]["status"] == "passed", replayed.stdout
    assert (len(remote.engine.requests), len(engine.requests)) == (remote_calls, requests)


def test_the_call_is_a_delegation_step_with_the_remote_task_and_the_remote_tokens(
    remote: Remote, local: tuple[Path, ScriptedEngine, str]
) -> None:
    root, engine, gateway = local
    _asker(root, f"{{a2a: {remote.summarizer}}}")
    engine.replies = [Reply(ASK), Reply("Done: mats.")]
    run = cli("--gateway", gateway, "run", "asker", "cats", "--json", cwd=root)
    assert run.returncode == 0, run.stderr
    store = RunStore(Workspace(root).runs_db)
    [asker] = store.runs(limit=5)
    [step] = [s for s in store.steps(asker.id) if s.kind == "tool"]
    remote_call = step.data["remote"]
    [remote_run] = [r for r in remote.runs() if r.agent == "summarizer"]  # type: ignore[attr-defined]
    assert remote_call["run_id"] == remote_run.id and remote_call["state"] == "completed"  # type: ignore[attr-defined]
    assert remote_call["task_id"] and remote_call["a2a"] == remote.summarizer
    remote_tokens = remote_run.prompt_tokens + remote_run.completion_tokens  # type: ignore[attr-defined]
    own = sum(s.prompt_tokens + s.completion_tokens for s in store.steps(asker.id))
    assert remote_tokens > 0 and asker.prompt_tokens + asker.completion_tokens == own + remote_tokens
    shown = cli("show", asker.id, cwd=root, env={**os.environ, "COLUMNS": "200"})
    assert "ask_summarizer" in shown.stdout and "Cats rest on mats." in shown.stdout


def test_priority_crosses_only_with_the_remote_token(
    remote: Remote, local: tuple[Path, ScriptedEngine, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, engine, gateway = local
    ws = Workspace(root, flags={"gateway": {"url": gateway}})

    def interactive_run() -> str | None:
        engine.replies = [Reply(ASK), Reply("ok mats")]
        runtime = AgentRuntime(ws, GatewayClient(gateway), RunStore(ws.runs_db))
        agent = AgentCatalog.scan(ws).get("asker")
        events = asyncio.run(_collect(runtime, agent, "q", priority="interactive"))
        assert events[-1].status == "ok", events[-1]
        return remote.engine.headers[-1].get("X-Sutazai-Priority")

    _asker(root, f"{{a2a: {remote.summarizer}}}")
    assert interactive_run() == "normal"  # a stranger's priority is not honoured: the spec's
    _asker(root, f"{{a2a: {remote.summarizer}, token_env: REMOTE_TOKEN}}")
    monkeypatch.setenv("REMOTE_TOKEN", Workspace(remote.root).gateway_token() or "")
    assert interactive_run() == "interactive"


def test_cancelling_the_caller_cancels_the_remote_run(
    remote: Remote, local: tuple[Path, ScriptedEngine, str]
) -> None:
    root, engine, gateway = local
    _asker(root, f"{{a2a: {remote.summarizer}}}")
    engine.replies = [Reply(ASK)]
    remote.engine.replies = [Reply("slow " * 50, delay_s=0.2)]
    ws = Workspace(root, flags={"gateway": {"url": gateway}})
    runtime = AgentRuntime(ws, GatewayClient(gateway), RunStore(ws.runs_db))
    agent = AgentCatalog.scan(ws).get("asker")

    async def cancel_soon() -> None:
        task = asyncio.ensure_future(_collect(runtime, agent, "q"))
        await asyncio.sleep(2.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(cancel_soon())
    statuses = {r.agent: r.status for r in RunStore(ws.runs_db).runs(limit=5)}
    assert statuses == {"asker": "cancelled"}
    # 10 s was once too short beside three other busy workers (the remote is a process of its own)
    eventually(lambda: [r.status for r in remote.runs()] == ["cancelled"], timeout=30)  # type: ignore[attr-defined]


def test_a_remote_that_is_not_there_or_not_a2a_is_the_tools_error_and_the_deadline_holds(
    remote: Remote, local: tuple[Path, ScriptedEngine, str]
) -> None:
    root, engine, gateway = local
    ws = Workspace(root, flags={"gateway": {"url": gateway}})

    def run(delegate: str, limits: str = "") -> list[object]:
        _asker(root, delegate, limits)
        runtime = AgentRuntime(ws, GatewayClient(gateway), RunStore(ws.runs_db))
        return asyncio.run(_collect(runtime, AgentCatalog.scan(ws).get("asker"), "q"))

    engine.replies = [Reply(ASK), Reply("gave up")]
    events = run("{a2a: http://127.0.0.1:9/agents/nobody/, name: summarizer}")
    [returned] = [e for e in events if type(e).__name__ == "ToolReturned"]
    assert returned.error and "no A2A agent reachable at http://127.0.0.1:9" in returned.result  # type: ignore[attr-defined]

    engine.replies = [Reply(ASK), Reply("gave up")]
    events = run(f"{{a2a: {gateway}/v1/, name: summarizer}}")  # an HTTP server, but no agent card
    [returned] = [e for e in events if type(e).__name__ == "ToolReturned"]
    assert returned.error and "not an agent card" in returned.result  # type: ignore[attr-defined]

    # A remote that hangs: the caller's deadline ends the run, and the remote run with it.
    engine.replies = [Reply(ASK)]
    remote.engine.replies = [Reply("slow " * 100, delay_s=0.5)]
    events = run(f"{{a2a: {remote.summarizer}}}", "  timeout_s: 3\n")
    assert events[-1].status == "timeout"  # type: ignore[attr-defined]
    # 10 s was once too short beside three other busy workers (the remote is a process of its own)
    eventually(lambda: [r.status for r in remote.runs()] == ["cancelled"], timeout=30)  # type: ignore[attr-defined]


def test_a_remote_that_answers_garbage_is_the_tools_error(local: tuple[Path, ScriptedEngine, str]) -> None:
    from aiohttp import web
    from google.protobuf.json_format import MessageToDict

    from sutazai.agents.loader import load_agent
    from sutazai.workbench.a2a_server import card_for

    root, engine, gateway = local
    served: dict[str, object] = {}

    async def card_route(_: web.Request) -> web.Response:
        return web.json_response(served["card"])

    async def garbage(_: web.Request) -> web.Response:
        return web.Response(text="<html>surprise</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/agents/x/.well-known/agent-card.json", card_route)
    app.router.add_post("/agents/x/", garbage)
    with ServerThread(app) as liar:
        served["card"] = MessageToDict(card_for(load_agent(_demo_agent(root)), f"{liar.url}/agents/x/"))
        _asker(root, f"{{a2a: {liar.url}/agents/x/, name: summarizer}}")
        engine.replies = [Reply(ASK), Reply("gave up")]
        ws = Workspace(root, flags={"gateway": {"url": gateway}})
        runtime = AgentRuntime(ws, GatewayClient(gateway), RunStore(ws.runs_db))
        events = asyncio.run(_collect(runtime, AgentCatalog.scan(ws).get("asker"), "q"))
    [returned] = [e for e in events if type(e).__name__ == "ToolReturned"]
    assert returned.error and f"remote agent {liar.url}/agents/x/ failed" in returned.result  # type: ignore[attr-defined]
    assert events[-1].status == "ok"  # type: ignore[attr-defined]  # the model heard the error and answered


def _demo_agent(root: Path) -> Path:
    folder = root / "agents" / "helper"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.yaml").write_text("name: helper\ndescription: Helps.\nkind: document\nprompt: Help.\n")
    return folder


def test_malformed_metadata_is_ignored_and_depth_crosses() -> None:
    from sutazai.workbench.a2a_server import caller_context

    spec = AgentSpec.model_validate({"name": "x", "kind": "document", "prompt": "p"})
    assert caller_context(spec, "garbage", trusted=True) is None
    hostile = {
        "deadline_s": -5,
        "budget": "lots",
        "depth": True,
        "max_depth": 10**6,
        "priority": "interactive",
    }
    context = caller_context(spec, hostile, trusted=False)
    assert context is not None
    assert (context.priority, context.deadline, context.budget, context.depth) == ("normal", None, None, 0)
    deep = caller_context(spec, {"depth": 3, "max_depth": 3, "priority": "batch"}, trusted=True)
    assert deep is not None and (deep.depth, deep.max_depth, deep.priority) == (3, 3, "batch")


def test_the_spec_names_a_remote_delegate_and_the_loader_leaves_it_out_of_loop_checks(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    _asker(root, "{a2a: 'http://127.0.0.1:8100/agents/summarizer/'}")
    agent = AgentCatalog.scan(Workspace(root)).get("asker")
    assert agent.spec.delegate_names == ["summarizer"] and agent.spec.local_delegates == []
    _asker(root, "{a2a: 'ftp://example/agent'}")
    broken = cli("run", "asker", "q", cwd=root)
    assert broken.returncode != 0 and "agent.yaml:8" in broken.stderr + broken.stdout


async def _collect(runtime: AgentRuntime, agent: object, text: str, **kw: object) -> list[object]:
    try:
        return [e async for e in runtime.run(agent, text, **kw)]  # type: ignore[arg-type]
    finally:
        await runtime.remotes.aclose()
