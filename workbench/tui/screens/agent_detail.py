"""Agent detail: the spec with syntax highlighting and its problems inline, the agent's files, the
latest verdict of each smoke case (``t`` opens a failed sample's trace), and its memory
(collection, vector count, and a search box showing what the agent would retrieve)."""

from __future__ import annotations

from rich.markup import escape
from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from sutazai.agents.loader import load_agent
from sutazai.agents.smoke import latest
from sutazai.errors import Problem, SpecError
from sutazai.workbench.tui.errors import show_error
from sutazai.workspace import AGENT_FILE, Workspace


class AgentDetailScreen(Screen[None]):
    class ChatWith(Message):
        """Chat with the agent on screen (the screen closes first)."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class ShowRun(Message):
        """Open this run in the Traces pane (the screen closes first)."""

        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "chat", "Chat"),
        Binding("a", "app.aider", "Aider"),
        Binding("t", "failed_trace", "Failed sample's trace"),
    ]

    def __init__(self, workspace: Workspace, name: str) -> None:
        super().__init__()
        self.workspace = workspace
        self.agent_name = name
        self.failed_runs: list[str] = []  # of the latest smoke verdicts, newest case first

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with VerticalScroll(id="spec-view"):
                yield Static("", id="spec-text")
                yield Static("", id="spec-problems")
            with Vertical(id="agent-side"):
                yield Static("[b]files[/b]\n…", id="agent-files")
                yield Static("[b]smoke[/b]\n…", id="agent-smoke")
                yield Static("[b]memory[/b]\n…", id="agent-memory")
                yield Input(placeholder="search this agent's memory", id="memory-search")
                yield Static("", id="memory-results")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"agent {self.agent_name}"
        self.load_spec()
        self.load_memory()

    @work(thread=True, exclusive=True, group="spec")
    def load_spec(self) -> None:
        """Read the spec, its problems and the folder on a worker thread: paint first, then fill."""
        folder = self.workspace.agent_dir(self.agent_name)
        spec_file = folder / AGENT_FILE
        text = spec_file.read_text(encoding="utf-8", errors="replace") if spec_file.exists() else ""
        try:
            load_agent(folder)
            problems: list[Problem] = []
        except SpecError as exc:
            problems = list(exc.problems)
        files = (
            sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) if folder.exists() else []
        )
        self.app.call_from_thread(self._show_spec, text, problems, files)
        self.app.call_from_thread(self._show_smoke, latest.read(self.workspace, self.agent_name))

    def _show_smoke(self, verdicts: dict[str, latest.LatestCase]) -> None:
        newest_first = sorted(verdicts.items(), key=lambda item: item[1].at, reverse=True)
        self.failed_runs = [run for _, case in newest_first for run in case.failed_runs]
        lines = [
            f"{case.mark} {escape(name)}: {escape(case.label())}" for name, case in sorted(verdicts.items())
        ]
        hint = "\n[dim]t: trace of a failed sample[/dim]" if self.failed_runs else ""
        body = "\n".join(lines) or "no live run yet: sutazai smoke " + escape(self.agent_name)
        self.query_one("#agent-smoke", Static).update("[b]smoke[/b]\n" + body + hint)

    def action_failed_trace(self) -> None:
        if not self.failed_runs:
            self.notify("no failed sample in the latest smoke results")
            return
        self.app.pop_screen()
        self.app.post_message(self.ShowRun(self.failed_runs[0]))

    def _show_spec(self, text: str, problems: list[Problem], files: list[str]) -> None:
        lines = {p.line for p in problems if p.line}
        syntax = Syntax(
            text, "yaml", line_numbers=True, highlight_lines=lines, word_wrap=True, theme="ansi_dark"
        )
        self.query_one("#spec-text", Static).update(syntax)
        listing = "\n".join(
            f"[b]line {p.line}:[/b] {escape(p.message)}"
            + (f"\n  [dim]{escape(p.hint)}[/dim]" if p.hint else "")
            for p in problems
        )
        self.query_one("#spec-problems", Static).update(listing)
        self.query_one("#spec-problems", Static).display = bool(problems)
        self.query_one("#agent-files", Static).update("[b]files[/b]\n" + "\n".join(files))

    @work(exclusive=True, group="memory")
    async def load_memory(self, query: str | None = None) -> None:
        from sutazai.agents.session import open_runtime
        from sutazai.errors import UserError

        memory_box = self.query_one("#agent-memory", Static)
        try:
            agent = load_agent(self.workspace.agent_dir(self.agent_name))
        except UserError:
            memory_box.update("[b]memory[/b]\n(fix the spec first)")
            return
        async with open_runtime(self.workspace) as runtime:
            memory = runtime.memory_for(agent)
            backend = agent.spec.memory.backend or self.workspace.settings.memory.backend
            memory_box.update(
                f"[b]memory[/b] {backend} · collection {agent.spec.collection_name()} · "
                f"{memory.store.count()} vectors"
            )
            if query:
                try:
                    hits = await memory.recall(query, agent.spec.memory.top_k or 4)
                except UserError as exc:
                    show_error(self, exc, "memory search")
                    return
                results = "\n".join(f"{h.score:.2f} {escape(h.text)}" for h in hits) or "nothing retrieved"
                self.query_one("#memory-results", Static).update(results)

    @on(Input.Submitted, "#memory-search")
    def _search(self, event: Input.Submitted) -> None:
        self.load_memory(event.value)

    def action_chat(self) -> None:
        self.app.pop_screen()
        self.app.post_message(self.ChatWith(self.agent_name))
