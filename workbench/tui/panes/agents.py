"""Agents: every agent of the workspace, fuzzy-filtered and sortable; broken ones shown with why."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from sutazai.workbench.tui import listing_cache
from sutazai.workbench.tui.data import AgentRow, load_rows, quick_rows
from sutazai.workbench.tui.fuzzy import score
from sutazai.workbench.tui.widgets.row_table import RowTable
from sutazai.workspace import Workspace

if TYPE_CHECKING:
    from sutazai.agents.runstore import RunRecord

# Fixed widths: each row renders once, whatever the filter (see widgets/row_table.py).
COLUMNS = (
    ("name", 22),
    ("kind", 12),
    ("model", 9),
    ("status", 9),
    ("last run", 11),
    ("tokens", 6),
    ("errors", 60),
)
SORT_KEYS = ("name", "kind", "status", "last_run", "tokens")


class AgentsPane(Vertical):
    """Lists agents; posts :class:`AgentsPane.Chosen` (open) and :class:`AgentsPane.ChatWith`."""

    class Chosen(Message):
        """Open this agent's detail screen."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class ChatWith(Message):
        """Chat with this agent."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort"),
        Binding("c", "chat", "Chat"),
    ]

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.rows: list[AgentRow] = []
        self.checked = False  # every row checked now (not only the cached ones of the first frame)
        self.sort_key = "name"

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter agents (fuzzy)", id="agent-filter")
        yield RowTable(COLUMNS, id="agents-table")

    def on_mount(self) -> None:
        """The first frame lists every agent: the rows last checked where their files have not
        changed, else a quick read of every folder (~0.15 ms an agent, libyaml, no pydantic; a
        worker would only deliver them after the deferred panes have mounted, ~0.3 s later).
        :meth:`reload` (after the first frame) checks every agent and replaces them."""
        self._loaded(listing_cache.cached_rows(self.workspace.root) or quick_rows(self.workspace))

    @work(thread=True, exclusive=True, group="agents-load")
    def reload(self) -> None:
        """Check every agent (the rows on screen may be cached or unchecked ones) and keep the
        result for the next start."""
        stamps = listing_cache.stamps(self.workspace.root)
        rows = load_rows(self.workspace)
        listing_cache.save(self.workspace.root, stamps, rows)
        # What is loaded now lives as long as the app: keep the cyclic GC from walking it again on
        # every full collection, which stalled a keystroke by 50-70 ms with 1,000 agents (the
        # gc.freeze() that Instagram documented). The previous load is released first.
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.app.call_from_thread(self._loaded, rows, True)

    @work(thread=True, group="agent-update")
    def update_agent(self, name: str) -> None:
        """One agent's last run changed: read that run and repaint its row, nothing else."""
        from sutazai.agents.runstore import RunStore

        if not self.workspace.runs_db.exists():
            return
        store = RunStore(self.workspace.runs_db)
        try:
            latest = store.runs(name, limit=1)
        finally:
            store.close()
        if latest:
            self.app.call_from_thread(self._run_finished, name, latest[0])

    def _run_finished(self, name: str, run: RunRecord) -> None:
        for index, row in enumerate(self.rows):
            if row.name == name and row.status != "broken":
                self.rows[index] = row = dataclasses.replace(
                    row,
                    status=run.status,
                    last_run=run.started_at,
                    tokens=run.prompt_tokens + run.completion_tokens,
                    errors=(run.error or "")[:80],
                )
                table = self.query_one("#agents-table", RowTable)
                flagged = frozenset(r.name for r in self.rows if r.status in ("broken", "error"))
                table.set_row(name, self._cells_of(row), flagged)
                return

    def _loaded(self, rows: list[AgentRow], checked: bool = False) -> None:
        self.rows = rows
        self.checked = self.checked or checked
        flagged = frozenset(r.name for r in rows if r.status in ("broken", "error"))
        self.query_one("#agents-table", RowTable).set_cells(
            {r.name: self._cells_of(r) for r in rows}, flagged
        )
        self.refresh_table()

    @staticmethod
    def _cells_of(r: AgentRow) -> tuple[Text, ...]:
        when = dt.datetime.fromtimestamp(r.last_run).strftime("%m-%d %H:%M") if r.last_run else "-"
        return (
            Text(r.name),
            Text(r.kind),
            Text(r.model),
            Text(r.status),
            Text(when),
            Text(str(r.tokens or "")),
            Text(r.errors),
        )

    def visible_rows(self) -> list[AgentRow]:
        query = self.query_one("#agent-filter", Input).value.strip()
        if query:
            scored = [(s, r) for r in self.rows if (s := score(query, r.search_text())) is not None]
            rows = [r for _, r in sorted(scored, key=lambda pair: (pair[0], pair[1].name))]
        else:
            rows = list(self.rows)
            if self.sort_key != "name":
                rows.sort(
                    key=lambda r: (
                        (getattr(r, self.sort_key) or 0)
                        if self.sort_key in ("last_run", "tokens")
                        else str(getattr(r, self.sort_key))
                    ),
                    reverse=self.sort_key in ("last_run", "tokens"),
                )
        return rows

    def refresh_table(self) -> None:
        self.query_one("#agents-table", RowTable).set_rows([r.name for r in self.visible_rows()])
        self.border_title = f"{len(self.rows)} agents"

    @on(Input.Changed, "#agent-filter")
    def _filter(self) -> None:
        self.refresh_table()

    @on(Input.Submitted, "#agent-filter")
    def _to_table(self) -> None:
        self.query_one("#agents-table", RowTable).focus()

    def selected(self) -> str | None:
        return self.query_one("#agents-table", RowTable).cursor_key

    @on(RowTable.Selected, "#agents-table")
    def _chosen(self, event: RowTable.Selected) -> None:
        self.post_message(self.Chosen(event.key))

    def action_focus_filter(self) -> None:
        self.query_one("#agent-filter", Input).focus()

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.notify(f"sorted by {self.sort_key.replace('_', ' ')}")
        self.refresh_table()

    def action_chat(self) -> None:
        name = self.selected()
        if name:
            self.post_message(self.ChatWith(name))
