"""Trace and debug: runs from the run store, step by step; edit a step's prompt and replay from it;
mark two runs to compare them side by side; turn a run into a smoke case with its cassette. A run
that delegated to other agents shows them as a tree you can fold, with each child's tokens and time.

The pane holds one run store for its life and queries it only from worker threads, one query at a
time: a highlight never blocks the UI on SQLite, and no connection is opened per row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from sutazai.agents.run_record import LlmStep, RunView, Step, run_view
from sutazai.agents.runstore import RunRecord, RunStore
from sutazai.workbench.run_render import child_label, render_run, render_step, when
from sutazai.workspace import Workspace

T = TypeVar("T")


def run_rows(records: list[RunRecord], unfolded: set[str]) -> list[tuple[int, RunRecord, int]]:
    """The runs list as a tree: each run whose parent is not listed is a root, its children right
    under it when unfolded. Rows are (depth, run, number of children)."""
    listed = {r.id for r in records}
    children: dict[str, list[RunRecord]] = {}
    for r in records:
        if r.parent_run in listed:
            children.setdefault(str(r.parent_run), []).append(r)
    rows: list[tuple[int, RunRecord, int]] = []

    def add(run: RunRecord, depth: int) -> None:
        below = sorted(children.get(run.id, []), key=lambda c: c.started_at)
        rows.append((depth, run, len(below)))
        if run.id in unfolded:
            for child in below:
                add(child, depth + 1)

    for r in records:
        if r.parent_run not in listed:
            add(r, 0)
    return rows


def agent_cell(run: RunRecord, depth: int, below: int, unfolded: bool) -> Text:
    marker = ("▾ " if unfolded else "▸ ") if below else "  "
    cell = Text("  " * depth + ("↳ " if depth else "") + marker + run.agent)
    if below and not unfolded:
        cell.append(f" (+{below})", style="dim")
    return cell


class TracesPane(Horizontal):
    BINDINGS = [
        Binding("e", "edit_replay", "Edit & replay"),
        Binding("m", "mark", "Mark to compare"),
        Binding("s", "smoke_case", "Smoke case from run"),
        Binding("space", "fold", "Fold/unfold"),
        Binding("f5", "reload", "Reload"),
    ]

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.marked: list[str] = []
        self.view: RunView | None = None
        self.records: list[RunRecord] = []
        self.unfolded: set[str] = set()
        self.wanted: str | None = None  # a run to put the cursor on once the list has it
        self._store: RunStore | None = None  # one for the pane's life, used from worker threads
        self._store_lock = threading.Lock()

    def compose(self) -> ComposeResult:
        runs: DataTable[str] = DataTable(id="runs-table", cursor_type="row")
        # Fixed widths: rows arrive from workers, and a run's tree moves them; the columns stay put.
        for label, width in (("run", 12), ("agent", 18), ("started", 14), ("status", 9), ("tokens", 6)):
            runs.add_column(label, width=width)
        yield runs
        with Vertical(id="trace-right"):
            steps: DataTable[str] = DataTable(id="steps-table", cursor_type="row")
            for label, width in (("#", 3), ("kind", 10), ("ms", 6), ("tokens", 6), ("summary", 60)):
                steps.add_column(label, width=width)
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

    @property
    def record(self) -> RunRecord | None:
        return self.view.run if self.view else None

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.view.steps if self.view else ()

    def show_run(self, run_id: str) -> None:
        """Put the cursor on this run (a failed smoke sample's, from the agent view), reading it
        in even when it is older than the newest 500."""
        self.wanted = run_id
        self.action_reload()

    @work(thread=True, exclusive=True, group="runs")
    def action_reload(self) -> None:
        none: list[RunRecord] = []
        records = self._read(lambda store: store.runs(limit=500), none)
        wanted = self.wanted
        if wanted and wanted not in {r.id for r in records}:
            found = self._read(lambda store: store.run(wanted), None)
            records = [found, *records] if found else records
        if not get_current_worker().is_cancelled:  # a newer reload (show_run's) has the last word
            self.app.call_from_thread(self._show_runs, records)

    def _show_runs(self, records: list[RunRecord], keep: str | None = None) -> None:
        """Rows in tree order, newest first; the cursor on ``keep`` (or the run asked for by
        :meth:`show_run`) if given, else on top."""
        if self.wanted and any(r.id == self.wanted for r in records):
            keep, self.wanted = self.wanted, None
        self.records = records
        table = self.query_one("#runs-table", DataTable)
        table.clear()
        for depth, r, below in run_rows(records, self.unfolded):
            table.add_row(
                r.id,
                agent_cell(r, depth, below, r.id in self.unfolded),
                when(r.started_at),
                r.status,
                str(r.prompt_tokens + r.completion_tokens),
                key=r.id,
            )
        if keep is not None and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))
        self._run_highlighted()

    def update_run(self, run_id: str) -> None:
        """A run finished (or changed): read that one run and put it in place, nothing else."""
        self._refresh_one(run_id)

    @work(thread=True, group="run-update")
    def _refresh_one(self, run_id: str) -> None:
        record = self._read(lambda store: store.run(run_id), None)
        if record is not None:
            self.app.call_from_thread(self._put_run, record)

    def _put_run(self, record: RunRecord) -> None:
        known = {r.id: i for i, r in enumerate(self.records)}
        if record.id in known:
            self.records[known[record.id]] = record
        else:
            self.records.insert(0, record)
        table = self.query_one("#runs-table", DataTable)
        if record.id in table.rows and record.parent_run not in known:
            row = table.get_row_index(record.id)
            table.update_cell_at(Coordinate(row, 3), record.status)
            table.update_cell_at(Coordinate(row, 4), str(record.prompt_tokens + record.completion_tokens))
        else:
            self._show_runs(self.records, keep=self.current_run())

    def action_fold(self) -> None:
        run_id = self.current_run()
        if run_id is None:
            return
        self.unfolded ^= {run_id}
        self._show_runs(self.records, keep=run_id)

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
        def read(store: RunStore) -> RunView | None:
            record = store.run(run_id)
            return run_view(store, record) if record else None

        self.app.call_from_thread(self._show_run, self._read(read, None))

    def _show_tree(self, view: RunView | None) -> None:
        widget = self.query_one("#run-tree", Tree)
        widget.clear()
        widget.display = bool(view and view.children)

        def add(node: TreeNode[str], children: tuple[RunView, ...]) -> None:
            for child in children:
                label = child_label(child)
                add(node.add(label, expand=True) if child.children else node.add_leaf(label), child.children)

        if view is not None:
            add(widget.root, view.children)
        widget.root.expand()

    def _show_run(self, view: RunView | None) -> None:
        self.view = view
        self._show_tree(view)
        table = self.query_one("#steps-table", DataTable)
        table.clear()
        for s in self.steps:
            table.add_row(
                str(s.seq),
                s.kind,
                f"{s.duration_ms:.0f}",
                str(s.tokens),
                s.summary[:60].replace("\n", " "),
            )
        if view is not None:
            detail = self.query_one("#step-detail", Static)
            detail.update(render_run(view))
            detail.set_class(view.run.status != "ok", "-error")

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
        llm = [s for s in self.steps if isinstance(s, LlmStep)]
        if not llm:
            self.notify("this run has no model call to replay", severity="warning")
            return
        row = table.cursor_row if table.row_count else 0
        chosen = self.steps[row] if row < len(self.steps) else None
        step = chosen if isinstance(chosen, LlmStep) else llm[0]
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
            async with GatewayClient.for_workspace(self.workspace, agent=record.agent) as client:
                return await client.embed(texts, settings.memory.embedding_model, agent=record.agent)

        try:
            catalog = AgentCatalog.scan(self.workspace)
            agent = catalog.get(record.agent)
            added = self._read(
                lambda store: asyncio.run(add_from_run(agent, store, record.id, None, embed, catalog.get)),
                None,
            )
        except UserError as exc:
            show_error(self, exc, "smoke case not added")
            return
        if added is not None:
            message = f"case {added.case.name} added to {added.smoke_file.name}; edit its expectations"
            self.app.call_from_thread(self.notify, message, title="smoke case")
