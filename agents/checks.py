"""The rules an agent folder must follow, written once.

``load_agent`` raises the errors these checks find; the language server publishes all of them as
diagnostics on the text being edited; its quick fixes read each problem's ``code`` and ``data``.
Rule codes: ``syntax``, ``schema``, ``name-mismatch``, ``prompt-escape``, ``missing-prompt``,
``unknown-tool``, ``tool-choice``, ``smoke-unknown-tool``. Checks that need the rest of the
workspace or a live gateway (duplicate names, unknown models) stay with the language server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sutazai.agents.spec import AgentSpec
from sutazai.agents.tools import BUILTINS, RUNTIME_TOOLS, tool_functions_in
from sutazai.agents.yamlpos import at_key, parse_mapping, schema_problems, to_plain
from sutazai.errors import Problem, SpecError
from sutazai.schema_keys import closest
from sutazai.workspace import AGENT_FILE


@dataclass(kw_only=True)
class AgentCheck:
    """What checking an agent found: the spec when it validates, the raw tree, every problem."""

    spec: AgentSpec | None
    tree: Any
    problems: list[Problem] = field(default_factory=list)
    defined_tools: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def check_agent(folder: Path, text: str, positions: bool = False) -> AgentCheck:
    """Check ``agent.yaml`` (given as ``text``, so an unsaved buffer works) and what it points at.

    A valid file is read once, fast, without positions; a file with problems is read again with
    positions to locate them. ``positions=True`` (the language server) always keeps them.
    """
    spec_file = folder / AGENT_FILE
    try:
        plain = parse_mapping(text, spec_file, positions=positions)
        if not positions:
            fast = _check_tree(folder, plain, spec_file, [])
            if not fast.problems:
                return fast
            plain = parse_mapping(text, spec_file)
    except SpecError as exc:
        return AgentCheck(spec=None, tree=None, problems=list(exc.problems))
    return _check_tree(folder, plain, spec_file, text.split("\n"))


def _check_tree(folder: Path, tree: Any, spec_file: Path, lines: list[str]) -> AgentCheck:
    """Every rule, on a tree with positions (ruamel's) or without (plain data)."""
    try:
        spec: AgentSpec | None = AgentSpec.model_validate(to_plain(tree))
        problems: list[Problem] = []
    except ValidationError:
        spec, problems = None, schema_problems(AgentSpec, tree, spec_file, lines)
    defined = tool_functions_in(folder / "tools.py")

    def at(loc: tuple[int | str, ...], message: str, **kw: Any) -> None:
        problems.append(at_key(tree, loc, message, spec_file, lines, **kw))

    name = tree.get("name")
    if isinstance(name, str) and name != folder.name:
        at(
            ("name",),
            f"name {name!r} does not match its folder {folder.name!r}",
            code="name-mismatch",
            hint=f"set `name: {folder.name}` or rename the folder",
            data={"replace": folder.name},
        )
    prompt = tree.get("prompt")
    prompt_file = prompt.get("file") if isinstance(prompt, dict) else None
    if isinstance(prompt_file, str):
        target = (folder / prompt_file).resolve()
        if not target.is_relative_to(folder.resolve()):
            at(("prompt", "file"), "prompt file must stay inside the agent folder", code="prompt-escape")
        elif not target.is_file():
            at(
                ("prompt", "file"),
                f"prompt file {prompt_file!r} does not exist",
                code="missing-prompt",
                hint=f"create {folder.name}/{prompt_file}",
                data={"file": prompt_file},
            )
    tools = tree.get("tools")
    known = sorted({*BUILTINS, *RUNTIME_TOOLS, *defined})
    for index, tool in enumerate(tools if isinstance(tools, list) else []):
        if isinstance(tool, str) and tool not in known:
            suggestion = closest(tool, known)
            at(
                ("tools", index),
                f"unknown tool {tool!r}: neither built in nor defined in tools.py"
                + (f" (did you mean {suggestion!r}?)" if suggestion else ""),
                code="unknown-tool",
                hint=f"define `def {tool}(...)` in tools.py, or use one of: {', '.join(known)}",
                data={"tool": tool, **({"replace": suggestion} if suggestion else {})},
            )
    if tree.get("tool_choice") == "required":
        _check_required_choice(tree, at)
    return AgentCheck(spec=spec, tree=tree, problems=problems, defined_tools=defined)


def _check_required_choice(tree: Any, at: Callable[..., None]) -> None:
    """``tool_choice: required`` forces a call through native tool calls: it needs something to
    call and a protocol that can force it (the text protocol only asks politely)."""
    offered = [v for key in ("tools", "delegates") if isinstance(v := tree.get(key), list) and v]
    if not offered:
        at(
            ("tool_choice",),
            "tool_choice is `required` but the agent has no tools or delegates to call",
            code="tool-choice",
            hint="add `tools:` or `delegates:`, or remove `tool_choice`",
        )
    elif tree.get("tool_protocol") == "text":
        at(
            ("tool_choice",),
            "tool_choice `required` needs native tool calls; `tool_protocol: text` cannot force one",
            code="tool-choice",
            hint="set `tool_protocol: auto` (the gateway makes tool calls work on small models)",
        )


def agent_tools_of(folder: Path) -> set[str] | None:
    """The tools ``agent.yaml`` on disk lists; None when it cannot be read or when a framework
    entrypoint brings tools of its own (so any tool name may appear in its smoke cases)."""
    try:
        text = (folder / AGENT_FILE).read_text(encoding="utf-8")
        tree = parse_mapping(text, folder / AGENT_FILE, positions=False)
    except (OSError, UnicodeDecodeError, SpecError):
        return None
    if tree.get("entrypoint"):
        return None
    from sutazai.agents.delegation import tool_name

    tools = tree.get("tools")
    delegates = tree.get("delegates")  # each callee is a tool `ask_<agent>` a case may expect
    listed = {str(t) for t in tools} if isinstance(tools, list) else set()
    return listed | {tool_name(str(d)) for d in (delegates if isinstance(delegates, list) else [])}


def check_smoke(
    path: Path, text: str, agent_tools: set[str] | None, positions: bool = False
) -> tuple[Any, list[Problem]]:
    """Check a smoke file: its schema, and that each expected tool is one the agent has. As for
    agents, a file without problems is read once without positions (replaying 150 agents' cases
    took 5.3 s instead of 1.5 s when every file went through the round-trip loader)."""
    if not positions:
        try:
            fast = _smoke_problems(path, parse_mapping(text, path, positions=False), [], agent_tools)
        except SpecError as exc:
            return None, list(exc.problems)
        if not fast[1]:
            return fast
    try:
        tree = parse_mapping(text, path)
    except SpecError as exc:
        return None, list(exc.problems)
    return _smoke_problems(path, tree, text.split("\n"), agent_tools)


def _smoke_problems(
    path: Path, tree: Any, lines: list[str], agent_tools: set[str] | None
) -> tuple[Any, list[Problem]]:
    from sutazai.agents.smoke.spec import SmokeFile

    problems = schema_problems(SmokeFile, tree, path, lines)
    cases = tree.get("cases")
    for i, case in enumerate(cases if isinstance(cases, list) and agent_tools is not None else []):
        expect = case.get("expect") if isinstance(case, dict) else None
        called = expect.get("tool_called") if isinstance(expect, dict) else None
        name = called.get("name") if isinstance(called, dict) else called
        if isinstance(name, str) and agent_tools is not None and name not in agent_tools:
            loc: tuple[int | str, ...] = ("cases", i, "expect", "tool_called")
            if isinstance(called, dict):
                loc += ("name",)
            listed = ", ".join(sorted(agent_tools)) or "none"
            problems.append(
                at_key(
                    tree,
                    loc,
                    f"tool {name!r} is not among this agent's tools ({listed})",
                    path,
                    lines,
                    code="smoke-unknown-tool",
                    hint="expect a tool listed in agent.yaml `tools`, or add it there",
                )
            )
    return tree, problems
