"""The language server over stdio, driven by a real LSP client (pytest-lsp)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from sutazai.scaffolds.generate import init_workspace
from tests.conftest import scripted_gateway
from tests.scripted_engine import Reply, ScriptedEngine

ROOT: Path


@pytest.fixture(scope="module")
def lsp_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A demo workspace whose gateway is the real gateway in front of a scripted engine."""
    global ROOT
    ROOT = init_workspace(tmp_path_factory.mktemp("lsp") / "ws", demo=True)

    def answer(body: dict[str, Any]) -> Reply | None:  # the demo summarizer's cases name what they expect
        return Reply("A cat sat on a mat.") if "cat sat" in str(body["messages"][-1]) else None

    with scripted_gateway(ROOT, ScriptedEngine(default="The capital is Paris.", pick=answer)):
        yield ROOT


# Started exactly as vscode-languageclient starts it (TransportKind.stdio): the console script,
# ``--stdio`` and ``--clientProcessId=<editor pid>``.
VSCODE_COMMAND = [
    str(Path(sys.executable).parent / "sutazai-lsp"),
    "--stdio",
    f"--clientProcessId={os.getpid()}",
]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=VSCODE_COMMAND))
async def client(lsp_client: LanguageClient, lsp_workspace: Path) -> AsyncIterator[None]:
    await lsp_client.initialize_session(
        lsp.InitializeParams(
            capabilities=pytest_lsp.client_capabilities("visual-studio-code"), root_uri=lsp_workspace.as_uri()
        )
    )
    yield
    await lsp_client.shutdown_session()


def uri(path: Path) -> str:
    return path.as_uri()


async def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> list[lsp.Diagnostic]:
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri(path), language_id="yaml", version=1, text=path.read_text() if text is None else text
            )
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri(path)])


async def change(client: LanguageClient, path: Path, text: str, version: int = 2) -> list[lsp.Diagnostic]:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return list(client.diagnostics[uri(path)])


def spec(name: str = "summarizer") -> Path:
    return ROOT / "agents" / name / "agent.yaml"


async def test_diagnostics_with_exact_ranges(client: LanguageClient) -> None:
    assert await open_doc(client, spec()) == []
    text = spec().read_text()
    broken = (
        text.replace("kind: document", "kind: documnt")
        .replace("tools: [", "tools: [frobnicate, ")
        .replace("file: prompt.md", "file: missing.md")
        .replace("limits:", "limitz:")
    )
    found = await change(client, spec(), broken)
    diags = {d.code: d for d in found}
    kind_line = broken.split("\n").index("kind: documnt")
    [kind] = [d for d in found if d.range.start.line == kind_line]
    assert kind.range == lsp.Range(lsp.Position(kind_line, 6), lsp.Position(kind_line, 13))
    assert "did you mean 'document'" in kind.message and kind.severity == lsp.DiagnosticSeverity.Error
    assert "frobnicate" in diags["unknown-tool"].message
    assert "missing.md" in diags["missing-prompt"].message


async def test_unknown_model_and_duplicate_names(client: LanguageClient) -> None:
    await open_doc(client, spec("code-helper"))
    await asyncio.sleep(0.8)  # the gateway's model list arrives in the background
    text = (
        spec("code-helper")
        .read_text()
        .replace("tier: fast", "model: gpt-17")
        .replace("name: code-helper", "name: summarizer")
    )
    diags = await change(client, spec("code-helper"), text)
    codes = {d.code for d in diags}
    assert "unknown-model" in codes and "duplicate-name" in codes


async def test_smoke_cases_that_reference_unknown_tools(client: LanguageClient) -> None:
    smoke = ROOT / "agents" / "summarizer" / "smoke.yaml"
    text = (
        smoke.read_text() + "  - name: uses-clock\n    input: time?\n    expect:\n      tool_called: clock\n"
    )
    diags = await open_doc(client, smoke, text)
    assert [d.code for d in diags] == ["smoke-unknown-tool"]


