"""The workbench app: tabs for agents, chat, traces, backend and stack; screens over them.

It composes panes and routes their messages; it reaches into no pane's internals beyond asking it
to reload or take an agent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer, Header, TabbedContent, TabPane

from sutazai.errors import UserError
from sutazai.workbench.tui.commands import WorkbenchCommands
from sutazai.workbench.tui.errors import show_error
from sutazai.workbench.tui.panes.agents import AgentsPane
from sutazai.workbench.tui.widgets.deferred import Deferred
from sutazai.workspace import Workspace

if TYPE_CHECKING:
    from sutazai.workbench.tui.panes.chat import ChatPane
    from sutazai.workbench.tui.screens.agent_detail import AgentDetailScreen

TABS = ("agents", "chat", "traces", "backend", "stack")
FOCUS = {
    "agents": "#agents-table",
    "chat": "#chat-input",
    "traces": "#runs-table",
    "backend": "#engines-table",
    "stack": "#services-table",
}


class WorkbenchApp(App[None]):
    CSS_PATH = "workbench.tcss"
    TITLE = "SutazAI workbench"
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        *(
            Binding(str(i + 1), f"show_tab('{tab}')", tab.capitalize(), show=False)
            for i, tab in enumerate(TABS)
        ),
        Binding("slash", "filter", "Filter", show=False),
        Binding("n", "new_agent", "New agent"),
        Binding("a", "aider", "Aider", show=False),
        Binding("D", "debug_agent", "Debug", show=False),
        Binding("t", "toggle_theme", "Theme", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, workspace: Workspace, watch: bool = True) -> None:
        super().__init__()
        self.workspace = workspace
        self.watch_files = watch
        self.sub_title = workspace.root.name
        self.agents_pane = AgentsPane(workspace, id="agents-pane")
        self.painted = False  # set once the first frame is out and loading has started

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="agents", id="tabs"):
            with TabPane("Agents", id="agents"):
                yield self.agents_pane
            # Hidden tabs are imported and mounted after the first frame: styling their ~100
            # widgets and importing their modules would double it.
            with TabPane("Chat", id="chat"):
                yield Deferred(self._chat_pane)
            with TabPane("Traces", id="traces"):
                yield Deferred(self._traces_pane)
            with TabPane("Backend", id="backend"):
                yield Deferred(self._backend_pane)
            with TabPane("Stack", id="stack"):
                yield Deferred(self._stack_pane)
        yield Footer()

    def _chat_pane(self) -> Widget:
        from sutazai.workbench.tui.panes.chat import ChatPane

        return ChatPane(self.workspace, id="chat-pane")

    def _traces_pane(self) -> Widget:
        from sutazai.workbench.tui.panes.traces import TracesPane

        return TracesPane(self.workspace, id="traces-pane")

    def _backend_pane(self) -> Widget:
        from sutazai.workbench.tui.panes.backend import BackendPane

        return BackendPane(self.workspace, id="backend-pane")

    def _stack_pane(self) -> Widget:
        from sutazai.workbench.tui.panes.stack import StackPane

        return StackPane(self.workspace, id="stack-pane")

    def on_mount(self) -> None:
        self.call_after_refresh(self._focus_tab, "agents")

    def on_ready(self) -> None:
        """The first frame is on screen: now load (agents, settings) and watch, in workers."""
        self.agents_pane.reload()
        self._check_settings()
        if self.watch_files:
            self.watch_agents()
        self.painted = True

    @work(thread=True, group="settings")
    def _check_settings(self) -> None:
        """``sutazai.toml`` is validated after the first frame (pydantic costs ~40 ms to import);
        a broken one ends the app with the same located message the CLI prints."""
        try:
            _ = self.workspace.settings
        except UserError as exc:
            self.call_from_thread(self.exit, None, exc.exit_code, str(exc))

    def _focus_tab(self, tab: str) -> None:
        for widget in self.query(FOCUS[tab]):  # none yet when a deferred pane is still mounting
            widget.focus()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        focused_inside = self.focused is not None and event.pane in self.focused.ancestors
        if event.pane.id in FOCUS and not focused_inside:
            self._focus_tab(event.pane.id)

    def action_filter(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "agents"
        self.call_after_refresh(self.agents_pane.action_focus_filter)

    # --- hot reload -----------------------------------------------------------------------

    @work(exclusive=True, group="watch")
    async def watch_agents(self) -> None:
        from watchfiles import awatch

        self.workspace.agents_dir.mkdir(exist_ok=True)
        async for _changes in awatch(self.workspace.agents_dir, debounce=150, step=50):
            self.agents_pane.reload()

    def action_reload_agents(self) -> None:
        self.agents_pane.reload()

    # --- routing ----------------------------------------------------------------------------

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        self.call_after_refresh(self._focus_tab, tab)

    # Handlers by name, so that routing a pane's message does not import the pane's module.

    def on_agents_pane_chosen(self, message: AgentsPane.Chosen) -> None:
        from sutazai.workbench.tui.screens.agent_detail import AgentDetailScreen

        self.push_screen(AgentDetailScreen(self.workspace, message.name))

    def on_agents_pane_chat_with(self, message: AgentsPane.ChatWith) -> None:
        self.chat_with(message.name)

    def on_agent_detail_screen_chat_with(self, message: AgentDetailScreen.ChatWith) -> None:
        self.chat_with(message.name)

    def on_agent_detail_screen_show_run(self, message: AgentDetailScreen.ShowRun) -> None:
        from sutazai.workbench.tui.panes.traces import TracesPane

        self.action_show_tab("traces")  # its reload on show starts first; show_run's replaces it
        self.call_after_refresh(self.query_one("#traces-pane", TracesPane).show_run, message.run_id)

    def chat_with(self, name: str) -> None:
        self.action_show_tab("chat")
        from sutazai.workbench.tui.panes.chat import ChatPane

        self.query_one("#chat-pane", ChatPane).set_agent(name)

    def on_chat_pane_run_finished(self, message: ChatPane.RunFinished) -> None:
        from sutazai.workbench.tui.panes.traces import TracesPane

        self.query_one("#traces-pane", TracesPane).update_run(message.run_id)
        self.agents_pane.update_agent(message.agent)

    # --- actions ----------------------------------------------------------------------------

    def action_compare_smoke(self) -> None:
        from sutazai.workbench.tui.screens.smoke_compare import SmokeCompareScreen

        self.push_screen(SmokeCompareScreen(self.workspace))

    def action_new_agent(self) -> None:
        from sutazai.workbench.tui.screens.new_agent import NewAgentScreen

        def created(name: str | None) -> None:
            if name:
                self.notify(f"created agents/{name}")
                self.agents_pane.reload()

        self.push_screen(NewAgentScreen(self.workspace), created)

    def _agent_in_view(self) -> str | None:
        """The agent an action is about: the open detail screen's, else the selected row's."""
        from sutazai.workbench.tui.screens.agent_detail import AgentDetailScreen

        if isinstance(self.screen, AgentDetailScreen):
            return self.screen.agent_name
        return self.agents_pane.selected()

    def action_aider(self) -> None:
        """Suspend the TUI, run Aider on the selected agent's files, resume and reload."""
        name = self._agent_in_view()
        if not name:
            return
        try:
            from sutazai.scaffolds.aider import aider_command

            command = aider_command(self.workspace, name, [])
        except UserError as exc:
            show_error(self, exc, "Aider")
            return
        except ImportError:
            show_error(self, UserError("Aider support is not installed"), "Aider")
            return
        with self.suspend():
            subprocess.run(command, cwd=self.workspace.agent_dir(name), check=False)
        self.agents_pane.reload()

    def action_debug_agent(self) -> None:
        """The selected agent in the debugger (breakpoints, stepping, edit and continue)."""
        from sutazai.agents.loader import load_agent
        from sutazai.errors import SpecError
        from sutazai.workbench.tui.screens.debug import DebugScreen

        name = self._agent_in_view()
        if not name:
            return
        try:
            agent = load_agent(self.workspace.agent_dir(name))
        except SpecError as exc:
            show_error(self, exc, "cannot debug")
            return
        self.push_screen(DebugScreen(self.workspace, agent))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_help(self) -> None:
        from sutazai.workbench.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    @work(thread=True, group="stack-control")
    def action_stack_up(self) -> None:
        from sutazai.workbench.tui.panes.stack import StackPane

        self.query_one("#stack-pane", StackPane).action_up()

    @work(thread=True, group="stack-control")
    def action_stack_down(self) -> None:
        from sutazai.workbench.tui.panes.stack import StackPane

        self.query_one("#stack-pane", StackPane).action_down()


def main() -> None:
    """``sutazai-tui [WORKSPACE]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="sutazai-tui", description="The SutazAI workbench")
    parser.add_argument("workspace", nargs="?", type=Path)
    args = parser.parse_args()
    try:
        workspace = Workspace.discover(args.workspace)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    app = WorkbenchApp(workspace)
    app.run()
    sys.exit(app.return_code or 0)


if __name__ == "__main__":
    main()
