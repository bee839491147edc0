"""YAML with positions: every problem in a spec file points at the line and columns that caused it.

The loader and the language server both go through here, so a file reads the same in
the CLI (loader errors) and in the editor: same rule codes, same ranges, same suggested fixes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sutazai.errors import Problem, SpecError
from sutazai.schema_keys import closest, keys_of, model_under
from sutazai.yamlsafe import check_yaml

Location = tuple[int | str, ...]
_TOKEN = re.compile(r"[^\s:,\]\}#]+")


def parse_yaml(text: str, path: Path | None) -> Any:
    """Parse with ruamel's round-trip loader, which records ``.lc`` positions on every node.
    Oversized files and aliases are refused first, with their location (:mod:`sutazai.yamlsafe`)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    check_yaml(text, path)
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"YAML syntax: {exc.problem or exc.context}"
    except Exception as exc:  # ruamel raises a few unmarked errors on odd input
        line, column, message = 1, 1, f"YAML: {exc}"
    lines = text.split("\n")
    raise SpecError(located(message, path, lines, (line, column), code="syntax", hint="fix the YAML syntax"))


def load_plain(text: str, path: Path | None) -> Any:
    """Plain dicts and lists, through libyaml's C loader with YAML 1.2 rules (:mod:`sutazai.yaml12`):
    several times faster than the round-trip loader, which a 150-agent catalog feels. Anything it
    refuses goes through :func:`parse_yaml` to be reported with its position."""
    import yaml

    from sutazai import yaml12

    check_yaml(text, path)
    try:
        return yaml12.load(text)
    except (yaml.YAMLError, ValueError):
        return parse_yaml(text, path)


def position_of(node: Any, loc: Sequence[int | str], at_value: bool = False) -> tuple[int, int] | None:
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


def located(
    message: str,
    path: Path | None,
    lines: list[str],
    pos: tuple[int, int] | None,
    **kw: Any,
) -> Problem:
    """A problem at ``pos`` whose range covers the token there (a key, a value, a list item)."""
    line, column = pos or (1, 1)
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    match = _TOKEN.match(text[column - 1 :])
    width = len(match.group(0)) if match else max(1, len(text) - column + 1)
    return Problem(message, path, line, column, end_column=column + width, **kw)


def at_key(tree: Any, loc: Location, message: str, path: Path | None, lines: list[str], **kw: Any) -> Problem:
    """A problem located at the value under ``loc`` (or the deepest key of it that exists)."""
    return located(message, path, lines, position_of(tree, loc, at_value=True), **kw)


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


def _suggestion(model: type[BaseModel], loc: Location, err: Any) -> str | None:
    """The key or value a typo most likely meant, from the model itself."""
    if err["type"] == "extra_forbidden" and loc:
        parent = model_under(model, loc[:-1])
        return closest(str(loc[-1]), list(keys_of(parent)) if parent else [])
    if err["type"] == "literal_error":
        options = re.findall(r"'([^']+)'", str(err.get("ctx", {}).get("expected", "")))
        return closest(str(err.get("input", "")), options)
    return None


def _hint(err: Any) -> str | None:
    if err["type"] == "extra_forbidden":
        return "remove it, or check its spelling against `sutazai schema`"
    if err["type"] == "missing":
        return "add it; `sutazai schema` lists every key"
    return None


def schema_problems(model: type[BaseModel], tree: Any, path: Path | None, lines: list[str]) -> list[Problem]:
    """Every schema violation of ``tree``, located, coded ``schema``, with a ``replace`` fix when
    a known key or value is one typo away."""
    try:
        model.model_validate(to_plain(tree))
        return []
    except ValidationError as exc:
        errors = exc.errors()
    problems: list[Problem] = []
    for err in errors:
        loc: Location = tuple(p for p in err["loc"] if not (isinstance(p, str) and "function" in p))
        pos = position_of(tree, loc, at_value=err["type"] != "extra_forbidden")
        suggestion = _suggestion(model, loc, err)
        message = describe(err) + (f" (did you mean {suggestion!r}?)" if suggestion else "")
        data = {"replace": suggestion} if suggestion else {}
        problems.append(located(message, path, lines, pos, code="schema", hint=_hint(err), data=data))
    return problems


def parse_mapping(text: str, path: Path | None, positions: bool = True) -> Any:
    """Parse a spec file whose top level must be a mapping; ``positions=False`` returns plain
    data, fast, for callers that locate problems only when there are some."""
    tree = parse_yaml(text, path) if positions else load_plain(text, path)
    if not isinstance(tree, dict):
        first = text.split("\n", 1)[0]
        raise SpecError(
            Problem(
                "expected a mapping of keys at the top level",
                path,
                1,
                1,
                code="schema",
                end_column=max(2, len(first) + 1),
            )
        )
    return tree
