"""Command palette: every action, plus "chat with <agent>" for each agent."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import Hit, Hits, Provider

if TYPE_CHECKING:
    from sutazai.workbench.tui.app import WorkbenchApp

ACTIONS = [
    ("Agents", "show_tab('agents')", "the agents table"),
    ("Chat", "show_tab('chat')", "run and chat with an agent"),
    ("Traces", "show_tab('traces')", "runs step by step"),
    ("Backend", "show_tab('backend')", "live gateway stats"),
    ("Stack", "show_tab('stack')", "local services and logs"),
    ("New agent", "new_agent", "scaffold an agent from a template"),
    ("Aider on selected agent", "aider", "edit the agent with Aider (suspends the TUI)"),
    (
        "Debug selected agent",
        "debug_agent",
        "breakpoints on its tools and delegates, step, edit and continue",
    ),
    ("Compare smoke results", "compare_smoke", "two `sutazai smoke --out` files side by side"),
    ("Start stack", "stack_up", "sutazai stack up --detach"),
    ("Stop stack", "stack_down", "sutazai stack down"),
    ("Reload agents", "reload_agents", "re-read every agent file"),
    ("Toggle theme", "toggle_theme", "light / dark"),
    ("Help", "help", "keys and tabs"),
]


class WorkbenchCommands(Provider):
    async def search(self, query: str) -> Hits:
        app: WorkbenchApp = self.app  # type: ignore[assignment]
        matcher = self.matcher(query)
        for title, action, help_text in ACTIONS:
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), partial(app.run_action, action), help=help_text)
        for row in app.agents_pane.rows:
            title = f"Chat with {row.name}"
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), partial(app.chat_with, row.name), help=row.kind)
