"""Breakpoints on the lines of agent files that mean something, with conditions, hit counts and
log points, as an editor sets them (DAP ``setBreakpoints``).

- A line of ``agent.yaml``'s ``tools:`` list stops before that tool is called; a line of its
  ``delegates:`` list before that agent is asked.
- Any line of the agent's prompt file stops before each of its model calls.
- Anything else is *unverified*, with the reason (the editor shows it on the grey dot).

Conditions are small expressions over what is about to happen: ``tool``, ``args`` (the arguments,
``args.expression`` or ``args["expression"]``), ``agent``, ``delegate``, ``point``, ``iteration``
and ``content`` (an answer's text). They are evaluated by walking their syntax tree, never by
``eval``: comparisons, ``in``, ``and``/``or``/``not``, literals, attribute and index access only.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sutazai.agents.run_record import DELEGATION_PREFIX
from sutazai.agents.spec import delegate_name
from sutazai.errors import SpecError

COMPARISONS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
HIT_CONDITION = re.compile(r"^\s*(>=|>|==|%)?\s*(\d+)\s*$")
LOG_FIELD = re.compile(r"\{([^{}]+)\}")
NAMES = ("tool", "args", "agent", "delegate", "point", "iteration", "content")


class ConditionError(ValueError):
    """A condition that does not parse or uses what conditions may not."""


class Attrs(dict[str, Any]):
    """A dict whose keys read as attributes too (``args.expression``); a missing one is None."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return Attrs(value) if isinstance(value, dict) else value


def compile_condition(source: str) -> ast.Expression:
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"condition does not parse: {exc.msg} at column {exc.offset}") from None
    for node in ast.walk(tree):
        allowed = (
            ast.Expression,
            ast.BoolOp,
            ast.And,
            ast.Or,
            ast.UnaryOp,
            ast.Not,
            ast.Compare,
            ast.Name,
            ast.Load,
            ast.Attribute,
            ast.Subscript,
            ast.Constant,
            ast.List,
            ast.Tuple,
            *COMPARISONS,
        )
        if not isinstance(node, allowed):
            raise ConditionError(f"conditions may compare values only; {type(node).__name__} is not allowed")
        if isinstance(node, ast.Name) and node.id not in NAMES:
            raise ConditionError(f"unknown name {node.id!r} in the condition; use {', '.join(NAMES)}")
    return tree


def evaluate(tree: ast.AST, names: dict[str, Any]) -> Any:
    """The value of a compiled condition (or one field of a log message)."""
    if isinstance(tree, ast.Expression):
        return evaluate(tree.body, names)
    if isinstance(tree, ast.Constant):
        return tree.value
    if isinstance(tree, ast.Name):
        return names.get(tree.id)
    if isinstance(tree, ast.Attribute):
        base = evaluate(tree.value, names)
        return Attrs(base).__getattr__(tree.attr) if isinstance(base, dict) else None
    if isinstance(tree, ast.Subscript):
        base, key = evaluate(tree.value, names), evaluate(tree.slice, names)
        try:
            return base[key]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(tree, ast.List | ast.Tuple):
        return [evaluate(e, names) for e in tree.elts]
    if isinstance(tree, ast.UnaryOp):
        return not evaluate(tree.operand, names)
    if isinstance(tree, ast.BoolOp):
        values = (evaluate(v, names) for v in tree.values)
        return all(values) if isinstance(tree.op, ast.And) else any(values)
    if isinstance(tree, ast.Compare):
        left = evaluate(tree.left, names)
        for op, right_node in zip(tree.ops, tree.comparators, strict=True):
            right = evaluate(right_node, names)
            try:
                if not COMPARISONS[type(op)](left, right):
                    return False
            except TypeError:
                return False  # "2" < 3, or `in` on None: the condition does not hold
            left = right
        return True
    raise ConditionError(f"{type(tree).__name__} is not allowed in a condition")


@dataclass(frozen=True)
class HitContext:
    agent: str
    point: str
    data: dict[str, Any]
    iteration: int

    def names(self) -> dict[str, Any]:
        tool = self.data.get("tool")
        delegate = (
            tool[len(DELEGATION_PREFIX) :] if isinstance(tool, str) and self.point == "delegation" else None
        )
        return {
            "tool": tool,
            "args": Attrs(self.data.get("arguments") or {}),
            "agent": self.agent,
            "delegate": delegate,
            "point": self.point,
            "iteration": self.iteration,
            "content": self.data.get("content"),
        }


@dataclass
class Breakpoint:
    id: int
    path: Path
    line: int
    verified: bool
    message: str | None = None  # why it is unverified, or what it stops before
    agent: str = ""
    point: str = ""
    names: tuple[str, ...] = ()  # the tools or delegates on its line; () for a prompt line
    condition: ast.Expression | None = None
    hit_condition: tuple[str, int] | None = None
    log_message: str | None = None
    hits: int = 0

    def matches(self, context: HitContext) -> bool:
        if not self.verified or self.agent != context.agent or self.point != context.point:
            return False
        if not self.names:
            return True
        names = context.names()
        return (names["delegate"] if self.point == "delegation" else names["tool"]) in self.names

    def counts(self) -> bool:
        """This hit counts toward stopping (the hit condition holds)."""
        self.hits += 1
        if self.hit_condition is None:
            return True
        op, n = self.hit_condition
        return {"==": self.hits == n, ">": self.hits > n, ">=": self.hits >= n, "%": self.hits % n == 0}[op]

    def message_for(self, names: dict[str, Any]) -> str:
        assert self.log_message is not None

        def field_value(match: re.Match[str]) -> str:
            try:
                return str(evaluate(compile_condition(match.group(1)), names))
            except ConditionError as exc:
                return f"<{exc}>"

        return LOG_FIELD.sub(field_value, self.log_message)


