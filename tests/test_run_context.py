"""A run's context (priority, deadline, budget, place in the tree) is decided once and reaches the
gateway unchanged, for plain agents, framework entrypoints and the children they call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from sutazai.agents.runstore import RunStore
from sutazai.agents.spec import AgentSpec
from sutazai.scaffolds.generate import init_workspace
from sutazai.workspace import Workspace
from tests.conftest import scripted_gateway
from tests.scripted_engine import ScriptedEngine
from tests.test_cli import cli


def _spec(**extra: object) -> AgentSpec:
    return AgentSpec.model_validate({"name": "a", "kind": "document", "prompt": {"text": "x"}, **extra})


def test_priority_is_resolved_once_asked_then_inherited_then_the_spec() -> None:
    from sutazai.agents.run_state import RunContext

    async def contexts() -> tuple[RunContext, ...]:
        batch = _spec(priority="batch", limits={"max_total_tokens": 500, "timeout_s": 60})
        top = RunContext.resolve(batch, "interactive")
        child = RunContext.resolve(_spec(limits={"timeout_s": 600}), None, top.inherited("r1", 3, used=200))
        alone = RunContext.resolve(batch)
        return top, child, alone

    top, child, alone = asyncio.run(contexts())
    assert (top.priority, child.priority, alone.priority) == ("interactive", "interactive", "batch")
    assert child.budget == 300 and child.depth == 1 and (child.parent_run, child.parent_step) == ("r1", 3)
    assert child.deadline is not None and top.deadline is not None and child.deadline <= top.deadline


FRAMEWORK = '''
from openai import OpenAI


def run(text, ctx):
    """A framework agent as LangChain or CrewAI would be: its own OpenAI client at the gateway."""
    client = OpenAI(base_url=ctx.base_url, api_key=ctx.api_key, default_headers=ctx.headers)
    answer = client.chat.completions.create(
        model=ctx.model, messages=[{"role": "user", "content": text}], max_tokens=16
    )
    return answer.choices[0].message.content + " / " + ctx.ask("leaf", text)
'''


def _framework_workspace(tmp_path: Path, budget: int | None = None) -> Path:
    root = init_workspace(tmp_path / "ws")
    limits = f"limits: {{max_total_tokens: {budget}}}\n" if budget else ""
    for name, body in (
        ("leaf", "description: Knows facts.\nprompt: {text: Answer.}\n"),
        ("framework", f"prompt: {{text: x}}\ndelegates: [leaf]\nentrypoint: main:run\n{limits}"),
    ):
        folder = root / "agents" / name
        folder.mkdir(parents=True)
        (folder / "agent.yaml").write_text(f"name: {name}\nkind: document\nsmoke: null\n{body}")
    (root / "agents" / "framework" / "main.py").write_text(FRAMEWORK)
    return root


def _by_priority(url: str, token: str) -> dict[str, int]:
    stats = httpx.get(f"{url}/admin/stats", headers={"Authorization": f"Bearer {token}"}).json()
    return dict(stats["requests_by_priority"])


def test_a_framework_agent_and_its_child_reach_the_gateway_at_the_runs_priority(tmp_path: Path) -> None:
    root = _framework_workspace(tmp_path)
    engine = ScriptedEngine(default="Paris")
    with scripted_gateway(root, engine) as url:
        token = Workspace(root).gateway_token() or ""
        result = cli(
            "run", "framework", "capital of France?", "--priority", "interactive", "--json", cwd=root
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["output"] == "Paris / Paris"
        by_priority = _by_priority(url, token)
    # The framework's own call and its child's: both interactive, none at the spec's normal.
    assert by_priority == {"interactive": 2, "normal": 0, "batch": 0}
    store = RunStore(Workspace(root).runs_db)
    runs = {r.agent: r for r in store.runs(limit=10)}
    framework, leaf = runs["framework"], runs["leaf"]
    assert leaf.parent_run == framework.id
    # The framework's own model call counts in its run, with its child's tokens on top.
    assert leaf.prompt_tokens > 0
    assert (
        framework.prompt_tokens > leaf.prompt_tokens and framework.completion_tokens > leaf.completion_tokens
    )


def test_a_framework_agent_past_its_budget_is_stopped_at_the_gateway(tmp_path: Path) -> None:
    root = _framework_workspace(tmp_path, budget=1)
    engine = ScriptedEngine(default="Paris")
    with scripted_gateway(root, engine):
        result = cli("run", "framework", "capital of France?", "--json", cwd=root)
    assert result.returncode != 0
    assert "budget" in (result.stdout + result.stderr)
    assert len(engine.requests) == 1  # the first call spent the budget; the child never ran


def test_a_workspaces_client_always_carries_its_token(tmp_path: Path) -> None:
    """One place builds a workspace's client: the token comes with it (smoke, stack queue, the TUI)."""
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.smoke.cassette import RecordingClient

    workspace = Workspace(init_workspace(tmp_path / "ws"))
    token = workspace.ensure_gateway_token()
    for kind in (GatewayClient, RecordingClient):
        client = kind.for_workspace(workspace, agent="a")
        assert client.token == token and client.base_url == workspace.settings.gateway.url
        assert client._client.headers["Authorization"] == f"Bearer {token}"
        asyncio.run(client.aclose())
