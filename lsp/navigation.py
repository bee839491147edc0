"""Hover, go to definition and document symbols."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

from sutazai.agents.tools import BUILTINS, tool_functions_in
from sutazai.lsp.analysis import FileKind, model_at
from sutazai.lsp.gateway_models import GatewayModels
from sutazai.lsp.yamlpath import context_at, parents
from sutazai.schema_keys import keys_of

_WORD = re.compile(r"[\w./-]+")


def word_at(line: str, character: int) -> tuple[str, int, int] | None:
    for match in _WORD.finditer(line):
        if match.start() <= character <= match.end():
            return match.group(0), match.start(), match.end()
    return None


def _line(text: str, n: int) -> str:
    lines = text.split("\n")
    return lines[n] if n < len(lines) else ""


def hover(
    kind: FileKind, path: Path, text: str, pos: lsp.Position, models: GatewayModels
) -> lsp.Hover | None:
    line = _line(text, pos.line)
    found = word_at(line, pos.character)
    if found is None:
        return None
    word, start, end = found
    rng = lsp.Range(lsp.Position(pos.line, start), lsp.Position(pos.line, end))
    key_here = re.match(r"^\s*(?:-\s+)?([\w-]+)\s*:", line)
    ctx = context_at(text, pos.line, end)
    value: str | None = None
    if key_here and key_here.group(1) == word and key_here.end() > start:
        model = model_at(kind, parents(text.split("\n"), pos.line, len(line) - len(line.lstrip())))
        doc = keys_of(model).get(word) if model else None
        if doc:
            values = f"\n\nOne of: {', '.join(f'`{v}`' for v in doc.values)}" if doc.values else ""
            value = f"**{word}**: {doc.doc}{values}"
    elif ctx.key in ("model", "tier"):
        value = f"**{word}**\n\n{models.describe(word)}"
    elif ctx.in_list_of == "tools" or ctx.key in ("tool_called", "name"):
        if word in BUILTINS:
            value = f"**{word}** (built-in tool): {(BUILTINS[word].__doc__ or '').strip()}"
        elif word in tool_functions_in(path.parent / "tools.py"):
            value = f"**{word}**: defined in tools.py"
    if value is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=value), range=rng)


def definition(path: Path, text: str, pos: lsp.Position) -> lsp.Location | None:
    line = _line(text, pos.line)
    found = word_at(line, pos.character)
    if found is None:
        return None
    word = found[0]
    ctx = context_at(text, pos.line, found[2])
    zero = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    if ctx.key == "file" or ctx.key == "smoke":
        target = (path.parent / word).resolve()
        if target.is_relative_to(path.parent.resolve()) and target.exists():
            return lsp.Location(uri=target.as_uri(), range=zero)
        return None
    if ctx.in_list_of == "delegates":  # the called agent's own agent.yaml
        target = path.parent.parent / word / "agent.yaml"
        return lsp.Location(uri=target.resolve().as_uri(), range=zero) if target.is_file() else None
    functions = tool_functions_in(path.parent / "tools.py")
    if word in functions:
        n = functions[word] - 1
        return lsp.Location(
            uri=(path.parent / "tools.py").resolve().as_uri(),
            range=lsp.Range(lsp.Position(n, 0), lsp.Position(n, 0)),
        )
    return None


def symbols(kind: FileKind, text: str) -> list[lsp.DocumentSymbol]:
    """Top-level keys with their nested keys; smoke cases by name."""
    out: list[lsp.DocumentSymbol] = []
    lines = text.split("\n")
    key = re.compile(r"^(\s*)(-\s+)?([\w-]+)\s*:\s*(.*)$")
    stack: list[tuple[int, lsp.DocumentSymbol]] = []
    for n, line in enumerate(lines):
        match = key.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match.group(1)) + len(match.group(2) or "")
        name = match.group(3)
        detail = match.group(4).strip()
        if kind == "smoke" and name == "name" and match.group(2):
            name, detail = detail, "case"
        rng = lsp.Range(lsp.Position(n, len(match.group(1))), lsp.Position(n, len(line)))
        symbol = lsp.DocumentSymbol(
            name=name or "?",
            kind=lsp.SymbolKind.Field,
            range=rng,
            selection_range=rng,
            detail=detail[:60],
            children=[],
        )
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent: Any = stack[-1][1] if stack else None
        if parent is not None:
            parent.children.append(symbol)
            _grow(stack, n, len(line))
        else:
            out.append(symbol)
        stack.append((indent, symbol))
    return out


def _grow(stack: list[tuple[int, lsp.DocumentSymbol]], line: int, end: int) -> None:
    for _, symbol in stack:
        symbol.range = lsp.Range(symbol.range.start, lsp.Position(line, end))
