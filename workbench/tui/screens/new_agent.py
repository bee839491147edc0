"""A wizard for a new agent from a template."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from sutazai.errors import UserError
from sutazai.scaffolds.kinds import KIND_DEFAULTS
from sutazai.workbench.tui.errors import show_error
from sutazai.workspace import Workspace


class NewAgentScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, workspace: Workspace) -> None:
        super().__init__()
        self.workspace = workspace

    def compose(self) -> ComposeResult:
        with Vertical(id="new-agent-box"):
            yield Label("New agent: name ([a-z][a-z0-9-]*) and kind")
            yield Input(placeholder="name", id="new-name")
            yield Select([(k, k) for k in KIND_DEFAULTS], value="document", allow_blank=False, id="new-kind")
            yield Input(
                placeholder="or describe it, and GPT-Engineer writes it (optional)", id="new-description"
            )
            yield Button("Create", variant="primary", id="new-create")

    @on(Button.Pressed, "#new-create")
    @on(Input.Submitted, "#new-name")
    @on(Input.Submitted, "#new-description")
    def _create(self) -> None:
        from sutazai.scaffolds.generate import new_agent

        name = self.query_one("#new-name", Input).value.strip()
        kind = str(self.query_one("#new-kind", Select).value)
        description = self.query_one("#new-description", Input).value.strip()
        if description:
            self.generate(name, description)
            return
        try:
            new_agent(self.workspace.agents_dir, name, kind)
        except UserError as exc:
            show_error(self, exc, "cannot create agent")
            return
        self.dismiss(name)

    @work(thread=True, exclusive=True, group="gpte")
    def generate(self, name: str, description: str) -> None:
        """GPT-Engineer through the gateway; the result lands only if it validates."""
        from sutazai.scaffolds.gpte import generate_from_prompt

        self.app.call_from_thread(self.notify, "GPT-Engineer is writing the agent (this takes a minute)…")

        def progress(seconds: float, characters: int) -> None:
            message = f"GPT-Engineer: {seconds:.0f} s, {characters} characters so far"
            self.app.call_from_thread(self.notify, message, timeout=4)

        try:
            report = generate_from_prompt(self.workspace, name, description, progress=progress)
        except UserError as exc:
            show_error(self, exc, "GPT-Engineer")
            return
        if report.created is None:
            message = "nothing written: " + "; ".join(report.problems)[:300]
            self.app.call_from_thread(self.notify, message, severity="error", title="GPT-Engineer")
            return
        self.app.call_from_thread(self.dismiss, name)

    def action_cancel(self) -> None:
        self.dismiss(None)
