"""Agents: every agent of the workspace, fuzzy-filtered and sortable; broken ones shown with why."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input

from sutazai.workbench.tui.data import AgentRow, load_rows
from sutazai.workbench.tui.fuzzy import score
from sutazai.workbench.tui.messages import AgentChosen, ChatWith
from sutazai.workbench.tui.widgets.fixed_table import FixedColumnsTable
from sutazai.workspace import Workspace

# Fixed widths: DataTable then skips measuring every cell, which keeps a 1,000-row filter fast.
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
    BINDINGS = [
        Binding("s", "cycle_sort", "Sort"),
        Binding("c", "chat", "Chat"),
    ]

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.rows: list[AgentRow] = []
        self.sort_key = "name"
        self._cells: dict[str, tuple[Text, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter agents (fuzzy)", id="agent-filter")
        table = FixedColumnsTable(id="agents-table", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        yield table

    def on_mount(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="agents-load")
    def reload(self) -> None:
        self.app.call_from_thread(self._loaded, load_rows(self.workspace))

    def _loaded(self, rows: list[AgentRow]) -> None:
        self.rows = rows
        self._cells = {r.name: self._cells_of(r) for r in rows}  # built once, reused by every filter
        self.refresh_table()

    @staticmethod
    def _cells_of(r: AgentRow) -> tuple[Text, ...]:
        when = dt.datetime.fromtimestamp(r.last_run).strftime("%m-%d %H:%M") if r.last_run else "-"
        status = Text(r.status, style="red" if r.status in ("broken", "error") else "")
        return (
            Text(r.name),
            Text(r.kind),
            Text(r.model),
            status,
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
        table = self.query_one("#agents-table", DataTable)
        table.clear()
        table.add_rows(self._cells[r.name] for r in self.visible_rows())
        self.border_title = f"{len(self.rows)} agents"

    @on(Input.Changed, "#agent-filter")
    def _filter(self) -> None:
        self.refresh_table()

    @on(Input.Submitted, "#agent-filter")
    def _to_table(self) -> None:
        self.query_one("#agents-table", DataTable).focus()

    def selected(self) -> str | None:
        table = self.query_one("#agents-table", DataTable)
        if table.row_count == 0:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    @on(DataTable.RowSelected, "#agents-table")
    def _chosen(self) -> None:
        name = self.selected()
        if name:
            self.post_message(AgentChosen(name))

    def action_focus_filter(self) -> None:
        self.query_one("#agent-filter", Input).focus()

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.notify(f"sorted by {self.sort_key.replace('_', ' ')}")
        self.refresh_table()

    def action_chat(self) -> None:
        name = self.selected()
        if name:
            self.post_message(ChatWith(name))
