"""The TUI's debugger, driven by Pilot: the same flow as the DAP test (a breakpoint on the calculator,
the pending call shown, its arguments edited, the tool receiving the edit), and a snapshot of the
paused view. The gateway is real, its engine scripted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sutazai.scaffolds.generate import init_workspace
from sutazai.workbench.tui.app import WorkbenchApp
from sutazai.workspace import Workspace
from tests.conftest import scripted_gateway, settled
from tests.scripted_engine import Reply, ScriptedEngine
from tests.test_debugger import steps_of, write_agents

CALL = Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": "2**8"}}])


@pytest.fixture
def calc_workspace(tmp_path: Path) -> Iterator[tuple[Workspace, ScriptedEngine]]:
    root = init_workspace(tmp_path / "ws")
    write_agents(root)
    engine = ScriptedEngine(default="done")
    with scripted_gateway(root, engine):
        yield Workspace(root), engine


async def until(pilot: Any, check: Any, timeout: float = 30.0) -> None:
    """Wait for a state (the debug run's worker stays busy while paused, so no `settled`)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


async def pause_at_the_calculator(pilot: Any) -> Any:
    """From the agents table to a run paused before its calculator call."""
    from sutazai.workbench.tui.screens.debug import DebugScreen

    await settled(pilot)
    await pilot.press("down", "D")  # calc is the second agent (boss, calc)
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, DebugScreen) and screen.agent.name == "calc"
    await pilot.click("#debug-breakpoints")
    await pilot.press("home", "down", "down", "down", "down", "space")  # "tool calculator"
    assert "tool:calculator" in screen.query_one("#debug-breakpoints").selected
    screen.query_one("#debug-input").focus()
    await pilot.press("enter")
    await until(pilot, lambda: screen.pause is not None)
    await pilot.pause()
    return screen


async def test_breakpoint_edit_and_continue_in_the_tui(
    calc_workspace: tuple[Workspace, ScriptedEngine],
) -> None:
    workspace, engine = calc_workspace
    engine.replies += [CALL, Reply("1024.")]
    app = WorkbenchApp(workspace, watch=False)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await pause_at_the_calculator(pilot)
        pending = screen.query_one("#debug-pending")
        assert '"expression": "2**8"' in pending.text and pending.read_only
        assert "Paused" in str(screen.query_one("#debug-state").render())
        await pilot.press("e")
        assert not pending.read_only
        pending.load_text(pending.text.replace("2**8", "2**10"))
        await pilot.press("ctrl+s", "c")
        await until(pilot, lambda: "Run ran: ok" in str(screen.query_one("#debug-state").render()))
    _, steps = steps_of(workspace.root, "calc")
    [tool] = [s for s in steps if s["kind"] == "tool"]
    assert tool["arguments"] == {"expression": "2**10"} and tool["result"] == "1024"
    [debug] = [s for s in steps if s["kind"] == "debug"]
    assert debug["edits"] == ["arguments.expression: '2**8' -> '2**10'"]


def test_snapshot_of_the_paused_view(
    snap_compare: Any, calc_workspace: tuple[Workspace, ScriptedEngine]
) -> None:
    workspace, engine = calc_workspace
    engine.replies += [CALL, Reply("1024.")]

    async def paused(pilot: Any) -> None:
        await pause_at_the_calculator(pilot)  # the breakpoint list has the focus: the keys show

    app = WorkbenchApp(workspace, watch=False)
    assert snap_compare(app, terminal_size=(100, 30), run_before=paused)
