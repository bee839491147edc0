"""Code lenses "Run agent" and "Smoke test", run through ``workspace/executeCommand`` with
``$/progress`` reports and the result shown to the user; "Debug agent" and "Debug smoke case"
start the agent debugger in the editor (a client command: the editor owns debug sessions)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp

from sutazai.errors import UserError
from sutazai.workspace import Workspace, find_root

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

RUN = "sutazai.runAgent"
SMOKE = "sutazai.smoke"
DEBUG = "sutazai.debugAgent"  # registered by the editor extension (lsp/vscode), not the server


def lenses(uri: str, path: Path) -> list[lsp.CodeLens]:
    top = lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    debug = lsp.Command(title="🐞 Debug agent", command=DEBUG, arguments=[{"agent": path.parent.name}])
    return [
        lsp.CodeLens(range=top, command=lsp.Command(title="▶ Run agent", command=RUN, arguments=[uri])),
        lsp.CodeLens(range=top, command=lsp.Command(title="✓ Smoke test", command=SMOKE, arguments=[uri])),
        lsp.CodeLens(range=top, command=debug),
    ]


def smoke_lenses(path: Path, text: str) -> list[lsp.CodeLens]:
    """On each case's line: "Debug smoke case", and its latest live verdict ("✓ 3/3 passed · 5 min
    ago", "✗ 1/3 passed, flaky · 2 h ago") that runs the agent's cases again when clicked."""
    from pygls.uris import from_fs_path

    from sutazai.agents.smoke import latest
    from sutazai.agents.yamlpos import parse_yaml
    from sutazai.errors import SpecError

    try:
        tree = parse_yaml(text, path)
    except SpecError:
        return []
    cases = tree.get("cases") if isinstance(tree, dict) else None
    if not isinstance(cases, list):
        return []
    root = find_root(path.parent)
    try:
        verdicts = latest.read(Workspace(root), path.parent.name) if root else {}
    except UserError:  # a broken sutazai.toml (reported on its own) or a folder name that is not a name
        verdicts = {}
    out = []
    for i, case in enumerate(cases):
        name = case.get("name") if isinstance(case, dict) else None
        if not isinstance(name, str):
            continue
        line = cases.lc.item(i)[0]  # type: ignore[attr-defined]  # ruamel's positions
        at = lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0))
        target = {"agent": path.parent.name, "case": name}
        command = lsp.Command(title="🐞 Debug smoke case", command=DEBUG, arguments=[target])
        out.append(lsp.CodeLens(range=at, command=command))
        if (verdict := verdicts.get(name)) is not None:
            again = lsp.Command(
                title=f"{verdict.mark} {verdict.label()}", command=SMOKE, arguments=[from_fs_path(str(path))]
            )
            out.append(lsp.CodeLens(range=at, command=again))
    return out


def _agent_folder(uri: str) -> tuple[Workspace, Path]:
    from pygls.uris import to_fs_path

    path = Path(to_fs_path(uri) or "")
    root = find_root(path.parent)
    if root is None:
        raise UserError(f"{path} is not inside a SutazAI workspace")
    return Workspace(root), path.parent


async def execute(server: LanguageServer, command: str, arguments: list[Any]) -> dict[str, Any]:
    token = str(uuid.uuid4())
    progress = server.work_done_progress
    await progress.create_async(token)
    title = "Running agent" if command == RUN else "Smoke testing"
    progress.begin(token, lsp.WorkDoneProgressBegin(title=title, cancellable=False, percentage=0))
    try:
        workspace, folder = _agent_folder(str(arguments[0]))
        result = await (
            _run(workspace, folder, progress, token)
            if command == RUN
            else _smoke(workspace, folder, progress, token)
        )
    except UserError as exc:
        result = {"ok": False, "message": str(exc)}
    except Exception as exc:  # the server must survive whatever the agent does
        result = {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
    progress.end(token, lsp.WorkDoneProgressEnd(message=result["message"][:200]))
    server.window_show_message(
        lsp.ShowMessageParams(
            type=lsp.MessageType.Info if result["ok"] else lsp.MessageType.Error, message=result["message"]
        )
    )
    return result


async def _run(workspace: Workspace, folder: Path, progress: Any, token: str) -> dict[str, Any]:
    from sutazai.agents.events import RunEvent, Token
    from sutazai.agents.loader import load_agent
    from sutazai.agents.session import demo_input, open_runtime, run_to_end

    agent = load_agent(folder)
    pieces = 0

    def report(event: RunEvent) -> None:
        nonlocal pieces
        if isinstance(event, Token):
            pieces += 1
            if pieces % 8 == 1:
                progress.report(token, lsp.WorkDoneProgressReport(message=f"{pieces} tokens"))

    async with open_runtime(workspace) as runtime:
        outcome = await run_to_end(runtime, agent, demo_input(agent), priority="interactive", on_event=report)
    message = f"{agent.name} ({outcome.run_id}): {outcome.output if outcome.ok else outcome.error}"
    return {"ok": outcome.ok, "message": message, "run_id": outcome.run_id, "output": outcome.output}


async def _smoke(workspace: Workspace, folder: Path, progress: Any, token: str) -> dict[str, Any]:
    from sutazai.agents.smoke.runner import CaseResult, SmokeRunner, collect

    suites = collect(workspace, [folder.name])
    total = sum(len(s.cases) for s in suites)
    done: list[CaseResult] = []

    def on_result(result: CaseResult) -> None:
        done.append(result)
        progress.report(
            token,
            lsp.WorkDoneProgressReport(
                message=f"{result.case}: {result.status}", percentage=int(100 * len(done) / max(total, 1))
            ),
        )

    results = await SmokeRunner(workspace, "live").run(suites, on_result)
    failed = [r for r in results if r.status != "passed"]
    message = f"{folder.name}: {total - len(failed)}/{total} smoke cases passed"
    if failed:
        message += "; " + "; ".join(f"{r.case} {r.status}: {r.reasons[0].splitlines()[0]}" for r in failed)
    return {
        "ok": not failed,
        "message": message,
        "cases": [{"case": r.case, "status": r.status} for r in results],
    }