async def test_smoke_gate_expectations_are_completed_and_checked(client: LanguageClient) -> None:
    """The gate's expectations (trajectory, status, max_total_tokens) are in the smoke schema the
    server checks and completes: a bad trajectory mode is a located error."""
    smoke = ROOT / "agents" / "summarizer" / "smoke.yaml"
    text = "cases:\n  - name: x\n    input: hi\n    expect:\n      trajectory: {calls: [a], mode: sideways}\n"
    diags = await open_doc(client, smoke, text)
    assert len(diags) == 1 and diags[0].range.start.line == 4
    assert "exact" in diags[0].message and "in_order" in diags[0].message
    text = "cases:\n  - name: x\n    input: hi\n    expect:\n      \n"
    await change(client, smoke, text)
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(smoke)), position=lsp.Position(4, 6)
        )
    )
    items = result.items if isinstance(result, lsp.CompletionList) else result or []
    assert {"trajectory", "status", "max_total_tokens", "judge", "json_schema"} <= {i.label for i in items}


async def test_completion_keys_values_tools_models_files(client: LanguageClient) -> None:
    path = ROOT / "agents" / "fact-finder" / "agent.yaml"
    text = "name: fact-finder\nkind: \ntier: \nprompt:\n  file: \ntools:\n  - \nlimits:\n  ma\n"
    await open_doc(client, path, text)

    async def labels(line: int, character: int) -> set[str]:
        result = await client.text_document_completion_async(
            lsp.CompletionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
                position=lsp.Position(line, character),
            )
        )
        items = result.items if isinstance(result, lsp.CompletionList) else result or []
        return {i.label for i in items}

    assert await labels(1, 6) == {"document", "code", "conversation", "knowledge"}
    assert {"fast", "quality", "local"} <= await labels(2, 6)
    assert {"prompt.md", "tools.py"} <= await labels(4, 8)
    assert {"calculator", "clock", "remember", "define"} <= await labels(6, 4)
    assert {
        "max_iterations",
        "max_tokens",
        "timeout_s",
        "tool_timeout_s",
        "max_total_tokens",
        "max_depth",
        "max_delegations",
    } == await labels(8, 4)
    top_level = await labels(9, 0)
    assert {"memory", "delegates", "description"} <= top_level
    assert not {"name", "kind", "tier", "prompt", "tools", "limits"} & top_level  # already in the file


async def test_hover_definition_and_symbols(client: LanguageClient) -> None:
    path = spec("fact-finder")
    text = path.read_text().replace("tools: [clock]", "tools: [clock, define]")
    await open_doc(client, path, text)
    lines = text.split("\n")
    kind_line = next(i for i, line in enumerate(lines) if line.startswith("kind:"))
    hover = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)), position=lsp.Position(kind_line, 1)
        )
    )
    assert hover is not None and "document, code, conversation or knowledge" in str(hover.contents)
    await asyncio.sleep(0.8)  # the gateway's model list arrives in the background
    tier_line = next(i for i, line in enumerate(lines) if line.startswith("tier:"))
    model_hover = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)), position=lsp.Position(tier_line, 7)
        )
    )
    assert model_hover is not None and "served by the gateway" in str(model_hover.contents)
    assert "slots" in str(model_hover.contents)
    tools_line = next(i for i, line in enumerate(lines) if line.startswith("tools:"))
    where = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            position=lsp.Position(tools_line, lines[tools_line].index("define") + 2),
        )
    )
    assert (
        isinstance(where, lsp.Location)
        and where.uri.endswith("fact-finder/tools.py")
        and where.range.start.line > 0
    )
    prompt_line = next(i for i, line in enumerate(lines) if "file: prompt.md" in line)
    target = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)), position=lsp.Position(prompt_line, 10)
        )
    )
    assert isinstance(target, lsp.Location) and target.uri.endswith("prompt.md")
    symbols = await client.text_document_document_symbol_async(
        lsp.DocumentSymbolParams(text_document=lsp.TextDocumentIdentifier(uri=uri(path)))
    )
    names = [s.name for s in symbols or []]
    assert {"name", "kind", "prompt", "limits"} <= set(names)
    limits = next(s for s in symbols or [] if s.name == "limits")
    assert {c.name for c in limits.children or []} == {"max_iterations", "timeout_s", "max_tokens"}


