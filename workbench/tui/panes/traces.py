"""Trace and debug: runs from the run store, step by step; edit a step's prompt and replay from it;
mark two runs to compare them side by side; turn a run into a smoke case with its cassette. A run
that delegated to other agents shows them as a tree you can fold, with each child's tokens and time.

The pane holds one run store for its life and queries it only from worker threads, one query at a
time: a highlight never blocks the UI on SQLite, and no connection is opened per row.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Static, Tree

from sutazai.agents.runstore import RunRecord, RunStore, StepRecord
from sutazai.workspace import Workspace

T = TypeVar("T")


def render_step(step: StepRecord) -> str:
    data = step.data
    head = f"[b]#{step.seq} {step.kind}[/b] {step.duration_ms:.1f} ms"
    if step.prompt_tokens or step.completion_tokens:
        head += f" · {step.prompt_tokens}+{step.completion_tokens} tokens"
    lines = [head]
    if step.kind == "llm":
        for message in data.get("messages", []):
            lines.append(f"[dim]{message.get('role')}:[/dim] {escape(str(message.get('content')))}")
        lines.append(f"[b]response:[/b] {escape(str(data.get('response', '')))}")
    elif step.kind == "tool":
        lines.append(
            escape(f"{data.get('tool')}({json.dumps(data.get('arguments'))}) → {data.get('result')}")
        )
    elif step.kind == "memory":
        lines += [f"{h['score']:.2f} {escape(h['text'])}" for h in data.get("hits", [])]
    else:
        lines.append(escape(json.dumps(data)))
    if step.error:
        lines.append(f"[b]error:[/b] {escape(step.error)}")
    return "\n".join(lines)


def render_run(record: RunRecord, steps: list[StepRecord]) -> str:
    head = (
        f"[b]{record.id}[/b] {record.agent} · {record.status} · "
        f"{record.prompt_tokens}+{record.completion_tokens} tokens\n[b]input:[/b] {escape(record.input)}"
    )
    body = "\n\n".join(render_step(s) for s in steps)
    tail = f"\n\n[b]output:[/b] {escape(record.output or record.error or '')}"
    return head + "\n\n" + body + tail


class TracesPane(Horizontal):
    BINDINGS = [
        Binding("e", "edit_replay", "Edit & replay"),
        Binding("m", "mark", "Mark to compare"),
        Binding("s", "smoke_case", "Smoke case from run"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.marked: list[str] = []
        self.steps: list[StepRecord] = []
        self.record: RunRecord | None = None
        self._store: RunStore | None = None  # one for the pane's life, used from worker threads
        self._store_lock = threading.Lock()

    def compose(self) -> ComposeResult:
        runs: DataTable[str] = DataTable(id="runs-table", cursor_type="row")
        runs.add_columns("run", "agent", "started", "status", "tokens")
        yield runs
        with Vertical(id="trace-right"):
            steps: DataTable[str] = DataTable(id="steps-table", cursor_type="row")
            steps.add_columns("#", "kind", "ms", "tokens", "summary")
            yield steps
            calls: Tree[str] = Tree("delegated runs", id="run-tree")
            calls.display = False  # only for runs that called other agents
            yield calls
            with VerticalScroll(id="step-scroll"):
                yield Static("select a run, then a step", id="step-detail")

    def on_show(self) -> None:
        """Runs load when the pane is first shown (and on every return to it), not at start-up."""
        self.action_reload()

    def on_unmount(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _read(self, query: Callable[[RunStore], T], empty: T) -> T:
        """Run a store query on a worker thread: one store, opened once, one query at a time."""
        with self._store_lock:
            if self._store is None:
                if not self.workspace.runs_db.exists():
                    return empty
                self._store = RunStore(self.workspace.runs_db)
            return query(self._store)

    @work(thread=True, exclusive=True, group="runs")
    def action_reload(self) -> None:
        none: list[RunRecord] = []
        records = self._read(lambda store: store.runs(limit=500), none)
        self.app.call_from_thread(self._show_runs, records)

    def _show_runs(self, records: list[RunRecord]) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        for r in records:
            when = dt.datetime.fromtimestamp(r.started_at).strftime("%m-%d %H:%M:%S")
            table.add_row(r.id, r.agent, when, r.status, str(r.prompt_tokens + r.completion_tokens), key=r.id)
        self._run_highlighted()

    def current_run(self) -> str | None:
        table = self.query_one("#runs-table", DataTable)
        return str(table.get_row_at(table.cursor_row)[0]) if table.row_count else None

    @on(DataTable.RowHighlighted, "#runs-table")
    def _run_highlighted(self) -> None:
        run_id = self.current_run()
        if run_id:
            self.load_run(run_id)

    @work(thread=True, exclusive=True, group="run")
    def load_run(self, run_id: str) -> None:
        nothing: tuple[RunRecord | None, list[StepRecord], list[dict[str, Any]]] = (None, [], [])
        record, steps, tree = self._read(
            lambda store: (store.run(run_id), store.steps(run_id), store.tree(run_id)), nothing
        )
        self.app.call_from_thread(self._show_run, record, steps, tree)

    def _show_tree(self, tree: list[dict[str, Any]]) -> None:
        widget = self.query_one("#run-tree", Tree)
        widget.clear()
        widget.display = bool(tree)

        def add(node: Any, children: list[dict[str, Any]]) -> None:
            for child in children:
                ms = (
                    "running"
                    if child["ended_at"] is None
                    else f"{(child['ended_at'] - child['started_at']) * 1000:.0f} ms"
                )
                label = (
                    f"step #{child['parent_step']} → {child['agent']} · {child['status']} · "
                    f"{child['prompt_tokens'] + child['completion_tokens']} tokens · {ms}"
                )
                add(
                    node.add(label, expand=True) if child["children"] else node.add_leaf(label),
                    child["children"],
                )

        add(widget.root, tree)
        widget.root.expand()

    def _show_run(
        self, record: RunRecord | None, steps: list[StepRecord], tree: list[dict[str, Any]] | None = None
    ) -> None:
        self.record, self.steps = record, steps
        self._show_tree(tree or [])
        table = self.query_one("#steps-table", DataTable)
        table.clear()
        for s in self.steps:
            summary = str(s.data.get("response") or s.data.get("tool") or s.error or "")[:60].replace(
                "\n", " "
            )
            table.add_row(
                str(s.seq),
                s.kind,
                f"{s.duration_ms:.0f}",
                str(s.prompt_tokens + s.completion_tokens),
                summary,
            )
        if record:
            detail = self.query_one("#step-detail", Static)
            detail.update(render_run(record, self.steps))
            detail.set_class(record.status != "ok", "-error")

    @on(DataTable.RowHighlighted, "#steps-table")
    def _step_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.steps):
            step = self.steps[event.cursor_row]
            detail = self.query_one("#step-detail", Static)
            detail.update(render_step(step))
            detail.set_class(step.error is not None, "-error")

    def action_edit_replay(self) -> None:
        from sutazai.workbench.tui.screens.replay import ReplayScreen

        table = self.query_one("#steps-table", DataTable)
        llm = [s for s in self.steps if s.kind == "llm"]
        if not llm:
            self.notify("this run has no model call to replay", severity="warning")
            return
        row = table.cursor_row if table.row_count else 0
        step = self.steps[row] if row < len(self.steps) and self.steps[row].kind == "llm" else llm[0]
        if self.record:
            self.app.push_screen(ReplayScreen(self.workspace, self.record.agent, step))

    def action_mark(self) -> None:
        from sutazai.workbench.tui.screens.compare import CompareScreen

        run_id = self.current_run()
        if not run_id:
            return
        self.marked = [*self.marked[-1:], run_id] if run_id not in self.marked else self.marked
        if len(self.marked) == 2:
            self.app.push_screen(CompareScreen(self.workspace, self.marked[0], self.marked[1]))
            self.marked = []
        else:
            self.notify(f"marked {run_id}; mark another run to compare")

    @work(thread=True, exclusive=True, group="smoke-add")
    def action_smoke_case(self) -> None:
        """The highlighted run becomes a smoke case and its cassette (``sutazai smoke add``)."""
        import asyncio

        from sutazai.agents.gateway_client import GatewayClient
        from sutazai.agents.loader import AgentCatalog
        from sutazai.agents.smoke.from_run import add_from_run
        from sutazai.errors import UserError
        from sutazai.workbench.tui.errors import show_error

        record = self.record
        if record is None:
            return
        settings = self.workspace.settings

        async def embed(texts: list[str]) -> list[list[float]]:
            async with GatewayClient(settings.gateway.url, settings.gateway.timeout_s) as client:
                return await client.embed(texts, settings.memory.embedding_model, agent=record.agent)

        try:
            agent = AgentCatalog.scan(self.workspace).get(record.agent)
            added = self._read(
                lambda store: asyncio.run(add_from_run(agent, store, record.id, None, embed)), None
            )
        except UserError as exc:
            show_error(self, exc, "smoke case not added")
            return
        if added is not None:
            message = f"case {added.case.name} added to {added.smoke_file.name}; edit its expectations"
            self.app.call_from_thread(self.notify, message, title="smoke case")
