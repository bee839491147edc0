"""The Textual workbench, driven by Pilot against a real workspace and the real gateway (in front of
a scripted engine, so answers are known)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from sutazai.scaffolds.generate import init_workspace
from sutazai.stack.gateway.app import build_app
from sutazai.stack.gateway.config import GatewayConfig
from sutazai.stack.gateway.engines import EngineConfig
from sutazai.stack.gateway.service import Gateway
from sutazai.workbench.tui.app import WorkbenchApp
from sutazai.workspace import Workspace
from tests.conftest import ServerThread, admin_stats
from tests.scripted_engine import ScriptedEngine


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Workspace, ScriptedEngine]]:
    engine = ScriptedEngine(default="Hello from the scripted engine.")
    root = init_workspace(tmp_path / "ws", demo=True)
    token = Workspace(root).ensure_gateway_token()  # as `stack up` does: the TUI finds it there
    with ServerThread(engine.app()) as scripted:
        config = GatewayConfig(
            engines=[EngineConfig("e", "openai", scripted.url, 4, ["smollm2"], ["e5-small"])],
            tiers={"fast": ["smollm2"], "quality": ["smollm2"], "local": ["smollm2"], "embed": ["e5-small"]},
            token=token,
        )
        with ServerThread(build_app(Gateway(config))) as gw:
            toml = root / "sutazai.toml"
            toml.write_text(toml.read_text().replace("http://127.0.0.1:11435", gw.url))
            yield Workspace(root), engine


async def _settle(pilot: object, seconds: float = 0.3) -> None:
    await pilot.pause(seconds)  # type: ignore[attr-defined]


async def test_agents_table_filter_sort_and_broken_agents(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    spec = workspace.agent_dir("code-helper") / "agent.yaml"
    spec.write_text(spec.read_text().replace("kind: code", "kind: poem"))
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        rows = {r.name: r for r in app.agents_pane.rows}
        assert set(rows) == {"chat-buddy", "code-helper", "fact-finder", "summarizer"}
        assert rows["code-helper"].status == "broken" and "agent.yaml:4" in rows["code-helper"].errors
        await pilot.press("slash", "f", "c", "t")
        assert [r.name for r in app.agents_pane.visible_rows()] == ["fact-finder"]
        await pilot.press("enter", "enter")
        await _settle(pilot)
        assert type(app.screen).__name__ == "AgentDetailScreen"
        assert "vectors" in str(app.screen.query_one("#agent-memory").render())


async def test_chat_streams_and_records_a_trace_then_replay_and_compare(
    live: tuple[Workspace, ScriptedEngine],
) -> None:
    workspace, engine = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot)
        app.chat_with("summarizer")
        await _settle(pilot, 0.1)
        await pilot.press(*"hello there", "enter")
        await _settle(pilot, 1.0)
        log = "\n".join(str(line.text) for line in app.query_one("#chat-log").lines)
        assert "Hello from the scripted engine." in log
        stats = admin_stats(workspace.settings.gateway.url, workspace.gateway_token() or "")
        assert stats["requests_by_priority"]["interactive"] == 1
        await pilot.press("ctrl+r")
        await _settle(pilot, 1.0)
        app.action_show_tab("traces")  # the chat input has the keys; digits would be typed into it
        await _settle(pilot, 0.8)
        runs = app.query_one("#runs-table")
        assert runs.row_count == 2  # type: ignore[attr-defined]
        await pilot.press("e")
        await _settle(pilot)
        assert type(app.screen).__name__ == "ReplayScreen"
        area = app.screen.query_one("#replay-messages")
        area.text = area.text.replace("hello there", "edited prompt")  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await _settle(pilot, 1.0)
        assert engine.requests[-1]["messages"][-1]["content"] == "edited prompt"
        await pilot.press("escape")
        await pilot.press("m", "down", "m")
        await _settle(pilot)
        assert type(app.screen).__name__ == "CompareScreen"


async def test_backend_and_stack_panels(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await _settle(pilot, 1.5)
        assert "tokens/s" in str(app.query_one("#backend-summary").render())
        assert app.query_one("#engines-table").row_count == 1  # type: ignore[attr-defined]
        await pilot.press("5")
        await _settle(pilot, 1.0)
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
        await _settle(pilot)
        await pilot.press("n")
        await _settle(pilot, 0.2)
        await pilot.press(*"helper-bot", "enter")
        await _settle(pilot, 0.5)
        assert (workspace.agents_dir / "helper-bot" / "agent.yaml").exists()
        broken = workspace.agents_dir / "later" / "agent.yaml"
        broken.parent.mkdir()
        broken.write_text("name: later\nkind: nope\nprompt: hi\n")
        for _ in range(40):
            await _settle(pilot, 0.1)
            if any(r.name == "later" for r in app.agents_pane.rows):
                break
        rows = {r.name: r for r in app.agents_pane.rows}
        assert "helper-bot" in rows and rows["later"].status == "broken"


async def test_help_theme_and_command_palette(live: tuple[Workspace, ScriptedEngine]) -> None:
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("question_mark")
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape", "t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+p")
        await _settle(pilot, 0.2)
        await pilot.press(*"chat with summ")
        await _settle(pilot, 0.5)
        await pilot.press("enter")
        await _settle(pilot, 0.3)
        assert app.query_one("#tabs").active == "chat"  # type: ignore[attr-defined]


def test_snapshot_agents(snap_compare: object, tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    app = WorkbenchApp(Workspace(root, flags={"gateway": {"url": "http://127.0.0.1:9"}}), watch=False)
    assert snap_compare(app, terminal_size=(80, 24), run_before=lambda pilot: asyncio.sleep(0.5))  # type: ignore[operator]


def test_snapshot_help(snap_compare: object, tmp_path: Path) -> None:
    root = init_workspace(tmp_path / "ws", demo=True)
    app = WorkbenchApp(Workspace(root, flags={"gateway": {"url": "http://127.0.0.1:9"}}), watch=False)
    assert snap_compare(app, press=["question_mark"], terminal_size=(80, 24))  # type: ignore[operator]


async def test_wizard_hands_a_description_to_gpt_engineer(
    live: tuple[Workspace, ScriptedEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routing only (the real GPT-Engineer run is in test_tools_integration)."""
    from sutazai.scaffolds import gpte

    asked: list[tuple[str, str]] = []

    def fake(workspace: Workspace, name: str, description: str) -> gpte.GenerationReport:
        asked.append((name, description))
        return gpte.GenerationReport(None, problems=["GPT-Engineer wrote no agent.yaml"])

    monkeypatch.setattr(gpte, "generate_from_prompt", fake)
    workspace, _ = live
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(pilot)
        await pilot.press("n")
        await _settle(pilot, 0.2)
        await pilot.press(*"timer")
        app.screen.query_one("#new-description").focus()
        await pilot.press(*"tells the time", "enter")
        await _settle(pilot, 0.5)
        assert asked == [("timer", "tells the time")]
        assert type(app.screen).__name__ == "NewAgentScreen"  # nothing created: the wizard stays open
        assert not (workspace.agents_dir / "timer").exists()
