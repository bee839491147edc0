"""Sessions: the one way a front end (CLI, TUI, language server, MCP server, pytest plugin) opens a
workspace's runtime and runs an agent to the end.

:func:`open_runtime` wires the run store (with the workspace's redactor), the gateway client (with
the workspace token) and the runtime, and closes them. :func:`run_to_end` drives one run and
returns its :class:`RunOutcome`; ``on_event`` sees every event on the way, for front ends that
stream tokens.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sutazai.wire import Priority
from sutazai.workspace import Workspace

if TYPE_CHECKING:
    from sutazai.agents.events import RunEvent
    from sutazai.agents.loader import AgentDefinition
    from sutazai.agents.run_state import RunContext
    from sutazai.agents.runtime import AgentRuntime

DEMO_INPUT = "Hello! What can you do?"


@dataclass(kw_only=True, frozen=True)
class RunOutcome:
    run_id: str
    status: str
    output: str
    error: str | None
    prompt_tokens: int
    completion_tokens: int
    tool_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@asynccontextmanager
async def open_runtime(workspace: Workspace) -> AsyncIterator[AgentRuntime]:
    from sutazai.agents.gateway_client import GatewayClient
    from sutazai.agents.runstore import RunStore
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.agents.tracing import flush
    from sutazai.redact import Redactor

    settings = workspace.settings
    store = RunStore(workspace.runs_db, Redactor(settings.secrets.env))
    client = GatewayClient.for_workspace(workspace)
    runtime = AgentRuntime(workspace, client, store)
    try:
        yield runtime
    finally:
        await runtime.remotes.aclose()
        await client.aclose()
        store.close()
        flush()


async def run_to_end(
    runtime: AgentRuntime,
    agent: AgentDefinition,
    text: str,
    *,
    priority: Priority | None = None,
    history: list[dict[str, Any]] | None = None,
    messages: list[dict[str, Any]] | None = None,
    on_event: Callable[[RunEvent], Any] | None = None,
    parent: RunContext | None = None,
    source: str | None = None,
) -> RunOutcome:
    """Drive one run to its end; the runtime records every step whatever happens. ``parent``: what
    a caller elsewhere passed down (an A2A request's deadline, budget and depth); ``source``: which
    protocol asked for the run (``a2a``, ``mcp``), kept with it."""
    from sutazai.agents.events import RunFinished, ToolCalled

    calls: list[dict[str, Any]] = []
    events = runtime.run(
        agent, text, history=history, priority=priority, messages=messages, parent=parent, source=source
    )
    async for event in events:
        if on_event is not None and inspect.isawaitable(handled := on_event(event)):
            await handled  # a front end that sends each event on (an A2A stream) before the next
        if isinstance(event, ToolCalled):
            calls.append({"name": event.name, "arguments": event.arguments})
        elif isinstance(event, RunFinished):
            return RunOutcome(
                run_id=event.run_id,
                status=event.status,
                output=event.output,
                error=event.error,
                prompt_tokens=event.prompt_tokens,
                completion_tokens=event.completion_tokens,
                tool_calls=calls,
            )
    raise RuntimeError("the run ended without a RunFinished event")  # the runtime always sends one


def demo_input(agent: AgentDefinition) -> str:
    """An agent's demo input: its first smoke case, else a greeting."""
    import yaml

    from sutazai.errors import SpecError
    from sutazai.yamlsafe import safe_load_yaml

    smoke = agent.folder / (agent.spec.smoke or "smoke.yaml")
    try:
        cases = (safe_load_yaml(smoke.read_text(encoding="utf-8"), smoke) or {}).get("cases") or []
        return str(cases[0]["input"])
    except (OSError, yaml.YAMLError, SpecError, KeyError, IndexError, TypeError):
        return DEMO_INPUT
