"""YAML with positions: pydantic errors are mapped back to the line and column that caused them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sutazai.errors import Problem, SpecError
from sutazai.yamlsafe import check_yaml

M = TypeVar("M", bound=BaseModel)


def load_yaml_with_positions(text: str, path: Path) -> Any:
    """Parse with ruamel's round-trip loader, which records ``.lc`` positions on every node.
    Oversized files and aliases are refused first, with their location (:mod:`sutazai.yamlsafe`)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    check_yaml(text, path)
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise SpecError(
            Problem(f"YAML syntax: {exc.problem or exc.context}", path, line, column, "fix the YAML syntax")
        ) from None


def position_of(node: Any, loc: tuple[int | str, ...], at_value: bool = False) -> tuple[int, int] | None:
    """The 1-based (line, column) of the deepest key in ``loc`` that exists in ``node``.

    With ``at_value``, a scalar at the end of ``loc`` is located by its value instead of its key.
    """
    best: tuple[int, int] | None = None
    for depth, part in enumerate(loc):
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(part, int):
                line, col = lc.item(part)
                node = node[part]
            else:
                if part not in node:
                    break
                line, col = lc.key(part)
                node = node[part]
                if at_value and depth == len(loc) - 1 and not isinstance(node, dict | list):
                    line, col = lc.value(part)
        except (KeyError, IndexError, TypeError):
            break
        best = (line + 1, col + 1)
    if best is None and getattr(node, "lc", None) is not None:
        best = (node.lc.line + 1, node.lc.col + 1)
    return best


def to_plain(node: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists, for pydantic."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def describe(err: Any) -> str:
    field = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-after"))
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    elif err["type"] == "missing":
        message = "required key is missing"
    elif err["type"] == "literal_error":
        message = f"expected {err['ctx']['expected']}"
    return f"{field}: {message}" if field else message


def validate_model(model: type[M], text: str, path: Path) -> tuple[M, Any]:
    """Parse and validate; every error names file, line and column. Returns (model, raw tree)."""
    tree = load_yaml_with_positions(text, path)
    if not isinstance(tree, dict):
        raise SpecError(Problem("expected a mapping of keys at the top level", path, 1, 1))
    try:
        return model.model_validate(to_plain(tree)), tree
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "function" in p))
            pos = position_of(tree, loc, at_value=err["type"] != "extra_forbidden") or (1, 1)
            problems.append(Problem(describe(err), path, pos[0], pos[1], _hint(err)))
        raise SpecError(problems) from None


def _hint(err: Any) -> str | None:
    if err["type"] == "extra_forbidden":
        return "remove it, or check its spelling against `sutazai schema`"
    if err["type"] == "missing":
        return "add it; `sutazai schema` lists every key"
    return None