async def test_code_actions_fix_what_diagnostics_find(client: LanguageClient) -> None:
    path = spec("chat-buddy")
    text = (
        path.read_text()
        .replace("tools: [shout]", "tools: [greet_user]")
        .replace("kind: conversation", "kind: conversaton")
    )
    diags = await open_doc(client, path, text)
    result = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
            context=lsp.CodeActionContext(diagnostics=diags),
        )
    )
    titles = {a.title: a for a in result or [] if isinstance(a, lsp.CodeAction)}
    assert "Create tool stub `greet_user` in tools.py" in titles and "Change to `conversation`" in titles
    stub = titles["Create tool stub `greet_user` in tools.py"].edit
    assert stub is not None and "def greet_user(" in str(stub)
    missing = await open_doc(
        client,
        spec("code-helper"),
        spec("code-helper").read_text().replace("file: prompt.md", "file: other.md"),
    )
    prompt_fix = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(spec("code-helper"))),
            range=lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
            context=lsp.CodeActionContext(diagnostics=missing),
        )
    )
    assert any(
        isinstance(a, lsp.CodeAction) and a.title == "Create prompt file other.md" for a in prompt_fix or []
    )


async def test_code_lens_runs_the_agent_with_progress(client: LanguageClient) -> None:
    path = spec("summarizer")
    await open_doc(client, path)
    lenses = await client.text_document_code_lens_async(
        lsp.CodeLensParams(text_document=lsp.TextDocumentIdentifier(uri=uri(path)))
    )
    commands = {lens.command.command: lens.command for lens in lenses or [] if lens.command}
    assert set(commands) == {"sutazai.runAgent", "sutazai.smoke", "sutazai.debugAgent"}
    assert list(commands["sutazai.debugAgent"].arguments or []) == [
        {"agent": "summarizer"}
    ]  # the editor starts it
    smoke_path = path.parent / "smoke.yaml"
    await open_doc(client, smoke_path)
    case_lenses = await client.text_document_code_lens_async(
        lsp.CodeLensParams(text_document=lsp.TextDocumentIdentifier(uri=uri(smoke_path)))
    )
    debug_cases = [
        lens for lens in case_lenses or [] if lens.command and lens.command.command == "sutazai.debugAgent"
    ]
    lines = smoke_path.read_text().splitlines()
    assert debug_cases and all(
        f"name: {lens.command.arguments[0]['case']}" in lines[lens.range.start.line]
        for lens in debug_cases
        if lens.command
    )
    result = await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command="sutazai.runAgent", arguments=commands["sutazai.runAgent"].arguments)
    )
    assert result["ok"] and "A cat sat on a mat." in result["message"]  # its first case's input
    assert client.progress_reports and any(client.messages)
    smoke = await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command="sutazai.smoke", arguments=commands["sutazai.smoke"].arguments)
    )
    assert smoke["ok"] and "2/2 smoke cases passed" in smoke["message"], smoke
    after = await client.text_document_code_lens_async(
        lsp.CodeLensParams(text_document=lsp.TextDocumentIdentifier(uri=uri(smoke_path)))
    )
    verdicts = [lens for lens in after or [] if lens.command and lens.command.command == "sutazai.smoke"]
    assert len(verdicts) == 2 and {lens.range.start.line for lens in verdicts} == {
        lens.range.start.line for lens in debug_cases
    }  # each case's latest verdict on its line, a click runs the cases again
    assert all(lens.command and lens.command.title == "✓ 1/1 passed · just now" for lens in verdicts)


