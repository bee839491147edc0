"""A table of fixed-width rows, each rendered once: filtering reorders rows, it never re-renders them.

Textual's ``DataTable`` rebuilds its rows and render caches on every ``clear()``/``add_rows``; with
1,000 agents that cost 115 ms at the median per keystroke here (``bench.bench_tui``). This widget
keeps one ``Strip`` per row key, so a filter is a list of keys and a repaint of the visible lines.
It does what the Agents pane needs and no more: a header, a cursor, zebra stripes, keys and clicks.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cells = tuple[Text, ...]


class RowTable(ScrollView, can_focus=True):
    """Rows keyed by a string; ``set_rows`` shows them in the given order."""

    DEFAULT_CSS = """
    RowTable {
        background: $surface;
        color: $foreground;
        & > .row-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .row-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .row-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        & > .row-table--even { background: $surface-lighten-1 50%; }
        & > .row-table--flagged { color: $text-error; }
    }
    """
    COMPONENT_CLASSES = {"row-table--header", "row-table--cursor", "row-table--even", "row-table--flagged"}
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1_000_000)", "First", show=False),
        Binding("end", "move(1_000_000)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]
    cursor: reactive[int] = reactive(0, always_update=True)

    class Selected(Message):
        """Enter, or a click on the row under the cursor."""

        def __init__(self, table: RowTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(self, columns: Sequence[tuple[str, int]], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.keys: list[str] = []
        self._cells: dict[str, Cells] = {}
        self.flagged: frozenset[str] = frozenset()  # rows shown in the error colour (broken agents)
        self._strips: dict[str, Strip] = {}
        self._base: Style | None = None
        self._styles: dict[str, Style] = {}  # per render: computing a DOM style walks ancestors

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"row-table--{name}", partial=name != "header")
            self._styles[name] = style
        return style

    # --- data -------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self.keys)

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor] if self.keys else None

    def set_cells(self, cells: dict[str, Cells], flagged: frozenset[str] = frozenset()) -> None:
        """The rows that may be shown, by key; rendering happens on first display."""
        self._cells = cells
        self.flagged = flagged
        self._strips.clear()

    def set_row(self, key: str, cells: Cells, flagged: frozenset[str]) -> None:
        """One row's cells changed (a run finished): only its line is rendered again."""
        self._cells[key] = cells
        self.flagged = flagged
        self._strips.pop(key, None)
        self.refresh()

    def set_rows(self, keys: list[str]) -> None:
        """Show these rows in this order (keys must have cells); the cursor stays on its row if it
        is still shown."""
        current = self.cursor_key
        self.keys = keys
        self.virtual_size = Size(self._width(), len(keys) + 1)
        self.cursor = keys.index(current) if current in keys else 0
        self.refresh()

    def _width(self) -> int:
        return sum(width + 1 for _, width in self.columns)

    # --- rendering ----------------------------------------------------------------------------

    def _line(self, cells: Sequence[Text | str], style: Style) -> Strip:
        text = Text(no_wrap=True, overflow="ellipsis")
        for cell, (_, width) in zip(cells, self.columns, strict=False):
            piece = cell.copy() if isinstance(cell, Text) else Text(cell)
            piece.truncate(width, overflow="ellipsis", pad=True)
            text.append_text(piece)
            text.append(" ")
        segments = list(text.render(self.app.console))
        return Strip(Segment.apply_style(segments, style), text.cell_len)

    def _row_strip(self, key: str, base: Style) -> Strip:
        if base != self._base:
            self._strips.clear()
            self._base = base
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._line(self._cells[key], base)
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._style("base")
        if y == 0:  # the header stays put while rows scroll
            header = self._style("header")
            strip = self._line([label for label, _ in self.columns], base + header)
            return strip.crop_extend(0, width, base + header)
        index = y - 1 + self.scroll_offset.y
        if index >= len(self.keys):
            return Strip.blank(width, base)
        key = self.keys[index]
        strip = self._row_strip(key, base)
        if key in self.flagged:
            strip = _over(strip, self._style("flagged"))
        if index == self.cursor:
            strip = _over(strip, self._style("cursor"))
        elif index % 2:
            strip = _over(strip, self._style("even"))
        return strip.crop_extend(0, width, base)

    # --- cursor -------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        if self.keys and not 0 <= new < len(self.keys):
            self.cursor = max(0, min(new, len(self.keys) - 1))
            return
        # Two lines high: the pinned header hides the top line of the scrolled region.
        self.scroll_to_region(Region(0, new, 1, 2), animate=False, force=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.cursor = max(0, min(self.cursor + delta, len(self.keys) - 1))

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 2))

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.Selected(self, self.cursor_key))

    def on_click(self, event: events.Click) -> None:
        index = event.y - 1 + self.scroll_offset.y
        if event.y == 0 or not 0 <= index < len(self.keys):
            return
        if index == self.cursor:
            self.action_select()
        self.cursor = index

    def on_focus(self) -> None:
        self._styles.clear()  # the cursor's colours depend on focus
        self.refresh()

    def on_blur(self) -> None:
        self._styles.clear()
        self.refresh()


def _over(strip: Strip, style: Style) -> Strip:
    """``style`` laid over each segment's own (a cursor's colours win over a cell's)."""
    return Strip(Segment.apply_style(list(strip), post_style=style), strip.cell_length)
