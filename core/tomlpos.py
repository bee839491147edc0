"""TOML with positions: a bad ``sutazai.toml`` names the line and key, as a bad ``agent.yaml`` does.

``tomllib`` keeps no positions, so keys are found again by scanning table headers and
assignments. That is enough for the files people write by hand (tables, arrays of tables,
dotted keys); a key that cannot be found falls back to its table's header, then to line 1.
The settings loader and the language server both locate problems here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sutazai.errors import Problem
from sutazai.schema_keys import closest, keys_of, model_under

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
_ASSIGN = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\")(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"))*)\s*=")
TomlPath = tuple[str | int, ...]


def _split_key(key: str) -> tuple[str, ...]:
    return tuple(part.strip().strip('"') for part in key.split("."))


def _keys(lines: list[str]) -> Iterator[tuple[TomlPath, int, int]]:
    """Every table header and key assignment as (path, 1-based line, 1-based column)."""
    table: TomlPath = ()
    arrays: dict[tuple[str, ...], int] = {}
    for number, text in enumerate(lines, start=1):
        if header := _HEADER.match(text):
            names = _split_key(header.group(2))
            if header.group(1) == "[[":
                arrays[names] = arrays.get(names, -1) + 1
                table = (*names, arrays[names])
            else:
                table = names
            yield table, number, text.index(header.group(2)) + 1
        elif assign := _ASSIGN.match(text):
            yield (*table, *_split_key(assign.group(1))), number, len(text) - len(text.lstrip()) + 1


def locate(text: str, loc: Sequence[str | int]) -> tuple[int, int, int] | None:
    """(line, column, end column) of the key at ``loc``, or of its nearest enclosing table."""
    lines = text.split("\n")
    wanted = tuple(loc)
    best: tuple[int, tuple[int, int, int]] | None = None
    for path, line, column in _keys(lines):
        depth = len(path)
        if path == wanted[:depth] and (best is None or depth > best[0]):
            key = str(path[-1]) if path and not isinstance(path[-1], int) else ""
            end = lines[line - 1].find(key, column - 1) + len(key) + 1 if key else column + 1
            best = (depth, (line, column, max(end, column + 1)))
            if depth == len(wanted):
                break
    return best[1] if best else None


def syntax_problem(exc: tomllib.TOMLDecodeError, path: Path | None) -> Problem:
    """tomllib says "(at line L, column C)" in its message; keep that as the location."""
    message, _, where = str(exc).partition(" (at line ")
    line = column = None
    if where:
        nums = where.rstrip(")").split(", column ")
        line, column = int(nums[0]), int(nums[1]) if len(nums) > 1 else None
    return Problem(
        f"TOML: {message}",
        path,
        line,
        column,
        hint="fix the TOML syntax",
        code="syntax",
        end_column=column + 1 if column else None,
    )


def validation_problem(model: type[BaseModel], err: Any, path: Path | None, text: str | None) -> Problem:
    """One pydantic error as a problem at its key, with the key it most likely meant."""
    loc: TomlPath = tuple(err["loc"])
    where = locate(text, loc) if text is not None else None
    suggestion = None
    if err["type"] == "extra_forbidden" and loc:
        parent = model_under(model, loc[:-1])
        suggestion = closest(str(loc[-1]), list(keys_of(parent)) if parent else [])
    message = f"{'.'.join(str(p) for p in loc)}: " + (
        "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    )
    if suggestion:
        message += f" (did you mean {suggestion!r}?)"
    line, column, end = where or (None, None, None)
    return Problem(
        message,
        path,
        line,
        column,
        hint="see `sutazai doctor` and README: Configuration",
        code="schema",
        end_column=end,
        data={"replace": suggestion} if suggestion else {},
    )
