"""Edit a model call's messages and replay the run from that step."""

from __future__ import annotations

import json

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static, TextArea

from sutazai.agents.run_record import LlmStep
from sutazai.workspace import Workspace


class ReplayScreen(ModalScreen[None]):
    BINDINGS = [Binding("ctrl+s", "replay", "Replay"), Binding("escape", "app.pop_screen", "Close")]

    def __init__(self, workspace: Workspace, agent: str, step: LlmStep) -> None:
        super().__init__()
        self.workspace = workspace
        self.agent = agent
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(id="replay-box"):
            yield Label(
                f"Replay {self.agent} from step #{self.step.seq}: edit the messages (JSON), ctrl+s to run"
            )
            yield TextArea(
                json.dumps([m.to_json() for m in self.step.messages], indent=2, ensure_ascii=False),
                id="replay-messages",
            )
            yield Static("", id="replay-output")

    @work(exclusive=True, group="replay")
    async def action_replay(self) -> None:
        from sutazai.agents.events import RunFinished, Token
        from sutazai.agents.loader import AgentCatalog
        from sutazai.agents.session import open_runtime

        output = self.query_one("#replay-output", Static)
        try:
            messages = json.loads(self.query_one("#replay-messages", TextArea).text)
            assert isinstance(messages, list) and all(isinstance(m, dict) and "role" in m for m in messages)
        except (ValueError, AssertionError):
            self.notify("messages must be a JSON list of {role, content}", severity="error")
            return
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        agent = AgentCatalog.scan(self.workspace).get(self.agent)
        text = ""
        async with open_runtime(self.workspace) as runtime:
            async for event in runtime.run(agent, str(user), messages=messages, priority="interactive"):
                if isinstance(event, Token):
                    text += event.text
                    output.update(escape(text))
                elif isinstance(event, RunFinished):
                    output.update(
                        f"[b]run {event.run_id}[/b] {event.status}\n{escape(event.output or event.error or '')}"
                    )
