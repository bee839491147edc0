"""Completion: keys with documentation, enum values, tiers and models, tool names, file paths."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from sutazai.agents.tools import BUILTINS, RUNTIME_TOOLS, tool_functions_in
from sutazai.lsp.analysis import FileKind, model_at
from sutazai.lsp.gateway_models import GatewayModels
from sutazai.lsp.workspace_index import WorkspaceIndex
from sutazai.lsp.yamlpath import context_at
from sutazai.schema_keys import keys_of

MODEL_KEYS = {"tier", "model"}
FILE_KEYS = {"file", "smoke"}


def _tool_items(folder: Path) -> list[lsp.CompletionItem]:
    items = [
        lsp.CompletionItem(
            label=name,
            kind=lsp.CompletionItemKind.Function,
            detail="built-in tool",
            documentation=(fn.__doc__ or "").strip(),
        )
        for name, fn in BUILTINS.items()
    ]
    items += [
        lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail="runtime tool (memory)")
        for name in sorted(RUNTIME_TOOLS)
    ]
    items += [
        lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail=f"tools.py:{line}")
        for name, line in tool_functions_in(folder / "tools.py").items()
    ]
    return items


def _files(folder: Path, prefix: str) -> list[lsp.CompletionItem]:
    base = (folder / prefix).parent if "/" in prefix else folder
    if not base.resolve().is_relative_to(folder.resolve()) or not base.is_dir():
        return []
    rel = base.relative_to(folder)
    out = []
    for entry in sorted(base.iterdir())[:200]:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        label = str(rel / entry.name) if str(rel) != "." else entry.name
        kind = lsp.CompletionItemKind.Folder if entry.is_dir() else lsp.CompletionItemKind.File
        out.append(lsp.CompletionItem(label=label + ("/" if entry.is_dir() else ""), kind=kind))
    return out


def complete(
    kind: FileKind,
    path: Path,
    text: str,
    position: lsp.Position,
    index: WorkspaceIndex,
    models: GatewayModels,
) -> list[lsp.CompletionItem]:
    if kind == "workspace":
        return [
            lsp.CompletionItem(label=m, kind=lsp.CompletionItemKind.Value)
            for m in sorted(models.models or ())
        ]
    ctx = context_at(text, position.line, position.character)
    folder = path.parent
    if ctx.in_list_of == "tools" and not ctx.path:
        return _tool_items(folder)
    if ctx.in_list_of == "delegates" and not ctx.path:
        return [
            lsp.CompletionItem(
                label=name,
                kind=lsp.CompletionItemKind.Module,
                detail="agent",
                documentation=index.descriptions.get(name) or None,
            )
            for name in index.agent_names()
            if name != folder.name
        ]
    if ctx.at_key:
        model = model_at(kind, ctx.path)
        if model is None:
            return []
        return [
            lsp.CompletionItem(
                label=key,
                kind=lsp.CompletionItemKind.Property,
                detail=key,
                documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=doc.doc),
                insert_text=f"{key}: ",
            )
            for key, doc in keys_of(model).items()
            if key not in ctx.present
        ]
    key = ctx.key or ""
    if key in MODEL_KEYS and not ctx.path:
        names = sorted(index.tiers) if key == "tier" else sorted({*index.tiers, *(models.models or set())})
        return [
            lsp.CompletionItem(
                label=n,
                kind=lsp.CompletionItemKind.EnumMember,
                detail="tier" if n in index.tiers else "model",
            )
            for n in names
        ]
    if key in FILE_KEYS:
        return _files(folder, ctx.prefix)
    if (key in ("tool_called", "name") and "expect" in ctx.path) or key == "tool_called":
        return _tool_items(folder)
    parent = model_at(kind, ctx.path)
    doc = keys_of(parent).get(key) if parent else None
    if doc and doc.values:
        return [lsp.CompletionItem(label=v, kind=lsp.CompletionItemKind.EnumMember) for v in doc.values]
    return []
