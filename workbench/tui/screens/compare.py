"""Two runs side by side, step by step."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from sutazai.agents.runstore import RunStore
from sutazai.workbench.tui.panes.traces import render_run
from sutazai.workspace import Workspace


class CompareScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, workspace: Workspace, left: str, right: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.runs = (left, right)

    def compose(self) -> ComposeResult:
        store = RunStore(self.workspace.runs_db)
        with Horizontal():
            for run_id in self.runs:
                record = store.run(run_id)
                text = render_run(record, store.steps(run_id)) if record else f"run {run_id} not found"
                with VerticalScroll(classes="compare-column"):
                    yield Static(text)
        yield Footer()
