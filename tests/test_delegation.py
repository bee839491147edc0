"""Agents that call agents: delegation in the spec, one nested run in the run store, inherited
priority, deadline and budget, limits, loops refused, cancellation, replay of the whole tree."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentCatalog
from sutazai.agents.runstore import RunStore
from sutazai.agents.runtime import AgentRuntime
from sutazai.scaffolds.generate import init_workspace
from sutazai.workspace import Workspace
from tests.conftest import eventually, scripted_gateway
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_cli import cli


def _agent(root: Path, name: str, delegates: list[str], limits: str = "") -> None:
    folder = root / "agents" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agent.yaml").write_text(
        f"name: {name}\ndescription: The {name} agent.\nkind: document\ntemperature: 0\n"
        f"prompt: You are {name}.\ndelegates: [{', '.join(delegates)}]\n"
        f"limits:\n  max_iterations: 3\n{limits}smoke: smoke.yaml\n"
    )
    (folder / "smoke.yaml").write_text(
        'cases:\n  - name: tree\n    input: "question"\n    expect:\n      tool_called: ask_'
        + (delegates[0].replace("-", "_") if delegates else "none")
        + "\n"
        if delegates
        else "cases: []\n"
    )


def _three_levels(tmp_path: Path, limits: str = "") -> Path:
    root = init_workspace(tmp_path / "ws")
    _agent(root, "top", ["middle"], limits)
    _agent(root, "middle", ["leaf"])
    _agent(root, "leaf", [])
    return root


def _tree_replies() -> list[Reply]:
    return [
        Reply('TOOL: ask_middle {"input": "what do you know?"}'),  # top asks middle
        Reply('TOOL: ask_leaf {"input": "the fact, please"}'),  # middle asks leaf
        Reply("Paris is the capital of France."),  # leaf answers
        Reply("The leaf says Paris."),  # middle answers
        Reply("Final: Paris."),  # top answers
    ]


def test_a_three_level_composition_is_one_tree_live_and_replayed(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = _three_levels(tmp_path)
    engine[0].replies = _tree_replies()
    run = cli("--gateway", engine[1], "run", "top", "question", "--json", cwd=root)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["output"] == "Final: Paris."
    store = RunStore(Workspace(root).runs_db)
    runs = {r.agent: r for r in store.runs(limit=10)}
    top, middle, leaf = runs["top"], runs["middle"], runs["leaf"]
    assert (middle.parent_run, leaf.parent_run, top.parent_run) == (top.id, middle.id, None)
    assert [s.kind for s in store.steps(top.id)][middle.parent_step - 1] == "tool"  # the step that called it
    assert top.prompt_tokens + top.completion_tokens > middle.prompt_tokens + middle.completion_tokens > 0
    shown = cli("show", top.id, cwd=root, env={**os.environ, "COLUMNS": "200"})
    assert "→ middle run" in shown.stdout and "→ leaf run" in shown.stdout
    tree = json.loads(cli("show", top.id, "--json", cwd=root).stdout)["children"]
    assert tree[0]["agent"] == "middle" and tree[0]["children"][0]["agent"] == "leaf"
    listed = cli("runs", cwd=root, env={**os.environ, "COLUMNS": "200"}).stdout
    assert "↳ middle" in listed and "↳ leaf" in listed

    engine[0].replies = _tree_replies()
    recorded = cli("--gateway", engine[1], "smoke", "top", "--record", "--json", cwd=root)
    assert json.loads(recorded.stdout)["cases"][0]["status"] == "passed", recorded.stdout
    requests = len(engine[0].requests)
    replayed = cli("--gateway", "http://127.0.0.1:9", "smoke", "top", "--replay", "--json", cwd=root)
    assert json.loads(replayed.stdout)["cases"][0]["status"] == "passed", replayed.stdout
    assert len(engine[0].requests) == requests  # the whole tree replayed from the cassette

    # A case made from the live run replays its whole tree too (the children's exchanges included).
    added = cli("smoke", "add", "top", "--from-run", top.id, "--name", "from-run", cwd=root)
    assert added.returncode == 0, added.stdout + added.stderr
    replayed = cli("--gateway", "http://127.0.0.1:9", "smoke", "top", "--replay", "--json", cwd=root)
    cases = {c["case"]: c for c in json.loads(replayed.stdout)["cases"]}
    assert cases["from-run"]["status"] == "passed", cases["from-run"]


@pytest.mark.slow
def test_a_three_level_composition_on_the_embedded_engine_live_and_replayed(
    tmp_path: Path, real_stack: tuple[Workspace, str]
) -> None:
    """SmolLM2 through the real gateway: each level's first call is made a delegation
    (`tool_choice: required`), the leaf answers; then the tree is recorded and replayed with no engine."""
    root = _three_levels(tmp_path)
    for name in ("top", "middle", "leaf"):  # short answers, and two calls a level: at most 2 x 2 leaves
        spec = root / "agents" / name / "agent.yaml"
        required = "tool_choice: required\n" if name != "leaf" else ""
        spec.write_text(
            spec.read_text().replace("max_iterations: 3\n", "max_iterations: 2\n  max_tokens: 64\n")
            + required
        )
    url = real_stack[1]
    question = "What is the capital of France?"
    run = cli("--gateway", url, "run", "top", question, "--json", cwd=root, timeout=300)
    assert run.returncode == 0, run.stderr
    store = RunStore(Workspace(root).runs_db)
    top_id = json.loads(run.stdout)["run_id"]
    middles = store.children(top_id)  # the model may ask again once it has an answer: at least once
    leaves = store.children(middles[0].id) if middles else []
    assert middles and leaves and {r.agent for r in middles} == {"middle"} and leaves[0].agent == "leaf"
    assert all(r.status == "ok" and r.prompt_tokens > 0 for r in (middles[0], leaves[0]))

    recorded = cli("--gateway", url, "smoke", "top", "--record", "--json", cwd=root, timeout=300)
    assert json.loads(recorded.stdout)["cases"][0]["status"] == "passed", recorded.stdout
    replayed = cli("--gateway", "http://127.0.0.1:9", "smoke", "top", "--replay", "--json", cwd=root)
    assert json.loads(replayed.stdout)["cases"][0]["status"] == "passed", replayed.stdout


def test_a_delegation_loop_is_refused_by_the_loader_with_its_place(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws")
    _agent(root, "alpha", ["beta"])
    _agent(root, "beta", ["alpha"])
    _agent(root, "gamma", ["nobody"])
    result = cli("run", "alpha", "x", cwd=root)
    assert result.returncode == 2 and "delegation loops: alpha → beta → alpha" in result.stderr
    assert "agent.yaml:6:" in result.stderr and "Traceback" not in result.stderr
    unknown = cli("run", "gamma", "x", cwd=root)
    assert unknown.returncode == 2 and "no agent named 'nobody' to delegate to" in unknown.stderr


def test_depth_and_fan_out_limits_refuse_at_once(tmp_path: Path, engine: tuple[ScriptedEngine, str]) -> None:
    root = _three_levels(tmp_path, limits="  max_depth: 1\n")
    engine[0].replies = [
        Reply('TOOL: ask_middle {"input": "go"}'),
        Reply('TOOL: ask_leaf {"input": "deeper"}'),  # middle at depth 1 may not nest further
        Reply("middle gave up"),
        Reply("top done"),
    ]
    ws = Workspace(root, flags={"gateway": {"url": engine[1]}})
    runtime = AgentRuntime(ws, GatewayClient(engine[1]), RunStore(ws.runs_db))
    top = AgentCatalog.scan(ws).get("top")
    events = asyncio.run(_collect(runtime, top, "q"))
    assert events[-1].status == "ok"
    store = RunStore(ws.runs_db)
    middle = next(r for r in store.runs(limit=10) if r.agent == "middle")
    refused = next(s for s in store.steps(middle.id) if s.kind == "tool")
    assert "limits.max_depth" in (refused.error or "") and not any(
        r.agent == "leaf" for r in store.runs(limit=10)
    )


async def _collect(runtime: AgentRuntime, agent: Any, text: str, **kw: Any) -> list[Any]:
    return [e async for e in runtime.run(agent, text, **kw)]


def test_a_cancelled_parent_leaves_no_running_child(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = _three_levels(tmp_path)
    engine[0].replies = [
        Reply('TOOL: ask_middle {"input": "go"}'),
        Reply('TOOL: ask_leaf {"input": "slowly"}'),
        Reply("slow leaf", delay_s=5.0),
    ]
    ws = Workspace(root, flags={"gateway": {"url": engine[1]}})
    runtime = AgentRuntime(ws, GatewayClient(engine[1]), RunStore(ws.runs_db))
    top = AgentCatalog.scan(ws).get("top")

    async def cancel_soon() -> None:
        task = asyncio.ensure_future(_collect(runtime, top, "q"))
        await asyncio.sleep(1.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(cancel_soon())
    statuses = {r.agent: r.status for r in RunStore(ws.runs_db).runs(limit=10)}
    assert statuses == {"top": "cancelled", "middle": "cancelled", "leaf": "cancelled"}


def test_a_child_inherits_its_parents_interactive_priority(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = _three_levels(tmp_path)
    engine[0].replies = _tree_replies()
    ws = Workspace(root, flags={"gateway": {"url": engine[1]}})
    runtime = AgentRuntime(ws, GatewayClient(engine[1]), RunStore(ws.runs_db))
    events = asyncio.run(_collect(runtime, AgentCatalog.scan(ws).get("top"), "q", priority="interactive"))
    assert events[-1].status == "ok"
    priorities = [h.get("X-Sutazai-Priority") for h in engine[0].headers]
    agents = [h.get("X-Sutazai-Agent") for h in engine[0].headers]
    assert set(priorities) == {"interactive"} and {"top", "middle", "leaf"} <= set(agents)


def test_a_child_of_an_interactive_run_passes_a_batch_backlog(tmp_path: Path) -> None:
    """Under fleet load through the real gateway: 24 batch requests of 2 s hold the background slots
    for 16 s; the tree's five calls (the child's and grandchild's too) take the reserved slot."""
    root = _three_levels(tmp_path)
    slow = ScriptedEngine(replies=_tree_replies())
    slow.pick = lambda body: Reply("batch", delay_s=2.0) if "backlog" in str(body["messages"]) else None
    with scripted_gateway(root, slow) as url:
        done = threading.Event()

        async def crowd() -> None:
            headers = {"X-Sutazai-Agent": "reporter", "X-Sutazai-Priority": "batch"}
            ask = {"model": "fast", "messages": [{"role": "user", "content": "backlog"}]}
            async with httpx.AsyncClient(timeout=60) as client:
                posts = [
                    asyncio.ensure_future(
                        client.post(f"{url}/v1/chat/completions", json=ask, headers=headers)
                    )
                    for _ in range(24)
                ]
                await asyncio.to_thread(done.wait)
                for post in posts:  # hang up: the gateway drops what is still queued
                    post.cancel()
                await asyncio.gather(*posts, return_exceptions=True)

        load = threading.Thread(target=asyncio.run, args=(crowd(),), daemon=True)
        load.start()
        eventually(lambda: len(slow.requests) >= 3)
        run = cli("run", "top", "question", "--priority", "interactive", "--json", cwd=root)
        served_batch = sum("backlog" in str(r["messages"]) for r in slow.requests)
        done.set()
        load.join(10)
    assert run.returncode == 0 and json.loads(run.stdout)["output"] == "Final: Paris.", run.stderr
    assert served_batch <= 9, f"the tree waited behind {served_batch} batch requests"
    store = RunStore(Workspace(root).runs_db)
    leaf = next(r for r in store.runs(limit=10) if r.agent == "leaf")
    [call] = [s for s in store.steps(leaf.id) if s.kind == "llm"]
    assert call.duration_ms < 1500  # a background slot would have cost a 2 s wave


