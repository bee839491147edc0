"""The workbench app: tabs for agents, chat, traces, backend and stack; screens over them.

It composes panes and routes their messages; it reaches into no pane's internals beyond asking it
to reload or take an agent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, TabbedContent, TabPane

from sutazai.errors import UserError
from sutazai.workbench.tui.commands import WorkbenchCommands
from sutazai.workbench.tui.messages import AgentChosen, ChatWith, RunFinishedMsg
from sutazai.workbench.tui.panes.agents import AgentsPane
from sutazai.workbench.tui.panes.backend import BackendPane
from sutazai.workbench.tui.panes.chat import ChatPane
from sutazai.workbench.tui.panes.stack import StackPane
from sutazai.workbench.tui.panes.traces import TracesPane
from sutazai.workspace import Workspace

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

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="agents", id="tabs"):
            with TabPane("Agents", id="agents"):
                yield self.agents_pane
            with TabPane("Chat", id="chat"):
                yield ChatPane(self.workspace, id="chat-pane")
            with TabPane("Traces", id="traces"):
                yield TracesPane(self.workspace, id="traces-pane")
            with TabPane("Backend", id="backend"):
                yield BackendPane(
                    self.workspace.settings.gateway.url, self.workspace.gateway_token(), id="backend-pane"
                )
            with TabPane("Stack", id="stack"):
                yield StackPane(self.workspace, id="stack-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.call_after_refresh(self._focus_tab, "agents")
        if self.watch_files:
            self.watch_agents()

    def _focus_tab(self, tab: str) -> None:
        self.query_one(FOCUS[tab]).focus()

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

    @on(AgentChosen)
    def _open_agent(self, message: AgentChosen) -> None:
        from sutazai.workbench.tui.screens.agent_detail import AgentDetailScreen

        self.push_screen(AgentDetailScreen(self.workspace, message.name))

    @on(ChatWith)
    def _chat(self, message: ChatWith) -> None:
        self.chat_with(message.name)

    def chat_with(self, name: str) -> None:
        self.action_show_tab("chat")
        self.query_one("#chat-pane", ChatPane).set_agent(name)

    @on(RunFinishedMsg)
    def _run_finished(self) -> None:
        self.query_one("#traces-pane", TracesPane).action_reload()
        self.agents_pane.reload()

    # --- actions ----------------------------------------------------------------------------

    def action_new_agent(self) -> None:
        from sutazai.workbench.tui.screens.new_agent import NewAgentScreen

        def created(name: str | None) -> None:
            if name:
                self.notify(f"created agents/{name}")
                self.agents_pane.reload()

        self.push_screen(NewAgentScreen(self.workspace), created)

    def action_aider(self) -> None:
        """Suspend the TUI, run Aider on the selected agent's files, resume and reload."""
        from sutazai.workbench.tui.screens.agent_detail import AgentDetailScreen

        name = (
            self.screen.agent_name
            if isinstance(self.screen, AgentDetailScreen)
            else self.agents_pane.selected()
        )
        if not name:
            return
        try:
            from sutazai.scaffolds.aider import aider_command

            command = aider_command(self.workspace, name, [])
        except (UserError, ImportError) as exc:
            message = (
                exc.problems[0].render() if isinstance(exc, UserError) else "Aider support is not installed"
            )
            self.notify(message, severity="error", title="Aider")
            return
        with self.suspend():
            subprocess.run(command, cwd=self.workspace.agent_dir(name), check=False)
        self.agents_pane.reload()

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    def action_help(self) -> None:
        from sutazai.workbench.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    @work(thread=True, group="stack-control")
    def action_stack_up(self) -> None:
        self.query_one("#stack-pane", StackPane).action_up()

    @work(thread=True, group="stack-control")
    def action_stack_down(self) -> None:
        self.query_one("#stack-pane", StackPane).action_down()


def main() -> None:
    """``sutazai-tui [WORKSPACE]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="sutazai-tui", description="The SutazAI workbench")
    parser.add_argument("workspace", nargs="?", type=Path)
    args = parser.parse_args()
    try:
        workspace = Workspace.discover(args.workspace)
        _ = workspace.settings
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        sys.exit(exc.exit_code)
    WorkbenchApp(workspace).run()


if __name__ == "__main__":
    main()
