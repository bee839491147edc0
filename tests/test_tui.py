"""The Textual workbench, driven by Pilot against a real workspace and the real gateway (in front of
a scripted engine, so answers are known)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sutazai.scaffolds.generate import init_workspace
from sutazai.workbench.tui.app import WorkbenchApp
from sutazai.workspace import Workspace
from tests.conftest import admin_stats, scripted_gateway, settled
from tests.scripted_engine import ScriptedEngine


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Workspace, ScriptedEngine]]:
    engine = ScriptedEngine(default="Hello from the scripted engine.")
    root = init_workspace(tmp_path / "ws", demo=True)
    with scripted_gateway(root, engine):
        yield Workspace(root), engine


async def test_agents_table_filter_sort_and_broken_agents(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    spec = workspace.agent_dir("code-helper") / "agent.yaml"
    spec.write_text(spec.read_text().replace("kind: code", "kind: poem"))
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        rows = {r.name: r for r in app.agents_pane.rows}
        assert set(rows) == {"chat-buddy", "code-helper", "fact-finder", "planner", "summarizer"}
        assert rows["code-helper"].status == "broken" and "agent.yaml:4" in rows["code-helper"].errors
        await pilot.press("slash", "f", "c", "t")
        assert [r.name for r in app.agents_pane.visible_rows()] == ["fact-finder"]
        await pilot.press("enter", "enter")
        await settled(pilot)
        assert type(app.screen).__name__ == "AgentDetailScreen"
        assert "vectors" in str(app.screen.query_one("#agent-memory").render())


async def test_agent_view_shows_each_smoke_case_s_latest_verdict_and_opens_a_failed_sample_s_trace(
    live: tuple[Workspace, ScriptedEngine],
) -> None:
    from sutazai.agents.smoke.runner import SmokeRunner, collect

    workspace, _ = live  # the scripted answer names no cat and no mat: the summarizer's cases fail
    results = await SmokeRunner(workspace, "live").run(collect(workspace, ["summarizer"]))
    failed = [r for r in results if r.status == "failed"]
    assert failed and all(r.run_id for r in failed)
    newer = await SmokeRunner(workspace, "live").run(collect(workspace, ["chat-buddy"]))  # on top now
    assert newer and all(r.run_id for r in newer)
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        await pilot.press("slash", *"summarizer", "enter", "enter")
        await settled(pilot)
        smoke = str(app.screen.query_one("#agent-smoke").render())
        assert all(f"✗ {r.case}: 0/1 passed" in smoke for r in failed), smoke
        await pilot.press("t")
        await settled(pilot)
        assert type(app.screen).__name__ != "AgentDetailScreen"
        traces = app.query_one("#traces-pane")
        assert traces.current_run() in {r.run_id for r in failed}  # type: ignore[attr-defined]


def _plain(renderable: Any) -> str:
    from rich.console import Console

    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return " ".join(console.export_text().split())  # wrapped where a long tmp path made it wrap


async def test_two_smoke_results_files_side_by_side(tmp_path: Path) -> None:
    """From the command palette's "Compare smoke results": the same verdicts as `smoke compare`, and
    a file of another workspace refused with the reason."""
    from sutazai.agents.smoke import results as results_file
    from sutazai.agents.smoke.runner import CaseResult

    root = init_workspace(tmp_path / "ws", demo=True)

    def write(name: str, verdicts: list[str], workspace: Path = root) -> None:
        samples = [CaseResult("summarizer", "summarises", [], v, sample=i) for i, v in enumerate(verdicts)]  # type: ignore[arg-type]
        document = results_file.document(workspace, [], samples, "live", len(verdicts), {})
        document["agents"] = {"summarizer": "x"}
        results_file.write(root / name, document)

    write("base.json", ["passed"] * 5)
    write("head.json", ["failed"] * 5)
    write("elsewhere.json", ["passed"] * 5, workspace=tmp_path / "other")
    app = WorkbenchApp(Workspace(root), watch=False)
    async with app.run_test(size=(120, 30)) as pilot:
        await settled(pilot)
        app.action_compare_smoke()
        await settled(pilot)
        await pilot.press(*"base.json", "enter", *"head.json", "enter")
        await settled(pilot)
        text = _plain(app.screen.shown)  # type: ignore[attr-defined]
        assert "5/5" in text and "0/5" in text and "worse" in text, text
        assert "1 case(s) significantly worse at level 0.05" in text
        head = app.screen.query_one("#smoke-head")
        head.value = "elsewhere.json"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settled(pilot)
        text = _plain(app.screen.shown)  # type: ignore[attr-defined]
        assert "another workspace" in text, text


async def test_chat_streams_and_records_a_trace_then_replay_and_compare(
    live: tuple[Workspace, ScriptedEngine],
) -> None:
    workspace, engine = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        app.chat_with("summarizer")
        await settled(pilot)
        await pilot.press(*"hello there", "enter")
        await settled(pilot)
        log = "\n".join(str(line.text) for line in app.query_one("#chat-log").lines)
        assert "Hello from the scripted engine." in log
        stats = admin_stats(workspace.settings.gateway.url, workspace.gateway_token() or "")
        assert stats["requests_by_priority"]["interactive"] == 1
        await pilot.press("ctrl+r")
        await settled(pilot)
        app.action_show_tab("traces")  # the chat input has the keys; digits would be typed into it
        await settled(pilot)
        runs = app.query_one("#runs-table")
        assert runs.row_count == 2  # type: ignore[attr-defined]
        await pilot.press("e")
        await settled(pilot)
        assert type(app.screen).__name__ == "ReplayScreen"
        area = app.screen.query_one("#replay-messages")
        area.text = area.text.replace("hello there", "edited prompt")  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await settled(pilot)
        assert engine.requests[-1]["messages"][-1]["content"] == "edited prompt"
        await pilot.press("escape")
        await pilot.press("m", "down", "m")
        await settled(pilot)
        assert type(app.screen).__name__ == "CompareScreen"


async def test_backend_and_stack_panels(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("4")
        await settled(pilot)
        assert "tokens/s" in str(app.query_one("#backend-summary").render())
        assert app.query_one("#engines-table").row_count == 1  # type: ignore[attr-defined]
        assert "routing prefix" in str(app.query_one("#queue-summary").render())  # /admin/queue read
        await pilot.press("5")
        await settled(pilot)
        names = [
            app.query_one("#services-table").get_row_at(i)[0]  # type: ignore[attr-defined]
            for i in range(app.query_one("#services-table").row_count)
        ]  # type: ignore[attr-defined]
        assert (
            names == ["engine", "embedder", "gateway"] or names == []
        )  # empty when the engine is not installed


async def test_new_agent_wizard_and_hot_reload(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("n")
        await settled(pilot)
        await pilot.press(*"helper-bot", "enter")
        await settled(pilot)
        assert (workspace.agents_dir / "helper-bot" / "agent.yaml").exists()
        broken = workspace.agents_dir / "later" / "agent.yaml"
        broken.parent.mkdir()
        broken.write_text("name: later\nkind: nope\nprompt: hi\n")
        for _ in range(100):  # an outside event: the watcher reports after its 150 ms debounce
            await pilot.pause(0.05)
            await settled(pilot)
            if any(r.name == "later" for r in app.agents_pane.rows):
                break
        rows = {r.name: r for r in app.agents_pane.rows}
        assert "helper-bot" in rows and rows["later"].status == "broken"


async def test_help_theme_and_command_palette(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", "t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+p")
        await settled(pilot)
        await pilot.press(*"chat with summ")
        await settled(pilot)
        await pilot.press("enter")
        await settled(pilot)
        assert app.query_one("#tabs").active == "chat"  # type: ignore[attr-defined]


# --- snapshots: one per pane and per screen, on a workspace with fixed runs and no gateway ----

T0 = 1_780_000_000.0  # a fixed time, shown in UTC


def _fixed_runs(workspace: Workspace) -> None:
    """Two finished runs with fixed ids and times, so the Traces, Replay and Compare views are
    the same on every machine."""
    import sqlite3

    from sutazai.agents.runstore import RunStore

    store = RunStore(workspace.runs_db)
    for text, answer in (
        ("Summarise: tea is good.", "Tea is good."),
        ("Summarise: so is coffee.", "Coffee too."),
    ):
        run_id = store.start_run("summarizer", text, "smollm2")
        messages = [{"role": "system", "content": "You summarise."}, {"role": "user", "content": text}]
        store.add_step(run_id, 1, "llm", T0, 12.5, {"messages": messages, "response": answer}, 20, 5)
        store.finish_run(run_id, "ok", answer, None, 20, 5)
    store.close()
    with sqlite3.connect(workspace.runs_db) as db:
        ids = [row[0] for row in db.execute("SELECT id FROM runs ORDER BY rowid")]
        for i, run_id in enumerate(ids):
            fixed = f"run-000{i + 1}"
            db.execute(
                "UPDATE runs SET id=?, started_at=?, ended_at=? WHERE id=?",
                (fixed, T0 + 60 * i, T0 + 60 * i + 1, run_id),
            )
            db.execute("UPDATE steps SET run_id=?, started_at=? WHERE run_id=?", (fixed, T0 + 60 * i, run_id))


@pytest.fixture
def offline_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WorkbenchApp:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    root = init_workspace(tmp_path / "ws", demo=True)
    _fixed_runs(Workspace(root))
    return WorkbenchApp(Workspace(root, flags={"gateway": {"url": "http://127.0.0.1:9"}}), watch=False)


SNAPSHOTS: dict[str, list[str]] = {
    "agents": [],
    "chat": ["c"],
    "traces": ["3"],
    "backend": ["4"],
    "stack": ["5"],
    "agent_detail": ["enter"],
    "help": ["question_mark"],
    "new_agent": ["n"],
    "replay": ["3", "e"],
    "compare": ["3", "m", "down", "m"],
}


@pytest.mark.parametrize("view", sorted(SNAPSHOTS))
def test_snapshot(view: str, snap_compare: Any, offline_app: WorkbenchApp) -> None:
    """Every pane and screen at 100x30, as it first shows once its workers are done."""

    async def keys(pilot: Any) -> None:
        await settled(pilot)
        for key in SNAPSHOTS[view]:
            await pilot.press(key)
            await settled(pilot)
        # A table's column widths follow its rows on the next refresh: under load (the whole suite
        # on 2 cores) the shot could come between the two.
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(offline_app, terminal_size=(100, 30), run_before=keys)


def _smoke_results(root: Path) -> None:
    """A base and a head results file, and the latest verdicts they leave (one case flaky)."""
    from sutazai.agents.smoke import latest
    from sutazai.agents.smoke import results as results_file
    from sutazai.agents.smoke.runner import CaseResult

    def samples(case: str, verdicts: str) -> list[CaseResult]:
        out = []
        for i, v in enumerate(verdicts):
            reasons = [] if v == "p" else ["contains: 'mat' not found"]
            status: Any = "passed" if v == "p" else "failed"
            out.append(
                CaseResult("summarizer", case, [], status, reasons, sample=i, run_id=f"run-000{i + 1}")
            )
        return out

    base = samples("summarises", "ppppp") + samples("keeps-the-subject", "ppppp")
    head = samples("summarises", "fffff") + samples("keeps-the-subject", "ppfpp")
    for name, found in (("base.json", base), ("head.json", head)):
        document = results_file.document(root, [], found, "live", 5, {})
        document["agents"] = {"summarizer": "x"}
        results_file.write(root / name, document)
    latest.record(Workspace(root), head)


SMOKE_SNAPSHOTS: dict[str, list[str]] = {
    "agent_latest_smoke": ["slash", *"summarizer", "enter", "enter"],
    "smoke_compare": [],
}


@pytest.mark.parametrize("view", sorted(SMOKE_SNAPSHOTS))
def test_snapshot_of_smoke_results(view: str, snap_compare: Any, offline_app: WorkbenchApp) -> None:
    """The agent view with each case's latest verdict (one flaky), and two results files side by side."""
    _smoke_results(offline_app.workspace.root)

    async def keys(pilot: Any) -> None:
        await settled(pilot)
        if view == "smoke_compare":
            offline_app.action_compare_smoke()
            await settled(pilot)
            await pilot.press(*"base.json", "enter", *"head.json", "enter")
        for key in SMOKE_SNAPSHOTS[view]:
            await pilot.press(key)
        await settled(pilot)
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(offline_app, terminal_size=(100, 30), run_before=keys)


