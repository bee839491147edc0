"""What a ``launch`` asks for, checked and made ready before the debugger says it launched: the
workspace, the agent, its input, and the client its model calls go to (the live gateway, or a
recorded run's own exchanges for an offline replay)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sutazai.agents.gateway_client import GatewayClient
from sutazai.agents.loader import AgentDefinition
from sutazai.agents.runstore import RunStore
from sutazai.agents.runtime import AgentRuntime
from sutazai.agents.session import RunOutcome, run_to_end
from sutazai.errors import Problem, UserError
from sutazai.workspace import MARKER, Workspace, find_root


class LaunchError(UserError):
    pass


def _problem(message: str, hint: str | None = None) -> LaunchError:
    return LaunchError(Problem(message, hint=hint))


@dataclass
class Prepared:
    workspace: Workspace
    agent: AgentDefinition
    text: str
    runtime: AgentRuntime
    client: GatewayClient
    store: RunStore
    history: list[dict[str, Any]] | None = None

    async def run(self, on_token: Callable[[str], None]) -> RunOutcome:
        from sutazai.agents.events import Token

        def on_event(event: object) -> None:
            if isinstance(event, Token):
                on_token(event.text)

        return await run_to_end(self.runtime, self.agent, self.text, history=self.history, on_event=on_event)

    async def call_tool(self, agent_name: str, name: str, arguments: dict[str, Any]) -> str:
        """A tool run by hand from the debug console: the agent's own, with its timeout."""
        agent = self.runtime.callees.get(agent_name)
        tools = {**self.runtime.memories.tools(agent)}
        tool = tools.get(name)
        if tool is None:
            raise _problem(f"{agent_name} has no tool {name!r}", hint=f"tools: {', '.join(tools) or 'none'}")
        try:
            return await tool.call(arguments, agent.spec.limits.tool_timeout_s)
        except Exception as exc:  # shown in the console like the model would see it
            return f"error: {type(exc).__name__}: {exc}"

    async def close(self) -> None:
        await self.client.aclose()
        self.store.close()


def workspace_for(arguments: dict[str, Any], cwd: Path) -> Workspace:
    named = arguments.get("workspace")
    if named is not None:
        root = (cwd / str(named)).resolve()
        if not (root / MARKER).is_file():
            raise _problem(f"{root} has no {MARKER}", hint='"workspace" must name a SutazAI workspace folder')
        return Workspace(root)
    found = find_root(cwd.resolve())
    if found is None:
        raise _problem(f"no {MARKER} in {cwd} or above", hint='give "workspace" in the launch configuration')
    return Workspace(found)


def _agent(workspace: Workspace, name: Any) -> AgentDefinition:
    from sutazai.agents.loader import load_agent

    names = [p.name for p in workspace.agent_dirs()]
    if not isinstance(name, str) or name not in names:
        raise _problem(
            f"unknown agent {name!r}", hint=f"agents in {workspace.root}: {', '.join(names) or 'none'}"
        )
    return load_agent(workspace.agent_dir(name))


async def prepare(arguments: dict[str, Any], cwd: Path) -> Prepared:
    from sutazai.redact import Redactor

    workspace = workspace_for(arguments, cwd)
    store = RunStore(workspace.runs_db, Redactor(workspace.settings.secrets.env))
    history = None
    if arguments.get("replay"):
        agent, text, client = await _replay(workspace, store, arguments.get("run"))
    else:
        agent = _agent(workspace, arguments.get("agent"))
        client = GatewayClient.for_workspace(workspace)
        if "case" in arguments:
            text, history = _case(agent, arguments["case"])
        elif isinstance(arguments.get("input"), str):
            text = arguments["input"]
        else:
            raise _problem('launch needs "input" (the text to run the agent on) or "case" (a smoke case)')
    runtime = AgentRuntime(workspace, client, store)
    return Prepared(workspace, agent, text, runtime, client, store, history)


def _case(agent: AgentDefinition, name: Any) -> tuple[str, list[dict[str, Any]]]:
    from sutazai.agents.smoke.spec import load_smoke

    smoke_file = agent.folder / (agent.spec.smoke or "smoke.yaml")
    cases = load_smoke(smoke_file).cases if smoke_file.exists() else []
    case = next((c for c in cases if c.name == name), None)
    if case is None:
        known = ", ".join(c.name for c in cases) or "none"
        raise _problem(f"{agent.name} has no smoke case {name!r}", hint=f"cases: {known}")
    prompt, history = case.prompt_and_history()
    return prompt, history


async def _replay(
    workspace: Workspace, store: RunStore, run_id: Any
) -> tuple[AgentDefinition, str, GatewayClient]:
    """A recorded run answered from its own exchanges: offline, the same answers every time."""
    from sutazai.agents.delegation import Callees
    from sutazai.agents.run_record import run_view
    from sutazai.agents.smoke.cassette import ReplayClient
    from sutazai.agents.smoke.from_run import exchanges_of

    run = store.run(str(run_id)) if isinstance(run_id, str) else None
    if run is None:
        raise _problem(f"no recorded run {run_id!r} in {workspace.root}", hint="see `sutazai runs`")
    if run.parent_run:
        raise _problem(
            f"run {run.id} was started by run {run.parent_run}", hint="replay the run a user started"
        )
    agent = _agent(workspace, run.agent)
    callees = Callees(workspace)

    async def no_embedding(texts: list[str]) -> list[list[float]]:
        raise _problem("this run searched its memory; a replay of it needs the live gateway")

    exchanges = await exchanges_of(agent, run_view(store, run), no_embedding, callees.get)
    return agent, run.input, ReplayClient(exchanges)


def attach_problem(arguments: dict[str, Any], cwd: Path) -> str:
    """Why an attach cannot be done (a finished run, or a run in another process)."""
    run_id = arguments.get("run")
    try:
        workspace = workspace_for(arguments, cwd)
    except UserError as exc:
        return str(exc)
    store = RunStore(workspace.runs_db)
    try:
        run = store.run(str(run_id)) if isinstance(run_id, str) else None
    finally:
        store.close()
    if run is None:
        return f'no run {run_id!r} in {workspace.root}; attach takes {{"run": RUN_ID}}'
    if run.status != "running":
        return (
            f"run {run.id} has finished ({run.status}); debug it again offline with "
            f'launch {{"run": "{run.id}", "replay": true}}'
        )
    return (
        f"run {run.id} runs in another process; attaching across processes is not supported yet: "
        "start it under the debugger with launch"
    )
