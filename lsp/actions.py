"""Code actions: the fixes diagnostics point at."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types as lsp

STUB = '''

def {name}(text: str) -> str:
    """TODO: describe what {name} does; the first line becomes the tool's description."""
    return text
'''
PROMPT = "You are a helpful agent. Describe here what this agent does and how it answers.\n"


def _edit_file(path: Path, new_text: str) -> list[Any]:
    """Append to a file, creating it first when it does not exist."""
    uri = path.resolve().as_uri()
    if path.exists():
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
        end = lsp.Position(len(lines) - 1, len(lines[-1]))
        return [
            lsp.TextDocumentEdit(
                text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
                edits=[lsp.TextEdit(range=lsp.Range(end, end), new_text=new_text)],
            )
        ]
    start = lsp.Position(0, 0)
    return [
        lsp.CreateFile(uri=uri),
        lsp.TextDocumentEdit(
            text_document=lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=None),
            edits=[lsp.TextEdit(range=lsp.Range(start, start), new_text=new_text.lstrip("\n"))],
        ),
    ]


def actions(uri: str, path: Path, diagnostics: list[lsp.Diagnostic]) -> list[lsp.CodeAction]:
    out: list[lsp.CodeAction] = []
    for diag in diagnostics:
        data: dict[str, Any] = diag.data if isinstance(diag.data, dict) else {}
        if diag.code == "unknown-tool" and data.get("tool"):
            name = data["tool"]
            if name.isidentifier():
                edit = lsp.WorkspaceEdit(
                    document_changes=_edit_file(path.parent / "tools.py", STUB.format(name=name))
                )
                out.append(
                    lsp.CodeAction(
                        title=f"Create tool stub `{name}` in tools.py",
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[diag],
                        edit=edit,
                    )
                )
        if diag.code == "missing-prompt" and data.get("file"):
            target = (path.parent / data["file"]).resolve()
            if target.is_relative_to(path.parent.resolve()):
                edit = lsp.WorkspaceEdit(document_changes=_edit_file(target, PROMPT))
                out.append(
                    lsp.CodeAction(
                        title=f"Create prompt file {data['file']}",
                        kind=lsp.CodeActionKind.QuickFix,
                        diagnostics=[diag],
                        edit=edit,
                    )
                )
        if data.get("replace"):
            edit = lsp.WorkspaceEdit(
                changes={uri: [lsp.TextEdit(range=diag.range, new_text=data["replace"])]}
            )
            out.append(
                lsp.CodeAction(
                    title=f"Change to `{data['replace']}`",
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    edit=edit,
                    is_preferred=True,
                )
            )
    return out