async def test_formatting_keeps_comments(client: LanguageClient) -> None:
    path = spec("code-helper")
    text = "# keep me\nname:    code-helper   # and me\nkind: code\nprompt:\n      file: prompt.md\ntools:\n- calculator\n"
    await open_doc(client, path, text)
    edits = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            options=lsp.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert edits and len(edits) == 1
    new = edits[0].new_text
    assert (
        "# keep me" in new and "# and me" in new and "\n  file: prompt.md" in new and "  - calculator" in new
    )


async def test_bad_input_never_kills_the_server(client: LanguageClient, tmp_path: Path) -> None:
    path = spec("summarizer")
    diags = await open_doc(client, path, "name: summarizer\nkind: [document\nprompt:\n  fi")
    assert diags[0].code == "syntax"
    completion = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)), position=lsp.Position(3, 4)
        )
    )
    assert completion is not None
    huge = "name: summarizer\n" + "# padding\n" * 550_000
    diags = await change(client, path, huge, 3)
    assert diags[0].code == "too-large"
    ghost = ROOT / "agents" / "ghost" / "agent.yaml"
    ghost.parent.mkdir()
    ghost.write_text("name: ghost\nkind: code\nprompt: hi\n")
    await open_doc(client, ghost)
    ghost.unlink()
    ghost.parent.rmdir()
    assert await change(client, ghost, "name: ghost\nkind: code\nprompt: hi\ntools: [x]\n")
    tools = ROOT / "agents" / "summarizer" / "tools.py"
    original = tools.read_bytes()
    tools.write_bytes(b"def caf\xe9(text):\n    return text\n")  # not UTF-8
    try:
        diags = await change(
            client,
            path,
            spec("summarizer").read_text().replace("tools: [word_count, first_sentence]", "tools: [cafe]"),
            4,
        )
        assert [d.code for d in diags] == ["unknown-tool"]
    finally:
        tools.write_bytes(original)
    assert await open_doc(client, spec("summarizer"), spec("summarizer").read_text()) == []


async def test_an_alias_bomb_is_one_diagnostic_at_the_alias(client: LanguageClient) -> None:
    from tests.test_reliability import BOMB

    path = spec("bomb-agent")
    path.parent.mkdir(exist_ok=True)
    path.write_text(BOMB)
    started = asyncio.get_running_loop().time()
    [diagnostic] = await open_doc(client, path)
    assert "alias *a" in diagnostic.message and diagnostic.range.start == lsp.Position(3, 7)
    assert asyncio.get_running_loop().time() - started < 2
    formatting = await client.text_document_formatting_async(
        lsp.DocumentFormattingParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            options=lsp.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )
    assert not formatting  # a bomb is left as it is, never expanded


async def test_a_deleted_agent_no_longer_clashes_by_name(client: LanguageClient) -> None:
    import shutil

    copy = ROOT / "agents" / "summarizer-copy"
    shutil.copytree(ROOT / "agents" / "summarizer", copy)  # same `name: summarizer`
    try:
        await open_doc(client, spec("summarizer"))
        diags = await change(client, spec("summarizer"), spec("summarizer").read_text() + "\n")
        assert "duplicate-name" in {d.code for d in diags}
    finally:
        shutil.rmtree(copy)
    client.workspace_did_delete_files(lsp.DeleteFilesParams(files=[lsp.FileDelete(uri=uri(copy))]))
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert "duplicate-name" not in {d.code for d in client.diagnostics[uri(spec("summarizer"))]}


