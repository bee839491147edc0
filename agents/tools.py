"""Tools an agent may call: built-ins, and plain functions from the agent's own ``tools.py``.

A tool is a Python callable with type-hinted parameters and a docstring. Its JSON schema (for
native tool calling) and its one-line description (for the text protocol) come from those.

Tools never run on the event loop: a plain function runs in the tools' thread pool, so a slow one
cannot freeze other runs or the TUI, and every call has a deadline (``limits.tool_timeout_s``).
A thread cannot be killed: a tool that overruns is reported as a failed step and the run goes on,
while its thread finishes in the background (one of :data:`TOOL_THREADS`).
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import datetime as dt
import functools
import importlib.util
import inspect
import operator
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from sutazai.errors import Problem, SpecError

ToolFunction = Callable[..., Any]
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


@dataclass(frozen=True)
class Tool:
    name: str
    function: ToolFunction
    description: str
    parameters: dict[str, Any]
    delegate: bool = False  # another agent's run: bounded by the run's deadline, replayed by its own calls
    remote: str | None = None  # an A2A agent's URL: bounded by the run's deadline, replayed as a tool

    @classmethod
    def from_function(cls, name: str, function: ToolFunction) -> Tool:
        signature = inspect.signature(function)
        try:
            hints = get_type_hints(function)
        except Exception:
            hints = {}
        properties: dict[str, Any] = {}
        required: list[str] = []
        for param in signature.parameters.values():
            if param.name.startswith("_"):
                continue
            properties[param.name] = {"type": _JSON_TYPES.get(hints.get(param.name, str), "string")}
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
        doc = inspect.getdoc(function) or name
        schema = {"type": "object", "properties": properties, "required": required}
        return cls(name, function, doc.splitlines()[0], schema)

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def argument_problems(self, arguments: dict[str, Any]) -> list[str]:
        """Where ``arguments`` break this tool's JSON Schema (empty: they fit); recorded in the
        trace, and a call that does not fit never reaches the function."""
        from jsonschema import Draft202012Validator

        validator = Draft202012Validator(self.parameters)
        return [
            f"{'.'.join(map(str, error.absolute_path)) or 'arguments'}: {error.message}"
            for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
        ]

    def signature_line(self) -> str:
        args = ", ".join(f"{k}: {v['type']}" for k, v in self.parameters["properties"].items())
        return f"- {self.name}({args}): {self.description}"

    async def call(self, arguments: dict[str, Any], timeout_s: float = 30.0) -> str:
        try:
            async with asyncio.timeout(timeout_s):
                if inspect.iscoroutinefunction(self.function):
                    result = await self.function(**arguments)
                else:
                    loop = asyncio.get_running_loop()
                    result = await loop.run_in_executor(
                        _pool(), functools.partial(self.function, **arguments)
                    )
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError:
            raise ToolTimeout(f"tool {self.name!r} did not finish within {timeout_s:g} s") from None
        return str(result)


class ToolTimeout(Exception):
    """A tool overran ``limits.tool_timeout_s``."""


TOOL_THREADS = 32
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """The tools' own threads, so overrunning tools never starve asyncio's default executor."""
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(TOOL_THREADS, thread_name_prefix="sutazai-tool")
    return _executor


# --- built-ins -------------------------------------------------------------------------------

_BIN_OPS: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}


MAX_EXPRESSION = 200  # characters
MAX_DIGITS = 1000  # of any intermediate whole number: 30 characters of ** once took 24 s of CPU


MAX_BITS = int(MAX_DIGITS * 3.33)


def _too_big(value: float) -> bool:
    return isinstance(value, int) and value.bit_length() > MAX_BITS


def _check_size(op: ast.operator, left: float, right: float) -> None:
    """Refuse before computing what would be too large to compute quickly."""
    if isinstance(op, ast.Pow) and abs(right) > 100:
        raise ValueError("exponent too large")
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    bits = left.bit_length() * abs(right) if isinstance(op, ast.Pow) else 0
    if isinstance(op, ast.Mult):
        bits = left.bit_length() + right.bit_length()
    if bits > MAX_BITS:
        raise ValueError(f"result would have more than {MAX_DIGITS} digits")


def _eval_arithmetic(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval_arithmetic(node.body)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval_arithmetic(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        left, right = _eval_arithmetic(node.left), _eval_arithmetic(node.right)
        _check_size(node.op, left, right)
        result: float = _BIN_OPS[type(node.op)](left, right)
        if _too_big(result):
            raise ValueError(f"result has more than {MAX_DIGITS} digits")
        return result
    raise ValueError("only numbers and + - * / // % ** are allowed")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as 2 * (3 + 4)."""
    if len(expression) > MAX_EXPRESSION:
        return f"error: expression longer than {MAX_EXPRESSION} characters"
    try:
        value = _eval_arithmetic(ast.parse(expression, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError) as exc:
        return f"error: {exc}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def clock() -> str:
    """The current date and time in UTC, ISO 8601."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def word_count(text: str) -> str:
    """Count the words in a text."""
    return str(len(text.split()))


BUILTINS: dict[str, ToolFunction] = {"calculator": calculator, "clock": clock, "word_count": word_count}
# Tools that need the running agent (memory) are bound by the runtime, not defined here.
RUNTIME_TOOLS = frozenset({"remember", "recall"})


def tool_functions_in(tools_file: Path) -> dict[str, int]:
    """Public top-level function names in ``tools.py`` with their line, read without importing it."""
    try:
        tree = ast.parse(tools_file.read_text(encoding="utf-8"), filename=str(tools_file))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return {}
    return {
        node.name: node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_")
    }


def import_tools_module(agent_name: str, tools_file: Path) -> Any:
    """Import ``tools.py`` under a private name so agents' modules never clash with each other."""
    module_name = f"sutazai_agent_tools.{agent_name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, tools_file)
    if spec is None or spec.loader is None:
        raise SpecError(Problem("cannot import tools.py", tools_file))
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        line = getattr(exc, "lineno", None)
        raise SpecError(
            Problem(f"tools.py failed to import: {type(exc).__name__}: {exc}", tools_file, line)
        ) from None
    sys.modules[module_name] = module
    return module


class ArgumentProblems(ValueError):
    """A call whose arguments do not match the tool's schema: reported to the model, with each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("arguments do not match the tool's schema: " + "; ".join(problems))
        self.problems = problems
