"""The language server: documents in, diagnostics and editor features out.

Features are registered here and implemented in their own modules (``analysis``, ``completion``,
``navigation``, ``actions``, ``commands``, ``formatting``). Every handler is guarded: bad input
gets an empty answer and a log line, never a dead server.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from sutazai import __version__
from sutazai.errors import Problem
from sutazai.lsp import actions, commands, completion, formatting, navigation
from sutazai.lsp.analysis import analyse, file_kind
from sutazai.lsp.gateway_models import GatewayModels
from sutazai.lsp.workspace_index import WorkspaceIndex
from sutazai.wire import DEFAULT_URL

log = logging.getLogger("sutazai.lsp")
DEBOUNCE_S = 0.02
SEVERITY = {
    "error": lsp.DiagnosticSeverity.Error,
    "warning": lsp.DiagnosticSeverity.Warning,
    "info": lsp.DiagnosticSeverity.Information,
}
F = TypeVar("F", bound=Callable[..., Any])


def diagnostic(problem: Problem) -> lsp.Diagnostic:
    """A located problem (1-based, as the CLI prints it) as an LSP diagnostic (0-based)."""
    line = (problem.line or 1) - 1
    start = (problem.column or 1) - 1
    end = (problem.end_column or problem.column or 1) - 1
    return lsp.Diagnostic(
        range=lsp.Range(lsp.Position(line, start), lsp.Position(line, max(end, start + 1))),
        message=problem.message,
        severity=SEVERITY[problem.severity],
        code=problem.code,
        source="sutazai",
        data=dict(problem.data) or None,
    )


class SutazaiLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "sutazai-lsp", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental
        )
        self.index = WorkspaceIndex()
        self._models: dict[str, GatewayModels] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}

    def path_of(self, uri: str) -> Path:
        return Path(to_fs_path(uri) or uri)

    def text_of(self, uri: str) -> str:
        try:
            return self.workspace.get_text_document(uri).source
        except (OSError, UnicodeDecodeError):
            return ""

    def models_for(self, path: Path) -> GatewayModels:
        root = str(self.index.root or "")
        if root not in self._models:
            url, token = DEFAULT_URL, None
            if self.index.root is not None:
                try:
                    from sutazai.workspace import Workspace

                    workspace = Workspace(self.index.root)
                    url, token = workspace.settings.gateway.url, workspace.gateway_token()
                except Exception:
                    pass
            self._models[root] = GatewayModels(url, token)
        models = self._models[root]
        models.refresh_soon()
        return models

    def validate(self, uri: str) -> None:
        self._pending.pop(uri, None)
        path = self.path_of(uri)
        if file_kind(path) is None:
            return
        text = self.text_of(uri)
        try:
            self.index.ensure(path)
            if path.name == "agent.yaml":
                self.index.update(path, text)
            if path.name == "sutazai.toml":
                self.index.reload_tiers()
            findings = analyse(path, text, self.index, self.models_for(path))
        except Exception as exc:  # a bug in a check must not silence the others, nor kill the server
            log.exception("analysis failed for %s", uri)
            message = f"sutazai-lsp could not analyse this file: {exc}"
            findings = [Problem(message, path, 1, 1, severity="warning", code="internal", end_column=2)]
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(
                uri=uri,
                diagnostics=[diagnostic(f) for f in findings],
            )
        )

    def forget(self, uris: list[str]) -> None:
        """Deleted files and folders leave the index (a deleted agent no longer clashes by name);
        open documents are checked again."""
        for uri in uris:
            gone = self.path_of(uri)
            for spec in [p for p in self.index.names if p == gone or p.is_relative_to(gone)]:
                self.index.forget(spec)
        for open_uri in list(self.workspace.text_documents):
            self.validate_soon(open_uri)

    def validate_soon(self, uri: str) -> None:
        """Debounced: a burst of keystrokes is validated once, ``DEBOUNCE_S`` after the last."""
        pending = self._pending.pop(uri, None)
        if pending:
            pending.cancel()
        self._pending[uri] = asyncio.get_running_loop().call_later(DEBOUNCE_S, self.validate, uri)


server = SutazaiLanguageServer()


def guarded(default: Any = None) -> Callable[[F], F]:
    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except Exception:
                log.exception("%s failed", handler.__name__)
                return default

        return inner  # type: ignore[return-value]

    return wrap


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@guarded()
def did_open(ls: SutazaiLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.validate(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@guarded()
def did_change(ls: SutazaiLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.validate_soon(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
@guarded()
def did_save(ls: SutazaiLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    ls.validate(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@guarded()
def did_close(ls: SutazaiLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.text_document_publish_diagnostics(
        lsp.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
    )


@server.feature(lsp.WORKSPACE_DID_DELETE_FILES)
@guarded()
def did_delete_files(ls: SutazaiLanguageServer, params: lsp.DeleteFilesParams) -> None:
    ls.forget([f.uri for f in params.files])


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
@guarded()
def did_change_watched_files(ls: SutazaiLanguageServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    ls.forget([c.uri for c in params.changes if c.type == lsp.FileChangeType.Deleted])


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[":", " ", "-", "/"]))
@guarded(default=[])
def on_completion(ls: SutazaiLanguageServer, params: lsp.CompletionParams) -> list[lsp.CompletionItem]:
    path = ls.path_of(params.text_document.uri)
    kind = file_kind(path)
    if kind is None:
        return []
    ls.index.ensure(path)
    return completion.complete(
        kind, path, ls.text_of(params.text_document.uri), params.position, ls.index, ls.models_for(path)
    )


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
@guarded()
def on_hover(ls: SutazaiLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    path = ls.path_of(params.text_document.uri)
    kind = file_kind(path)
    if kind is None or kind == "workspace":
        return None
    return navigation.hover(
        kind, path, ls.text_of(params.text_document.uri), params.position, ls.models_for(path)
    )


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
@guarded()
def on_definition(ls: SutazaiLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    path = ls.path_of(params.text_document.uri)
    if file_kind(path) not in ("agent", "smoke"):
        return None
    return navigation.definition(path, ls.text_of(params.text_document.uri), params.position)


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@guarded(default=[])
def on_symbols(ls: SutazaiLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    kind = file_kind(ls.path_of(params.text_document.uri))
    if kind not in ("agent", "smoke"):
        return []
    return navigation.symbols(kind, ls.text_of(params.text_document.uri))


@server.feature(
    lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])
)
@guarded(default=[])
def on_code_action(ls: SutazaiLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    return actions.actions(uri, ls.path_of(uri), list(params.context.diagnostics))


@server.feature(lsp.TEXT_DOCUMENT_CODE_LENS)
@guarded(default=[])
def on_code_lens(ls: SutazaiLanguageServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
    path = ls.path_of(params.text_document.uri)
    kind = file_kind(path)
    if kind == "smoke":
        return commands.smoke_lenses(path, ls.text_of(params.text_document.uri))
    return commands.lenses(params.text_document.uri, path) if kind == "agent" else []


@server.command(commands.RUN)
async def run_agent(ls: SutazaiLanguageServer, *args: Any) -> dict[str, Any]:
    return await commands.execute(ls, commands.RUN, list(args))


@server.command(commands.SMOKE)
async def smoke_agent(ls: SutazaiLanguageServer, *args: Any) -> dict[str, Any]:
    return await commands.execute(ls, commands.SMOKE, list(args))


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
@guarded(default=[])
def on_formatting(ls: SutazaiLanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    if file_kind(ls.path_of(params.text_document.uri)) not in ("agent", "smoke"):
        return []
    return formatting.format_yaml(ls.text_of(params.text_document.uri))


LOG_LEVELS = ("error", "warning", "info", "debug")


def arguments() -> argparse.ArgumentParser:
    """What editors pass: vscode-languageclient adds ``--stdio`` and ``--clientProcessId=N``, Neovim
    and Helix pass nothing; ``--tcp`` is for debugging the server by hand."""
    parser = argparse.ArgumentParser(
        prog="sutazai-lsp", description="Language server for SutazAI agent files"
    )
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    transport.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1", help="TCP address (default: loopback only)")
    parser.add_argument("--port", type=int, default=2087)
    parser.add_argument(
        "--clientProcessId",
        "--client-process-id",
        dest="client_pid",
        type=int,
        default=None,
        help="the editor's process id; the server exits when it is gone",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=os.environ.get("SUTAZAI_LSP_LOG", "warning"),
        help="what reaches the editor's output channel (stderr); default warning",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if args.client_pid is not None:
        watch_parent(args.client_pid)
    if args.tcp:
        server.start_tcp(args.host, args.port)
    else:
        server.start_io()


def watch_parent(pid: int, every_s: float = 3.0) -> None:
    """Exit when the editor is gone (a crashed editor never sends ``exit``)."""

    def alive() -> bool:
        try:
            os.kill(pid, 0)  # a PermissionError also means it exists (someone else's process)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def loop() -> None:
        while alive():
            time.sleep(every_s)
        os._exit(0)

    threading.Thread(target=loop, name="sutazai-lsp-parent-watch", daemon=True).start()


if __name__ == "__main__":
    main()
