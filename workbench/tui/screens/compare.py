"""Two runs side by side, step by step (read on a worker thread after the first paint)."""

from __future__ import annotations

from rich.console import RenderableType
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from sutazai.agents.run_record import run_view
from sutazai.agents.runstore import RunStore
from sutazai.workbench.run_render import render_run
from sutazai.workspace import Workspace


class CompareScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def __init__(self, workspace: Workspace, left: str, right: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.runs = (left, right)

    def compose(self) -> ComposeResult:
        with Horizontal():
            for index, run_id in enumerate(self.runs):
                with VerticalScroll(classes="compare-column"):
                    yield Static(f"loading run {run_id}…", id=f"compare-{index}")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        store = RunStore(self.workspace.runs_db)
        try:
            texts: list[RenderableType] = []
            for run_id in self.runs:
                record = store.run(run_id)
                texts.append(render_run(run_view(store, record)) if record else f"run {run_id} not found")
        finally:
            store.close()
        self.app.call_from_thread(self._show, texts)

    def _show(self, texts: list[RenderableType]) -> None:
        for index, text in enumerate(texts):
            self.query_one(f"#compare-{index}", Static).update(text)