def test_the_demo_planner_delegates_to_two_demo_agents(tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    planner = AgentCatalog.scan(Workspace(root)).get("planner")
    assert planner.spec.delegates == ["fact-finder", "summarizer"]
    assert planner.spec.tool_choice == "required"
    assert (root / "agents" / "planner" / "smoke.yaml").exists()


@pytest.mark.slow
def test_the_demo_planner_shows_a_tree_on_the_embedded_engine(real_stack: tuple[Workspace, str]) -> None:
    """What a new user sees: SmolLM2 would answer the planner's question itself; `tool_choice:
    required` makes its first call a delegation, so the run has a child."""
    workspace, _ = real_stack
    run = cli("run", "planner", "What is the capital of France?", "--json", cwd=workspace.root)
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    children = RunStore(workspace.runs_db).children(record["run_id"])
    assert children and {c.agent for c in children} <= {"fact-finder", "summarizer"}
    assert all(c.status == "ok" for c in children)
    # The whole demo fleet, not `--agent planner`: with the planner alone, the demo smoke cases later
    # in this session (temperature 0; an answer moves with what the engine's slots hold) failed a
    # case in 2 of 4 suite runs; after the whole fleet they passed in every run on record.
    fleet = cli("fleet", "run", cwd=workspace.root, env={**os.environ, "COLUMNS": "200"})
    assert "↳ fact-finder" in fleet.stdout or "↳ summarizer" in fleet.stdout, fleet.stdout


def test_required_tool_choice_holds_for_the_first_call_only(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = _three_levels(tmp_path)
    spec = root / "agents" / "top" / "agent.yaml"
    spec.write_text(spec.read_text() + "tool_protocol: native\ntool_choice: required\n")
    engine[0].replies = [
        Reply(tool_calls=[{"name": "ask_middle", "arguments": {"input": "facts?"}}]),
        Reply("middle knows"),  # middle, text protocol: no tool_choice of its own
        Reply("Final."),
    ]
    run = cli("--gateway", engine[1], "run", "top", "question", "--json", cwd=root)
    assert run.returncode == 0 and json.loads(run.stdout)["output"] == "Final.", run.stderr
    choices = [r.get("tool_choice") for r in engine[0].requests]
    assert choices == ["required", None, None]
    store = RunStore(Workspace(root).runs_db)
    top = next(r for r in store.runs(limit=10) if r.agent == "top")
    assert next(s for s in store.steps(top.id) if s.kind == "llm").data["tool_choice"] == "required"


def test_required_tool_choice_without_a_way_to_force_it_is_a_located_error(tmp_path: Path) -> None:
    root = _three_levels(tmp_path)
    leaf = root / "agents" / "leaf" / "agent.yaml"
    leaf.write_text(leaf.read_text() + "tool_choice: required\n")
    middle = root / "agents" / "middle" / "agent.yaml"
    middle.write_text(middle.read_text() + "tool_protocol: text\ntool_choice: required\n")
    nothing = cli("run", "leaf", "x", cwd=root)
    assert nothing.returncode == 2 and "no tools or delegates to call" in nothing.stderr
    assert "leaf/agent.yaml:10:14:" in nothing.stderr and "Traceback" not in nothing.stderr
    text = cli("run", "middle", "x", cwd=root)
    assert text.returncode == 2 and "`tool_protocol: text` cannot force one" in text.stderr


def test_a_framework_entrypoint_calls_a_workspace_agent_in_the_same_tree(
    tmp_path: Path, engine: tuple[ScriptedEngine, str]
) -> None:
    root = _three_levels(tmp_path)
    folder = root / "agents" / "framework"
    folder.mkdir()
    (folder / "agent.yaml").write_text(
        "name: framework\ndescription: A framework agent.\nkind: document\nprompt: x\n"
        "delegates: [leaf]\nentrypoint: main:run\nsmoke: null\n"
    )
    (folder / "main.py").write_text(
        "def run(text, ctx):\n    return 'framework heard: ' + ctx.ask('leaf', text)\n"
    )
    engine[0].replies = [Reply("a leaf fact")]
    result = cli("--gateway", engine[1], "run", "framework", "question", "--json", cwd=root)
    assert json.loads(result.stdout)["output"] == "framework heard: a leaf fact", result.stderr
    store = RunStore(Workspace(root).runs_db)
    runs = {r.agent: r for r in store.runs(limit=10)}
    assert runs["leaf"].parent_run == runs["framework"].id
    assert any(
        s.kind == "tool" and s.data.get("tool") == "ask_leaf" for s in store.steps(runs["framework"].id)
    )
