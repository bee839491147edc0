"""Agents that call agents: the ``delegates`` of ``agent.yaml``, checked over the whole workspace.

A delegate is offered to the model as a tool ``ask_<agent>`` (dashes become underscores, as tool
names allow), described by the callee's ``description`` and taking one string, ``input``. The
workspace-wide rules live here because no single file can check them: a delegate must be an agent
of the workspace, delegation must not loop (A → B → A would never end), and a callee without a
description gives the model nothing to choose it by (a warning). The loader refuses an agent with
an error here (``AgentCatalog.scan``); the language server publishes the same problems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sutazai.agents.yamlpos import at_key, parse_mapping
from sutazai.errors import Problem

if TYPE_CHECKING:
    from sutazai.agents.loader import AgentDefinition
    from sutazai.agents.run_state import RunContext, RunState
    from sutazai.agents.runtime import AgentRuntime
    from sutazai.agents.tools import Tool
    from sutazai.workspace import Workspace

TOOL_PREFIX = "ask_"


class DelegationRefused(Exception):
    """A delegation past ``limits.max_depth`` or ``limits.max_delegations``: refused at once, reported
    to the calling model as the tool's error (never a hang)."""


class Callees:
    """Delegates' definitions, each loaded again only when its agent.yaml changed."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._loaded: dict[str, tuple[int, AgentDefinition]] = {}

    def get(self, name: str) -> AgentDefinition:
        from sutazai.agents.loader import load_agent

        folder = self.workspace.agent_dir(name)
        spec = folder / "agent.yaml"
        stamp = spec.stat().st_mtime_ns if spec.exists() else 0
        cached = self._loaded.get(name)
        if cached is None or cached[0] != stamp:
            cached = self._loaded[name] = (stamp, load_agent(folder))
        return cached[1]


def delegate_tools(runtime: AgentRuntime, caller: AgentDefinition, state: RunState) -> dict[str, Tool]:
    """The agents ``caller`` may call, as tools; each call is a child run under ``state``'s run,
    refused at once past the depth or fan-out limits."""
    from sutazai.agents.tools import Tool

    tools: dict[str, Tool] = {}
    for name in caller.spec.local_delegates:
        callee = runtime.callees.get(name)

        async def ask(input: str, _callee: AgentDefinition = callee) -> str:
            step = start_delegation(caller, state)
            inherited = state.context.inherited(state.run_id, step, state.used)
            output, prompt_tokens, completion_tokens = await run_child(runtime, _callee, input, inherited)
            state.usage.prompt += prompt_tokens  # a child's tokens count against its parent
            state.usage.completion += completion_tokens
            return output

        description = callee.spec.description or f"Ask the {name} agent."
        tools[tool_name(name)] = Tool(tool_name(name), ask, description, input_schema(name), delegate=True)
    return tools


def start_delegation(caller: AgentDefinition, state: RunState) -> int:
    """Count one more delegation of ``state``'s run, or refuse it at once (budget spent, too deep,
    too many); the step the call will be recorded as."""
    from sutazai.agents.run_state import within_budget

    within_budget(caller, state)  # a run that has spent its budget starts no child
    limits = caller.spec.limits
    context = state.context
    if context.depth + 1 > context.max_depth:
        raise DelegationRefused(
            f"delegation from {caller.name} would reach depth {context.depth + 1}, past the "
            f"limit of {context.max_depth} (limits.max_depth here or in a calling agent)"
        )
    if state.delegations >= limits.max_delegations:
        raise DelegationRefused(
            f"{caller.name} may start {limits.max_delegations} runs (limits.max_delegations)"
        )
    state.delegations += 1
    return state.seq + 1  # the tool step this call is recorded as


async def run_child(
    runtime: AgentRuntime, callee: AgentDefinition, text: str, inherited: RunContext
) -> tuple[str, int, int]:
    """Run ``callee`` under ``lineage``; its answer, prompt and completion tokens. A child that does
    not finish ``ok`` is an error of the calling tool, with the child's reason. Cancelling the parent
    cancels this await, and with it the child run (its status: cancelled)."""
    from sutazai.agents.events import RunFinished

    finished: RunFinished | None = None
    async for event in runtime.run(callee, text, parent=inherited):
        if isinstance(event, RunFinished):
            finished = event
    if finished is None or finished.status != "ok":
        why = finished.error if finished else "no result"
        raise RuntimeError(
            f"{callee.name} ended {finished.status if finished else 'without finishing'}: {why}"
        )
    return finished.output, finished.prompt_tokens, finished.completion_tokens


def tool_name(agent: str) -> str:
    return TOOL_PREFIX + agent.replace("-", "_")


def input_schema(callee: str) -> dict[str, object]:
    return {
        "type": "object",
        "properties": {"input": {"type": "string", "description": f"What to ask {callee}"}},
        "required": ["input"],
    }


REMOTE = ""  # a remote (A2A) delegate in a delegation graph: never a workspace agent, never a loop


def local_graph_entries(delegates: Sequence[object]) -> list[str]:
    """``delegates`` as a graph's edges, by list position: local names, remote entries blanked
    (another workspace's agents are checked by their card, not by the loader)."""
    return [d if isinstance(d, str) else REMOTE for d in delegates]


def cycles(graph: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """For each agent on a delegation loop, the loop through it (``[a, b, a]``)."""
    found: dict[str, list[str]] = {}

    def walk(node: str, path: list[str]) -> None:
        for nxt in graph.get(node, []):
            if nxt in path:
                loop = [*path[path.index(nxt) :], nxt]
                for member in loop[:-1]:
                    found.setdefault(member, loop)
            elif nxt != REMOTE and nxt in graph and nxt not in found:
                walk(nxt, [*path, nxt])

    for start in graph:
        walk(start, [start])
    return found


@dataclass(frozen=True)
class Finding:
    index: int  # in the agent's `delegates` list
    message: str
    code: str  # unknown-agent | delegation-cycle | delegate-description
    severity: str = "error"


def _from(agent: str, loop: list[str]) -> list[str]:
    """The loop told from ``agent``'s side: ``[agent, ..., agent]``."""
    ring = loop[:-1]
    start = ring.index(agent)
    return [*ring[start:], *ring[:start], agent]


def delegation_findings(
    graph: Mapping[str, list[str]], descriptions: Mapping[str, str], known: set[str]
) -> dict[str, list[Finding]]:
    """What is wrong with each agent's ``delegates``, by list position."""
    loops = cycles(graph)
    out: dict[str, list[Finding]] = {}
    for agent, delegates in graph.items():
        found: list[Finding] = []
        for index, callee in enumerate(delegates):
            if callee == REMOTE:
                continue
            if callee == agent:
                found.append(Finding(index, f"{agent} delegates to itself", "delegation-cycle"))
            elif callee not in known:
                found.append(Finding(index, f"no agent named {callee!r} to delegate to", "unknown-agent"))
            elif agent in loops and callee in loops[agent]:
                found.append(
                    Finding(
                        index,
                        f"delegation loops: {' → '.join(_from(agent, loops[agent]))}",
                        "delegation-cycle",
                    )
                )
            elif not descriptions.get(callee, "").strip():
                message = f"{callee} has no description: the model has nothing to choose it by"
                found.append(Finding(index, message, "delegate-description", "warning"))
        if found:
            out[agent] = found
    return out


def locate(tree: object, lines: list[str], spec_file: Path, findings: list[Finding]) -> list[Problem]:
    """Findings as problems at their ``delegates`` entry (``tree`` parsed with positions)."""
    return [
        at_key(tree, ("delegates", f.index), f.message, spec_file, lines, code=f.code, severity=f.severity)
        for f in findings
    ]


def delegation_problems(
    graph: Mapping[str, list[str]],
    descriptions: Mapping[str, str],
    known: set[str],
    spec_files: Mapping[str, Path],
) -> dict[str, list[Problem]]:
    """The loader's check: problems per agent, located in its agent.yaml on disk."""
    out: dict[str, list[Problem]] = {}
    for agent, findings in delegation_findings(graph, descriptions, known).items():
        text = spec_files[agent].read_text(encoding="utf-8")
        out[agent] = locate(
            parse_mapping(text, spec_files[agent]), text.split("\n"), spec_files[agent], findings
        )
    return out
