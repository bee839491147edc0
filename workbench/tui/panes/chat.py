"""Run and chat: send input, watch the answer stream token by token, with tool calls and retrieved
memories inline; cancel, re-run; interactive priority by default so a developer goes first."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, RichLog, Select, Static
from textual.worker import Worker

from sutazai.wire import parse_priority
from sutazai.workbench.tui.errors import show_error
from sutazai.workspace import Workspace

PRIORITIES = [("interactive", "interactive"), ("normal", "normal"), ("batch", "batch")]


class ChatPane(Vertical):
    class RunFinished(Message):
        """A run ended here; the Traces and Agents panes refresh."""

        def __init__(self, run_id: str, agent: str) -> None:
            super().__init__()
            self.run_id = run_id
            self.agent = agent

    BINDINGS = [
        Binding("escape", "cancel", "Cancel run"),
        Binding("ctrl+r", "rerun", "Re-run"),
        Binding("ctrl+l", "clear", "Clear"),
    ]

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.agent: str | None = None
        self.history: list[dict[str, Any]] = []
        self.last_input: str | None = None
        self._worker: Worker[None] | None = None
        self._answer = ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="chat-bar"):
            yield Static("no agent — pick one in Agents (c)", id="chat-agent")
            yield Select(PRIORITIES, value="interactive", allow_blank=False, id="chat-priority")
        yield RichLog(id="chat-log", wrap=True, markup=True, highlight=False)
        yield Static("", id="chat-answer")
        yield Input(placeholder="message the agent, Enter to send", id="chat-input")

    def set_agent(self, name: str) -> None:
        if name != self.agent:
            self.agent, self.history = name, []
            self.query_one("#chat-log", RichLog).clear()
        self.query_one("#chat-agent", Static).update(f"chatting with [b]{escape(name)}[/b]")
        self.query_one("#chat-input", Input).focus()

    @on(Input.Submitted, "#chat-input")
    def _send(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.agent is None:
            self.notify("pick an agent first (Agents tab, then c)", severity="warning")
            return
        event.input.value = ""
        self.send(text)

    def send(self, text: str) -> None:
        self.last_input = text
        self.query_one("#chat-log", RichLog).write(f"[b]you[/b] {escape(text)}")
        self._answer = ""
        self._worker = self.run_agent(text)

    @work(exclusive=True, group="chat")
    async def run_agent(self, text: str) -> None:
        from sutazai.agents.events import (
            MemoriesRetrieved,
            RunFinished,
            RunStarted,
            Token,
            ToolCalled,
            ToolReturned,
        )
        from sutazai.agents.loader import AgentCatalog
        from sutazai.agents.session import open_runtime
        from sutazai.errors import UserError

        log = self.query_one("#chat-log", RichLog)
        answer = self.query_one("#chat-answer", Static)
        priority = parse_priority(str(self.query_one("#chat-priority", Select).value))
        assert self.agent is not None
        try:
            agent = AgentCatalog.scan(self.workspace).get(self.agent)
        except UserError as exc:
            show_error(self, exc, "agent has errors")
            return
        async with open_runtime(self.workspace) as runtime:
            async for event in runtime.run(agent, text, history=self.history, priority=priority):
                if isinstance(event, RunStarted):
                    answer.set_class(False, "-error", "-cancelled")
                    log.write(f"[dim]run {event.run_id} · {event.model} · {priority}[/dim]")
                elif isinstance(event, Token):
                    self._answer += event.text
                    answer.update(escape(self._answer))
                elif isinstance(event, MemoriesRetrieved):
                    log.write("[cyan]memories:[/cyan] " + escape("; ".join(h.text[:60] for h in event.hits)))
                elif isinstance(event, ToolCalled):
                    log.write(f"[cyan]→ {escape(event.name)}({escape(json.dumps(event.arguments))})[/cyan]")
                elif isinstance(event, ToolReturned):
                    log.write(f"[cyan]← {escape(event.result[:200])}[/cyan]")
                elif isinstance(event, RunFinished):
                    answer.update("")
                    if event.status == "ok":
                        log.write(f"[b green]{escape(self.agent)}[/b green] {escape(event.output)}")
                        self.history += [
                            {"role": "user", "content": text},
                            {"role": "assistant", "content": event.output},
                        ]
                    else:
                        answer.update(f"{event.status}: {escape(event.error or '')}")
                        answer.set_class(True, "-error")
                        hint = (
                            "start the stack: Stack tab, u" if event.status == "unavailable" else "see Traces"
                        )
                        self.notify(f"{event.status}: {hint}", severity="error")
                    self.post_message(self.RunFinished(event.run_id, self.agent))

    def action_cancel(self) -> None:
        if self._worker and self._worker.is_running:
            self._worker.cancel()
            answer = self.query_one("#chat-answer", Static)
            answer.update("cancelled")
            answer.set_class(True, "-cancelled")

    def action_rerun(self) -> None:
        if self.last_input and self.agent:
            if self.history[-2:] and self.history[-2]["content"] == self.last_input:
                self.history = self.history[:-2]
            self.send(self.last_input)

    def action_clear(self) -> None:
        self.history = []
        self.query_one("#chat-log", RichLog).clear()
