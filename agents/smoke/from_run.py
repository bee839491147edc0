"""A smoke case and its cassette from a recorded run: ``sutazai smoke add AGENT --from-run RUN``.

The run store already holds what a cassette needs, step by step: each model call's messages and
answer (with its tool calls and token counts), each tool's arguments and result. They become the
cassette's exchanges in the order a replay asks for them; the one thing a run does not keep, the
embedding of a memory query, is asked of the gateway again (the embedder is deterministic).
Expectations are proposed from what the run did (the tool it called, words of its answer, a token
ceiling) and written for the user to edit: editing them does not stale the cassette.
"""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sutazai.agents.exchange_keys import chat_key, digest
from sutazai.agents.gateway_client import ChatChunk, ToolCallDelta
from sutazai.agents.loader import AgentDefinition
from sutazai.agents.run_record import DelegationStep, LlmStep, MemoryStep, RunView, Step, ToolStep, run_view
from sutazai.agents.runstore import RunRecord, RunStore
from sutazai.agents.smoke.cassette import Cassette, agent_fingerprint, cassette_path
from sutazai.agents.smoke.spec import SmokeCase
from sutazai.errors import Problem, UserError

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
STOP_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "is",
        "are",
        "was",
        "it",
        "this",
        "that",
        "for",
        "on",
        "with",
        "as",
        "be",
        "by",
        "at",
    ]
)


@dataclass(frozen=True, kw_only=True)
class AddedCase:
    case: SmokeCase
    smoke_file: Path
    cassette: Path
    fresh_cassette: bool  # the old one was for another version of the agent: started anew


def find_run(store: RunStore, agent: AgentDefinition, run_id: str) -> RunRecord:
    matches = [r for r in store.runs(agent.name, 10_000) if r.id.startswith(run_id)]
    if not matches:
        raise UserError(
            Problem(f"no run of {agent.name} starts with {run_id!r}", hint=f"see `sutazai runs {agent.name}`")
        )
    if len(matches) > 1:
        raise UserError(Problem(f"{run_id!r} matches {len(matches)} runs", hint="give more of the run id"))
    run = matches[0]
    if run.status != "ok":
        raise UserError(
            Problem(
                f"run {run.id} ended {run.status!r}: only a finished run makes a case",
                hint="pick an ok run from `sutazai runs`",
            )
        )
    return run


async def exchanges_of(
    agent: AgentDefinition, view: RunView, embed: Embed, agents: Callable[[str], AgentDefinition]
) -> list[dict[str, Any]]:
    """The cassette exchanges a replay of this run will ask for, in order: a delegation's child
    run asks its own (through the same client) where the parent's step called it."""
    out: list[dict[str, Any]] = []
    steps = view.steps
    native = any(s.native_tools for s in steps if isinstance(s, LlmStep)) or any(
        isinstance(s, ToolStep) and s.call == "native" for s in steps
    )
    # The runtime asks the gateway whether the model calls tools natively when the agent has any
    # tool to call: its own tools or the agents it delegates to.
    callable_anything = bool(agent.spec.tools or agent.spec.delegates)
    asked_capabilities = callable_anything and agent.spec.tool_protocol == "auto"
    children = {child.run.parent_step: child for child in view.children}
    for step in steps:
        if isinstance(step, MemoryStep) and step.hits:  # an empty store is never embedded
            out.append({"kind": "embed", "key": digest([step.query]), "vectors": await embed([step.query])})
        elif isinstance(step, LlmStep):
            if asked_capabilities and not any(e["kind"] == "capabilities" for e in out):
                capabilities = ["completion", "tools"] if native else ["completion"]
                out.append(
                    {"kind": "capabilities", "key": agent.spec.model_ref, "capabilities": capabilities}
                )
            out.append(_chat_exchange(agent, step, native))
        elif isinstance(step, DelegationStep):
            child = children.get(step.seq)
            if child is not None:
                out += await exchanges_of(agents(child.run.agent), child, embed, agents)
        elif isinstance(step, ToolStep) and not step.error:
            key = digest([step.tool, step.arguments])
            out.append({"kind": "tool", "key": key, "result": step.result})
    return out