async def test_delegates_complete_check_and_link(client: LanguageClient) -> None:
    path = spec("summarizer")
    text = path.read_text().replace("tools:", "delegates:\n  - planner\n  - \ntools:", 1)
    diags = await open_doc(client, path, text)
    cycle = [d for d in diags if d.code == "delegation-cycle"]  # planner delegates to summarizer
    assert cycle and "summarizer → planner → summarizer" in cycle[0].message
    line = text.split("\n").index("  - ")
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)), position=lsp.Position(line, 4)
        )
    )
    items = result.items if isinstance(result, lsp.CompletionList) else result or []
    labels = {i.label for i in items}
    assert {"fact-finder", "planner", "code-helper"} <= labels and "summarizer" not in labels
    found = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)), position=lsp.Position(line - 1, 6)
        )
    )
    target = found[0] if isinstance(found, list) else found
    assert target is not None and target.uri.endswith("/agents/planner/agent.yaml")


async def test_remote_delegates_cards_are_checked(client: LanguageClient) -> None:
    from aiohttp import web
    from google.protobuf.json_format import MessageToDict

    from sutazai.agents.loader import load_agent
    from sutazai.workbench.a2a_server import card_for
    from tests.conftest import ServerThread

    app = web.Application()
    card = MessageToDict(card_for(load_agent(ROOT / "agents" / "fact-finder"), "http://127.0.0.1/agents/x/"))

    async def good(_: web.Request) -> web.Response:
        return web.json_response(card)

    async def odd(_: web.Request) -> web.Response:
        return web.json_response({"hello": 1})

    app.router.add_get("/good/.well-known/agent-card.json", good)
    app.router.add_get("/odd/.well-known/agent-card.json", odd)
    path = spec("summarizer")
    with ServerThread(app) as served:
        text = path.read_text().replace(
            "tools:",
            f"delegates:\n  - {{a2a: {served.url}/good/}}\n  - {{a2a: {served.url}/odd/, name: odd}}\n"
            "  - {a2a: 'http://127.0.0.1:9/agents/gone/'}\ntools:",
            1,
        )
        diags = await open_doc(client, path, text)
    remote = sorted((d for d in diags if d.code == "remote-agent"), key=lambda d: d.range.start.line)
    lines = text.split("\n")
    assert [lines[d.range.start.line].strip()[:8] for d in remote] == ["- {a2a: "] * 2
    assert "not an A2A agent card" in remote[0].message and "/odd/" in lines[remote[0].range.start.line]
    assert "no A2A agent reachable" in remote[1].message and "gone" in lines[remote[1].range.start.line]
    assert all(d.severity == lsp.DiagnosticSeverity.Warning for d in remote)


def test_the_command_lines_editors_use_are_accepted() -> None:
    from sutazai.lsp.server import arguments

    vscode = arguments().parse_args(["--stdio", "--clientProcessId=4242"])
    assert vscode.stdio and not vscode.tcp and vscode.client_pid == 4242 and vscode.log_level == "warning"
    assert not arguments().parse_args([]).tcp  # Neovim, Helix: nothing, stdio
    tcp = arguments().parse_args(["--tcp", "--port", "2090", "--log-level", "debug"])
    assert tcp.tcp and tcp.host == "127.0.0.1" and tcp.log_level == "debug"
    with pytest.raises(SystemExit):
        arguments().parse_args(["--stdio", "--tcp"])


def test_completion_skips_keys_of_the_same_list_item_only() -> None:
    from sutazai.lsp.yamlpath import context_at

    text = "cases:\n  - name: a\n    input: x\n    \n  - name: b\n    expect: {}\n"
    ctx = context_at(text, 3, 4)
    assert ctx.at_key and ctx.path == ["cases"] and ctx.present == {"name", "input"}


def test_the_server_exits_when_its_editor_is_gone(tmp_path: Path) -> None:
    """A crashed editor never sends ``exit``: ``--clientProcessId`` makes the server leave anyway."""
    import subprocess

    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    server = subprocess.Popen(
        [*VSCODE_COMMAND[:2], f"--clientProcessId={editor.pid}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    editor.wait()
    try:
        assert server.wait(timeout=20) == 0
    finally:
        server.kill()
    assert server.stderr is not None and server.stderr.read() == b""  # WARNING by default: a quiet start
