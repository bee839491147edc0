"""Language server latency in a workspace of 150 agents, over stdio with a real LSP client:
completion, and diagnostics published after an edit (target: p95 under 50 ms each).

    .venv/bin/python -m bench.bench_lsp [--agents 150] [--edits 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, client_capabilities

from bench.workspaces import make_workspace


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


async def measure(root: Path, edits: int) -> tuple[list[float], list[float]]:
    client = await ClientServerConfig(server_command=[sys.executable, "-m", "sutazai.lsp.server"]).start()
    await client.initialize_session(
        lsp.InitializeParams(capabilities=client_capabilities("visual-studio-code"), root_uri=root.as_uri())
    )
    path = root / "agents" / "agent-075" / "agent.yaml"
    uri = path.as_uri()
    text = path.read_text()
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=text)
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    diagnostics: list[float] = []
    completions: list[float] = []
    lines = text.split("\n")
    desc = next(i for i, line in enumerate(lines) if line.startswith("description:"))
    for n in range(edits):
        t0 = time.perf_counter()
        position = lsp.Position(desc, len(lines[desc]))
        client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=n + 2),
                content_changes=[
                    lsp.TextDocumentContentChangePartial(range=lsp.Range(position, position), text="x")
                ],
            )
        )
        lines[desc] += "x"
        await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        diagnostics.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        await client.text_document_completion_async(
            lsp.CompletionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(len(lines) - 1, 0)
            )
        )
        completions.append((time.perf_counter() - t0) * 1000)
    await client.shutdown_session()
    await client.stop()
    return diagnostics, completions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=150)
    parser.add_argument("--edits", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_workspace(Path(tmp) / "ws", args.agents)
        diagnostics, completions = asyncio.run(measure(root, args.edits))
    print(f"{args.agents} agents, {args.edits} edits (incremental sync, 20 ms debounce included)")
    print(
        f"diagnostics after an edit: p50 {statistics.median(diagnostics):5.1f} ms  p95 {p95(diagnostics):5.1f} ms "
        "(target p95 < 50 ms)"
    )
    print(
        f"completion:                p50 {statistics.median(completions):5.1f} ms  p95 {p95(completions):5.1f} ms "
        "(target p95 < 50 ms)"
    )


if __name__ == "__main__":
    main()
