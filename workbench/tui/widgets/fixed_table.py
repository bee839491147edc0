"""A DataTable whose columns all have fixed widths, so adding rows measures nothing.

DataTable measures every cell of every new row to size auto-width columns; with 1,000 agents that
is most of a filter's cost. When no column is auto-width, no label column is used and rows have a
fixed height, the measurement has no effect, so only the virtual size is updated. This leans on
DataTable's private ``_update_dimensions``: ``bench/bench_tui.py`` and the TUI tests catch a change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets._data_table import RowKey


class FixedColumnsTable(DataTable[Any]):
    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        fixed = all(not column.auto_width for column in self.columns.values())
        if not fixed or self._labelled_row_exists or any(r.auto_height for r in self.rows.values()):
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self._total_row_height + header)
