"""A wizard for a new agent from a template."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select

from sutazai.errors import UserError
from sutazai.scaffolds.kinds import KIND_DEFAULTS
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
            yield Button("Create", variant="primary", id="new-create")

    @on(Button.Pressed, "#new-create")
    @on(Input.Submitted, "#new-name")
    def _create(self) -> None:
        from sutazai.scaffolds.generate import new_agent

        name = self.query_one("#new-name", Input).value.strip()
        kind = str(self.query_one("#new-kind", Select).value)
        try:
            new_agent(self.workspace.agents_dir, name, kind)
        except UserError as exc:
            self.notify(
                exc.problems[0].message + (f"\n{exc.problems[0].hint}" if exc.problems[0].hint else ""),
                severity="error",
                title="cannot create agent",
            )
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