@dataclass(frozen=True)
class SourceBreakpoint:
    """What the editor asks for: a line, optionally a condition, a hit count, a log message."""

    line: int
    condition: str | None = None
    hit_condition: str | None = None
    log_message: str | None = None


@dataclass
class BreakpointTable:
    by_file: dict[Path, list[Breakpoint]] = field(default_factory=dict)
    _next_id: int = 1

    def set_file(
        self, path: Path, wanted: list[SourceBreakpoint], lines: dict[int, LineTarget]
    ) -> list[Breakpoint]:
        """Replace ``path``'s breakpoints; ``lines`` says what each meaningful line of it stops."""
        placed = []
        for spec in wanted:
            target = lines.get(spec.line)
            breakpoint = Breakpoint(self._next_id, path, spec.line, verified=target is not None)
            self._next_id += 1
            if target is None:
                breakpoint.message = _why_not(path, spec.line, lines)
            else:
                breakpoint.agent, breakpoint.point, breakpoint.names = (
                    target.agent,
                    target.point,
                    target.names,
                )
                breakpoint.message = target.describe()
                try:
                    breakpoint.condition = compile_condition(spec.condition) if spec.condition else None
                    breakpoint.hit_condition = _hit_condition(spec.hit_condition)
                except ConditionError as exc:
                    breakpoint.verified, breakpoint.message = False, str(exc)
                breakpoint.log_message = spec.log_message
            placed.append(breakpoint)
        self.by_file[path] = placed
        return placed

    def hit(self, context: HitContext, log: Callable[[str], None]) -> Breakpoint | None:
        """The first breakpoint that stops here; log points on the way log and go on."""
        names = context.names()
        for breakpoints in self.by_file.values():
            for breakpoint in breakpoints:
                if not breakpoint.matches(context):
                    continue
                if breakpoint.condition is not None and not evaluate(breakpoint.condition, names):
                    continue
                if not breakpoint.counts():
                    continue
                if breakpoint.log_message is not None:
                    log(breakpoint.message_for(names))
                    continue
                return breakpoint
        return None


@dataclass(frozen=True)
class LineTarget:
    agent: str
    point: str  # tool | delegation | model
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.point == "model":
            return f"before each model call of {self.agent}"
        what = "tool" if self.point == "tool" else "delegate"
        return f"before {self.agent} calls {what} {', '.join(self.names)}"


def _hit_condition(raw: str | None) -> tuple[str, int] | None:
    if not raw:
        return None
    match = HIT_CONDITION.match(raw)
    if match is None or int(match.group(2)) == 0:
        raise ConditionError(f"hit count {raw!r} must be N, >N, >=N, ==N or %N with N >= 1")
    return match.group(1) or ">=", int(match.group(2))


def _why_not(path: Path, line: int, lines: dict[int, LineTarget]) -> str:
    if path.suffix == ".py":
        return (
            "Python code: a `sutazai` breakpoint stops before the tool is called (set it on the tool's "
            "line under `tools:` in agent.yaml); to step through the function itself, attach debugpy"
        )
    if not lines:
        return f"{path.name} is not an agent's spec or prompt file"
    return (
        f"line {line} is not an entry of `tools:` or `delegates:`; breakpoints go there (before that "
        "call) or on the prompt file (before each model call)"
    )


SPEC_FILE = "agent.yaml"


def meaningful_lines(path: Path) -> dict[int, LineTarget]:
    """What each line of an agent's spec or prompt file stops before; {} for any other file."""
    from sutazai.agents.yamlpos import parse_yaml

    spec_file = path if path.name == SPEC_FILE else path.parent / SPEC_FILE
    try:
        tree = parse_yaml(spec_file.read_text(encoding="utf-8"), spec_file)
    except (OSError, SpecError):
        return {}
    if not isinstance(tree, dict):
        return {}
    agent = str(tree.get("name") or spec_file.parent.name)
    if path.name != SPEC_FILE:
        prompt = tree.get("prompt")
        prompt_file = prompt.get("file") if isinstance(prompt, dict) else None
        if prompt_file is None or (spec_file.parent / str(prompt_file)).resolve() != path.resolve():
            return {}
        count = len(path.read_text(encoding="utf-8", errors="replace").splitlines()) or 1
        return {line: LineTarget(agent, "model") for line in range(1, count + 1)}
    targets: dict[int, LineTarget] = {}
    for key, point in (("tools", "tool"), ("delegates", "delegation")):
        entries = tree.get(key)
        if not isinstance(entries, list):
            continue
        for i, entry in enumerate(entries):
            line = entries.lc.item(i)[0] + 1  # type: ignore[attr-defined]  # ruamel's positions
            earlier = targets.get(line)
            names = (*(earlier.names if earlier else ()), delegate_name(entry))
            targets[line] = LineTarget(agent, point, names)
    return targets
