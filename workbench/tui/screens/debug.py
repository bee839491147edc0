"""Debug an agent in the TUI, on the same engine as ``sutazai dap``: toggle breakpoints on its tools,
delegates and model calls, run it, see what is pending when it pauses, edit it, go on or step.

Keys: ``enter`` (in the input) runs; ``space`` toggles a breakpoint; ``c`` continue, ``n`` step
over, ``i`` step into (a delegation), ``o`` step out; ``e`` edits the pending JSON and ``ctrl+s``
applies it; ``r`` replays the last run offline (its own recorded answers); ``escape`` closes (a
paused run is cancelled, and recorded so)."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, SelectionList, Static, TextArea

from sutazai.agents.breakpoints import SourceBreakpoint, meaningful_lines
from sutazai.agents.debugger import Action, Debugger, Pause, apply_edit
from sutazai.agents.loader import AgentDefinition
from sutazai.workspace import Workspace

KINDS = {"model": "every model call", "answer": "every answer", "error": "an error or budget stop"}


class DebugScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "resume('continue')", "Continue"),
        Binding("n", "resume('next')", "Step"),
        Binding("i", "resume('stepIn')", "Step into"),
        Binding("o", "resume('stepOut')", "Step out"),
        Binding("e", "edit", "Edit"),
        Binding("ctrl+s", "apply", "Apply edit"),
        Binding("r", "replay", "Replay"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, workspace: Workspace, agent: AgentDefinition) -> None:
        super().__init__()
        self.workspace = workspace
        self.agent = agent
        self.debugger = Debugger(on_stop=self._paused, workspace_root=workspace.root)
        self.debugger.kinds = {"error"}
        self.pause: Pause | None = None
        self.last_run: str | None = None
        self.output = ""

    def compose(self) -> ComposeResult:
        from sutazai.agents.session import demo_input

        spec = self.agent.spec
        choices: list[tuple[str, str, bool]] = [
            (f"before {w}", f"kind:{k}", k == "error") for k, w in KINDS.items()
        ]
        choices += [(f"tool {t}", f"tool:{t}", False) for t in spec.tools]
        choices += [(f"delegate {d}", f"delegation:{d}", False) for d in spec.delegate_names]
        with Horizontal(id="debug-body"):
            with Vertical(id="debug-left"):
                yield Label(f"[b]Debug {escape(self.agent.name)}[/b]: stop before (space)")
                yield SelectionList[str](*choices, id="debug-breakpoints")
                yield Label("Input (enter runs):")
                yield Input(demo_input(self.agent), id="debug-input")
            with Vertical(id="debug-right"):
                yield Static("Not running. Enter in the input starts a run.", id="debug-state")
                yield TextArea("", language="json", id="debug-pending", read_only=True)
                yield Static("", id="debug-output")
        yield Footer()

    def on_mount(self) -> None:
        self._breakpoints_changed()
        self.query_one("#debug-input", Input).focus()

    @on(SelectionList.SelectedChanged, "#debug-breakpoints")
    def _breakpoints_changed(self) -> None:
        chosen = set(self.query_one("#debug-breakpoints", SelectionList).selected)
        self.debugger.kinds = {k for k in KINDS if f"kind:{k}" in chosen}  # type: ignore[misc]
        spec_file = self.agent.spec_file
        lines = meaningful_lines(spec_file)
        wanted = [
            SourceBreakpoint(line)
            for line, target in lines.items()
            if any(f"{target.point}:{name}" in chosen for name in target.names)
        ]
        self.debugger.breakpoints.set_file(spec_file, wanted, lines)

    @on(Input.Submitted, "#debug-input")
    def _start(self, event: Input.Submitted) -> None:
        self.run_agent({"agent": self.agent.name, "input": event.value})

    def action_replay(self) -> None:
        if self.last_run is None:
            self.notify("no run to replay yet: run the agent first", severity="warning")
            return
        self.run_agent({"run": self.last_run, "replay": True})

    @work(exclusive=True, group="debug-run")
    async def run_agent(self, launch: dict[str, Any]) -> None:
        from sutazai.errors import UserError
        from sutazai.workbench.dap.launch import prepare

        self.output = ""
        self._state("Running…")
        try:
            prepared = await prepare({**launch, "workspace": str(self.workspace.root)}, self.workspace.root)
        except UserError as exc:
            self._state(f"[red]{escape(str(exc))}[/red]")
            return
        prepared.runtime.debugger = self.debugger
        try:
            outcome = await prepared.run(self._token)
        finally:
            await prepared.close()
        self.pause = None
        if not launch.get("replay"):
            self.last_run = outcome.run_id
        how = "replayed offline" if launch.get("replay") else "ran"
        result = outcome.output if outcome.status == "ok" else outcome.error
        self._state(f"Run {how}: {outcome.status}. [dim]r replays it offline.[/dim]\n{escape(result or '')}")
        self._show_pending(None)

    def _token(self, text: str) -> None:
        self.output += text
        self.query_one("#debug-output", Static).update(escape(self.output[-2000:]))

    def _state(self, markup: str) -> None:
        self.query_one("#debug-state", Static).update(markup)

    def _paused(self, pause: Pause) -> None:
        self.pause = pause
        what = (
            f"{pause.point} {pause.data.get('tool')}"
            if pause.point in ("tool", "delegation")
            else pause.point
        )
        where = f"{pause.agent}" + (" (a delegated run)" if pause.parent_run else "")
        self._state(
            f"[b yellow]Paused[/b yellow] before {escape(what)} in {escape(where)} ({pause.reason}) · "
            f"iteration {pause.iteration}\n[dim]c continue · n step · i step into · o step out · e edit[/dim]"
        )
        self._show_pending(pause.data)
        self.query_one("#debug-breakpoints", SelectionList).focus()  # the keys act, nothing is typed

    def _show_pending(self, data: dict[str, Any] | None) -> None:
        area = self.query_one("#debug-pending", TextArea)
        area.read_only = True
        area.load_text("" if data is None else json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def action_resume(self, action: Action) -> None:
        if self.pause is None or not self.debugger.resume(self.pause.run_id, action):
            self.notify("not paused", severity="warning")
            return
        self.pause = None
        self._state("Running…")

    def action_edit(self) -> None:
        if self.pause is None:
            self.notify("nothing to edit: the run is not paused", severity="warning")
            return
        area = self.query_one("#debug-pending", TextArea)
        area.read_only = False
        area.focus()

    def action_apply(self) -> None:
        if self.pause is None:
            return
        area = self.query_one("#debug-pending", TextArea)
        try:
            edited = json.loads(area.text)
            if not isinstance(edited, dict):
                raise ValueError("the pending data is a JSON object")
            apply_edit(self.pause.data, edited)
        except ValueError as exc:
            self.notify(f"not applied: {exc}", severity="error")
            return
        area.read_only = True
        self.query_one("#debug-breakpoints", SelectionList).focus()
        edits = self.pause.edits()
        self.notify("applied: " + ("; ".join(edits) if edits else "no change"))

    def action_close(self) -> None:
        self.debugger.resume_all("cancel")
        self.dismiss(None)
