"""Tools an agent may call: built-ins, and plain functions from the agent's own ``tools.py``.

A tool is a Python callable with type-hinted parameters and a docstring. Its JSON schema (for
native tool calling) and its one-line description (for the text protocol) come from those.
"""

from __future__ import annotations

import ast
import datetime as dt
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

    def signature_line(self) -> str:
        args = ", ".join(f"{k}: {v['type']}" for k, v in self.parameters["properties"].items())
        return f"- {self.name}({args}): {self.description}"

    async def call(self, arguments: dict[str, Any]) -> str:
        result = self.function(**arguments)
        if inspect.isawaitable(result):
            result = await result
        return str(result)


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


def _eval_arithmetic(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval_arithmetic(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _eval_arithmetic(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN_OPS:
        left, right = _eval_arithmetic(node.left), _eval_arithmetic(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        result: float = _BIN_OPS[type(node.op)](left, right)
        return result
    raise ValueError("only numbers and + - * / // % ** are allowed")


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as 2 * (3 + 4)."""
    try:
        value = _eval_arithmetic(ast.parse(expression, mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError) as exc:
        return f"error: {exc}"
    return str(int(value) if float(value).is_integer() else value)


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