async def test_wizard_hands_a_description_to_gpt_engineer(
    live: tuple[Workspace, ScriptedEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routing only (the real GPT-Engineer run is in test_tools_integration)."""
    from sutazai.scaffolds import gpte

    asked: list[tuple[str, str]] = []

    def fake(workspace: Workspace, name: str, description: str, **_: object) -> gpte.GenerationReport:
        asked.append((name, description))
        return gpte.GenerationReport(None, problems=["GPT-Engineer wrote no agent.yaml"])

    monkeypatch.setattr(gpte, "generate_from_prompt", fake)
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        await pilot.press("n")
        await settled(pilot)
        await pilot.press(*"timer")
        app.screen.query_one("#new-description").focus()
        await pilot.press(*"tells the time", "enter")
        await settled(pilot)
        assert asked == [("timer", "tells the time")]
        assert type(app.screen).__name__ == "NewAgentScreen"  # nothing created: the wizard stays open
        assert not (workspace.agents_dir / "timer").exists()


async def test_the_traces_pane_turns_a_run_into_a_smoke_case(live: tuple[Workspace, ScriptedEngine]) -> None:
    from tests.test_cli import cli

    workspace, _ = live
    assert cli("run", "summarizer", "Summarise: the pane", cwd=workspace.root).returncode == 0
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        await settled(pilot)
        await pilot.press("s")
        await settled(pilot)
    smoke = (workspace.agent_dir("summarizer") / "smoke.yaml").read_text()
    assert "Summarise: the pane" in smoke and "from run" in smoke


async def test_the_traces_pane_shows_delegated_runs_as_a_tree(tmp_path: Path) -> None:
    from sutazai.agents.runstore import RunStore

    root = init_workspace(tmp_path / "ws", demo=True)
    workspace = Workspace(root, flags={"gateway": {"url": "http://127.0.0.1:9"}})
    store = RunStore(workspace.runs_db)
    top = store.start_run("planner", "plan it", "fast")
    child = store.start_run("fact-finder", "the facts", "fast", parent_run=top, parent_step=2)
    grandchild = store.start_run("summarizer", "sum up", "fast", parent_run=child, parent_step=2)
    for run_id in (grandchild, child, top):
        store.finish_run(run_id, "ok", "done", None, 10, 5)
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        await pilot.press("3")
        await settled(pilot)
        runs = app.query_one("#runs-table")
        runs.move_cursor(row=[runs.get_row_at(i)[0] for i in range(runs.row_count)].index(top))  # type: ignore[attr-defined]
        await settled(pilot)
        tree = app.query_one("#run-tree")
        assert tree.display
        labels = [str(node.label) for node in tree.root.children]  # type: ignore[attr-defined]
        assert len(labels) == 1 and "fact-finder" in labels[0] and "15 tokens" in labels[0]
        nested = tree.root.children[0].children  # type: ignore[attr-defined]
        assert "summarizer" in str(nested[0].label)


async def test_the_stack_pane_follows_a_service_log_off_the_ui_thread(tmp_path: Path) -> None:
    from sutazai.stack.services import stack_dir

    root = init_workspace(tmp_path / "ws", demo=True)
    workspace = Workspace(root, flags={"gateway": {"url": "http://127.0.0.1:9"}})
    log = stack_dir(workspace) / "engine.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("first line [not markup]\n")
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settled(pilot)
        app.action_show_tab("stack")
        await settled(pilot)
        widget = app.query_one("#service-log")
        deadline = time.monotonic() + 10
        while len(widget.lines) < 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            await pilot.pause(0.1)
        with log.open("a") as fh:
            fh.write("second line\n")
        while len(widget.lines) < 2 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            await pilot.pause(0.1)
        text = [str(line.text) for line in widget.lines]  # type: ignore[attr-defined]
    assert text == ["first line [not markup]", "second line"]


def test_agents_are_listed_before_they_are_checked_and_the_check_has_the_last_word(tmp_path: Path) -> None:
    """Without a cache the pane lists every folder from a quick read (no pydantic), then the check
    replaces the rows: what the quick read cannot tell (a spec the schema refuses) shows then."""
    from sutazai.workbench.tui.data import load_rows, quick_rows

    root = init_workspace(tmp_path / "ws", demo=True)
    workspace = Workspace(root)
    spec = workspace.agent_dir("code-helper") / "agent.yaml"
    spec.write_text(spec.read_text().replace("kind: code", "kind: poem"))
    (workspace.agent_dir("summarizer") / "agent.yaml").write_text("name: [unclosed\n")
    quick = {r.name: r for r in quick_rows(workspace)}
    checked = {r.name: r for r in load_rows(workspace)}
    assert quick.keys() == checked.keys()
    assert quick["code-helper"].kind == "poem" and checked["code-helper"].status == "broken"
    assert quick["summarizer"].kind == "?" and checked["summarizer"].status == "broken"
    for name, row in checked.items():
        if row.status != "broken":
            assert (quick[name].kind, quick[name].model) == (row.kind, row.model)


async def test_first_frame_lists_the_agents_last_checked_where_their_files_are_unchanged(
    tmp_path: Path,
) -> None:
    from sutazai.workbench.tui import listing_cache

    root = init_workspace(tmp_path / "ws", demo=True)
    workspace = Workspace(root)
    assert listing_cache.cached_rows(root) is None  # never checked: nothing to show early
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        assert app.agents_pane.checked
    cache = listing_cache.cache_file(root)
    assert cache.stat().st_mode & 0o777 == 0o600
    cached = listing_cache.cached_rows(root)
    assert cached is not None and [r.name for r in cached] == sorted(r.name for r in app.agents_pane.rows)

    spec = workspace.agent_dir("code-helper") / "agent.yaml"
    spec.write_text(spec.read_text().replace("kind: code", "kind: poem"))
    cached = listing_cache.cached_rows(root)
    assert cached is not None and "code-helper" not in {r.name for r in cached}  # stale: left to the check
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settled(pilot)
        rows = {r.name: r for r in app.agents_pane.rows}
        assert rows["code-helper"].status == "broken" and len(rows) == 5

    (root / "sutazai.toml").write_text((root / "sutazai.toml").read_text() + "\n# edited\n")
    assert listing_cache.cached_rows(root) is None  # settings can change any row: all of it is void
