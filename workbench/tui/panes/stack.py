"""Stack: the local services with health; start, stop, restart; a live tail of the chosen log."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, RichLog

from sutazai.errors import UserError
from sutazai.stack.state import ServiceState
from sutazai.workbench.tui.errors import show_error
from sutazai.workspace import Workspace


class StackPane(Vertical):
    BINDINGS = [
        Binding("u", "up", "Start stack"),
        Binding("d", "down", "Stop stack"),
        Binding("r", "restart", "Restart service"),
    ]

    def __init__(self, workspace: Workspace, id: str | None = None) -> None:
        super().__init__(id=id)
        self.workspace = workspace
        self.log_path: Path | None = None
        self.log_offset = 0

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="services-table", cursor_type="row")
        # Fixed widths: the table does not jump when its rows arrive from a worker.
        for label, width in (
            ("service", 9),
            ("state", 8),
            ("health", 8),
            ("pid", 7),
            ("url", 24),
            ("restarts", 8),
        ):
            table.add_column(label, width=width)
        yield table
        yield RichLog(id="service-log", wrap=False, highlight=False, markup=False, max_lines=2000)

    def on_mount(self) -> None:
        self._polls = [
            self.set_interval(2.0, self.refresh_status, pause=True),
            self.set_interval(0.5, self.tail, pause=True),
        ]

    def on_show(self) -> None:
        """Health checks and log tails run while the pane is on screen, never behind another tab."""
        for timer in self._polls:
            timer.resume()
        self.refresh_status()

    def on_hide(self) -> None:
        for timer in self._polls:
            timer.pause()

    @work(thread=True, exclusive=True, group="stack-status")
    def refresh_status(self) -> None:
        from sutazai.stack import control

        try:
            rows = control.status(self.workspace)
        except UserError as exc:
            show_error(self, exc, "stack status")
            return
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[ServiceState]) -> None:
        table = self.query_one("#services-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in rows:
            health = r.health.upper() if r.pid and r.health != "healthy" else r.health
            table.add_row(r.name, r.state, health, str(r.pid or "-"), r.url, str(r.restarts))
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
            self._select_log()

    def selected(self) -> str | None:
        table = self.query_one("#services-table", DataTable)
        return str(table.get_row_at(table.cursor_row)[0]) if table.row_count else None

    @on(DataTable.RowHighlighted, "#services-table")
    def _select_log(self) -> None:
        from sutazai.stack.services import stack_dir

        name = self.selected()
        path = stack_dir(self.workspace) / f"{name}.log" if name else None
        if path != self.log_path:
            self.log_path, self.log_offset = path, 0
            self.query_one("#service-log", RichLog).clear()
            self.tail()

    @work(thread=True, exclusive=True, group="stack-log")
    def tail(self) -> None:
        """New lines of the selected service's log, read on a worker: the UI thread never waits on
        the disk (this runs every 0.5 s while the pane shows)."""
        path, offset = self.log_path, self.log_offset
        if path is None or not path.exists():
            return
        size = path.stat().st_size
        if size <= offset:
            return
        with path.open("rb") as fh:
            fh.seek(max(offset, size - 64_000))
            chunk = fh.read()
        self.app.call_from_thread(self._append, path, size, chunk.decode("utf-8", "replace"))

    def _append(self, path: Path, size: int, text: str) -> None:
        if path != self.log_path:  # another service was selected meanwhile
            return
        self.log_offset = size
        log = self.query_one("#service-log", RichLog)
        for line in text.splitlines():
            log.write(line)

    @work(thread=True, exclusive=True, group="stack-control")
    def action_up(self) -> None:
        from sutazai.stack import control

        self.app.call_from_thread(self.notify, "starting the stack…")
        try:
            control.up(self.workspace, detach=True)
            self.app.call_from_thread(self.notify, "stack is up")
        except UserError as exc:
            show_error(self, exc, "stack up failed")
        self.refresh_status()

    @work(thread=True, exclusive=True, group="stack-control")
    def action_down(self) -> None:
        from sutazai.stack import control

        stopped = control.down(self.workspace)
        self.app.call_from_thread(self.notify, "stack stopped" if stopped else "stack was not running")
        self.refresh_status()

    def action_restart(self) -> None:
        from sutazai.stack import control

        name = self.selected()
        if not name:
            return
        try:
            control.restart(self.workspace, name)
            self.notify(f"restarting {name}")
        except UserError as exc:
            show_error(self, exc, "restart")