def _no_delegates(name: str) -> AgentDefinition:
    raise UserError(Problem(f"the run delegated to {name}, which this workspace cannot load"))


def _chat_exchange(agent: AgentDefinition, step: LlmStep, native: bool) -> dict[str, Any]:
    calls = [
        ToolCallDelta(index=i, id=c.id, name=c.name, arguments=c.arguments)
        for i, c in enumerate(step.tool_calls)
    ]
    chunk = ChatChunk(
        content=step.response,
        tool_calls=calls,
        prompt_tokens=step.prompt_tokens,
        completion_tokens=step.completion_tokens,
        finish_reason="tool_calls" if calls else "stop",
    )
    key = step.exchange_key
    if not key:  # a run recorded before keys were kept: from its (redacted) messages
        tools = [t.openai_schema() for t in agent.tools.values()] if native and agent.tools else None
        key = chat_key([m.to_json() for m in step.messages], step.model or agent.spec.model_ref, tools)
    return {"kind": "chat", "key": key, "chunks": [asdict(chunk)]}


def propose(run: RunRecord, steps: list[Step], name: str) -> SmokeCase:
    """Expectations from what the run did; the user edits them to what must stay true."""
    expect: dict[str, Any] = {}
    tools = [s.tool for s in steps if isinstance(s, ToolStep) and not s.error]
    if tools:
        expect["tool_called"] = tools[0]
    words = [w for w in re.findall(r"[A-Za-z0-9][\w'-]{3,}", run.output or "") if w.lower() not in STOP_WORDS]
    if words:
        expect["contains"] = sorted(set(words), key=words.index)[:2]
    if run.completion_tokens:
        expect["max_tokens"] = max(16, run.completion_tokens * 2)
    return SmokeCase.model_validate({"name": name, "input": run.input, "expect": expect})


def _append_case(path: Path, case: SmokeCase, run: RunRecord) -> None:
    """Add the case to the smoke file (created when missing), keeping its comments."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from sutazai.files import atomic_write

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        data = CommentedMap(cases=CommentedSeq())
    cases = data.setdefault("cases", CommentedSeq())
    if any(c.get("name") == case.name for c in cases):
        raise UserError(Problem(f"a case named {case.name!r} exists already", path, hint="pass --name"))
    entry = CommentedMap(case.model_dump(exclude_defaults=True, exclude_none=True))
    entry.yaml_set_start_comment(f"from run {run.id}: the expectations are proposals, edit them", indent=2)
    cases.append(entry)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    atomic_write(path, buffer.getvalue().encode("utf-8"), mode=0o644)


async def add_from_run(
    agent: AgentDefinition,
    store: RunStore,
    run_id: str,
    name: str | None,
    embed: Embed,
    agents: Callable[[str], AgentDefinition] | None = None,
) -> AddedCase:
    """``agents`` finds the agents the run delegated to (the workspace's catalog)."""
    run = find_run(store, agent, run_id)
    view = run_view(store, run)
    case = propose(run, list(view.steps), name or f"run-{run.id[:8]}")
    exchanges = await exchanges_of(agent, view, embed, agents or _no_delegates)
    smoke_file = agent.folder / (agent.spec.smoke or "smoke.yaml")
    if not agent.spec.smoke:
        raise UserError(
            Problem(
                f"{agent.name} names no smoke file",
                agent.spec_file,
                hint="add `smoke: smoke.yaml` to agent.yaml",
            )
        )
    path = cassette_path(agent)
    fingerprint = agent_fingerprint(agent)
    existing = Cassette.load(path)
    replaced = existing is not None and existing.fingerprint != fingerprint
    cassette = existing if existing is not None and not replaced else Cassette(path, fingerprint)
    _append_case(smoke_file, case, run)
    cassette.cases.pop(case.name, None)
    cassette.put_sample(case.model_dump(exclude={"tags"}), 0, exchanges)
    cassette.save()
    return AddedCase(case=case, smoke_file=smoke_file, cassette=path, fresh_cassette=replaced)
