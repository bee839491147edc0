"""Two smoke results files side by side (``sutazai smoke --out``): per case the pass rate before
and after and what changed, as ``sutazai smoke compare`` prints it; files are read on a worker."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from sutazai.errors import UserError
from sutazai.workbench.smoke_render import change_table, verdict
from sutazai.workspace import Workspace

LEVEL = 0.05


class SmokeCompareScreen(Screen[None]):
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]
    DEFAULT_CSS = """
    #smoke-compare-files { height: auto; }
    #smoke-compare-files Input { width: 1fr; }
    """

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace
        self.shown: Group | Text | None = None  # what the last comparison (or refusal) showed

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="smoke-compare-files"):
            yield Input(placeholder="base results file (smoke --out)", id="smoke-base")
            yield Input(placeholder="head results file, then Enter", id="smoke-head")
        with VerticalScroll():
            yield Static("two results files of this workspace, relative to it", id="smoke-changes")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "smoke results side by side"
        self.query_one("#smoke-base", Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        base = self.query_one("#smoke-base", Input).value.strip()
        head = self.query_one("#smoke-head", Input).value.strip()
        if event.input.id == "smoke-base" and not head:
            self.query_one("#smoke-head", Input).focus()
        elif base and head:
            self.compare(base, head)

    @work(thread=True, exclusive=True, group="smoke-compare")
    def compare(self, base: str, head: str) -> None:
        from sutazai.agents.smoke import results as results_file

        root = self.workspace.root
        try:
            before = results_file.load(root / Path(base), root)
            after = results_file.load(root / Path(head), root)
        except UserError as exc:
            self.app.call_from_thread(self._show, Text(str(exc), style="red"))
            return
        changes = results_file.compare(before, after, LEVEL)
        self.app.call_from_thread(self._show, Group(change_table(changes), Text(verdict(changes, LEVEL))))

    def _show(self, body: Group | Text) -> None:
        self.shown = body
        self.query_one("#smoke-changes", Static).update(body)
