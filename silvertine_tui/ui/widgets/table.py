"""The keyed tables of the desk (orders, positions, balances, signals): line-API
tables that look like Textual's DataTable and show the columns that fit.

Columns have priorities: the table shows the columns that fit its width, dropping the
least important first (the highest `priority` number; 0 is never dropped), so a pane
never scrolls sideways and no header is cut. The fit is checked when rows come or go,
when a value is wider than any before, and on resize.

These were DataTables: each cell went through Rich's console, and a row added or
removed laid the whole screen out; with orders coming and going ten times a second
that was most of a working desk's frame. Here a changed row rebuilds only its strip.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip

from .columns import Column, fit_columns
from .line_table import Cell, LineTable

__all__ = ["Cell", "Column", "KeyedTable", "fit_columns"]


class KeyedTable(LineTable):
    """`sync(rows)` adds new rows, removes gone ones, and redraws only rows whose
    cells changed. Drawn as Textual's DataTable draws a row-cursor table: a space each
    side of every cell, the cursor row across the whole width in the cursor's colour."""

    PAD_LEFT: ClassVar[int] = 1
    PAD_RIGHT: ClassVar[int] = 1
    DEFAULT_CSS = """
    KeyedTable {
        &:focus {
            background-tint: $foreground 5%;
            & > .line-table--header {
                background-tint: $foreground 5%;
            }
        }
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._mounted = False
        self._overflowing = False
        self.rebuilds = 0  # times the columns shown were chosen again
        self.syncs = 0  # times the pane was handed its rows (once per redraw of it)
        # Rows handed to the table, by key: what a redraw touched (tests read it).
        self.rows_drawn: Counter[str] = Counter()

    def on_mount(self) -> None:
        self._mounted = True
        self._refit(force=True)

    def on_resize(self, event: events.Resize) -> None:
        self._refit()

    def _row_given(self, key: str) -> None:
        self.rows_drawn[key] += 1

    # -- columns that fit ----------------------------------------------------------------

    def _content_width(self) -> int:
        """The width the columns may use: the table's, less a vertical scrollbar when
        the rows will not fit its height."""
        width = self.size.width
        if len(self._cells) + 1 > self.size.height:  # the rows and the header
            width -= self.styles.scrollbar_size_vertical
        return width

    def column_widths(self) -> list[int]:
        """Each column's rendered width (label or widest cell, plus padding)."""
        pad = self.PAD_LEFT + self.PAD_RIGHT
        widths = []
        for i, col in enumerate(self.COLUMNS):
            if col.width is not None:
                widths.append(max(col.width, cell_len(col.label)) + pad)
                continue
            widest = max((cell_len(cells[i].text) for cells in self._cells.values()), default=0)
            widths.append(max(cell_len(col.label), col.min_width, widest) + pad)
        return widths

    def _fit_columns(self) -> bool:
        before = self.rebuilds
        self._refit(restore=False)
        return self.rebuilds != before

    def refit(self) -> None:
        """Show again the columns that fit now (the screen calls this once a second)."""
        self._refit()

    def _too_wide(self) -> bool:
        # A column keeps the width of the widest value it held since the columns were
        # last chosen: when values got narrower the table may be wider than its pane.
        return self._mounted and self._offsets[-1] > self._content_width()

    def _refit(self, *, force: bool = False, restore: bool = True) -> None:
        """Choose the columns that fit. Without `restore` a column may drop but none
        comes back: an order passing through PENDING_NEW widens Status for a moment, and
        the Type column went and came back with every order (the whole pane repainted,
        many times a second); it comes back at the next `refit` (once a second), or
        when the table is empty."""
        if not self._mounted:
            return
        available = self._content_width()
        if available <= 0 and not force:
            return
        shown = self._fit(available) if available > 0 else tuple(range(len(self.COLUMNS)))
        overflow = self._offsets[-1] > available
        if not (restore or force or overflow or not self._cells or set(shown) <= set(self._shown)):
            shown = self._shown
        # A table whose must-show columns alone are wider than the pane stays wide:
        # choose again once for that, not on every update.
        if shown != self._shown or force or (overflow and not self._overflowing):
            self.rebuilds += 1
            self._show_columns(shown)
            overflow = self._offsets[-1] > available
        self._overflowing = overflow

    def _fit(self, available: int) -> tuple[int, ...]:
        return fit_columns(self.column_widths(), self.priorities(), available)

    def priorities(self) -> list[float]:
        """Each column's priority now (the columns' own; a table may raise one for what
        its rows hold)."""
        return [c.priority for c in self.COLUMNS]

    # -- rows ------------------------------------------------------------------------------

    def sync(self, rows: Mapping[str, Sequence[Cell]], *, remove_missing: bool = True) -> None:
        self.syncs += 1
        if remove_missing:
            self.remove_rows([k for k in self._cells if k not in rows])
        self.update_rows(rows.items())
        self._refit()  # a full redraw: every column that fits

    # -- drawing -----------------------------------------------------------------------

    def _segments(
        self, cells: Sequence[Cell], base: Style, post: Style | None = None
    ) -> list[Segment]:
        """A space each side of every cell in the row's style; the cell's text (and
        the spaces that align it) in its own style over that."""
        left, right = " " * self.PAD_LEFT, " " * self.PAD_RIGHT
        out = []
        for col in self._shown:
            found = cells[col]
            style = base + found.style
            if post is not None:
                style += post
            out += [
                Segment(left, base),
                Segment(self._aligned(col, found.text), style),
                Segment(right, base),
            ]
        return out

    def _cursor_strip(self, key: str, base: Style) -> Strip:
        """DataTable's row cursor: its background under the cells' own colours, its
        foreground over them."""
        cursor = base + self.get_component_rich_style("line-table--cursor")
        post = Style.from_color(color=cursor.color)
        segments = self._segments(self._cells[key], cursor, post)
        return Strip(Segment.simplify(segments), self._offsets[-1])

    def _cursor_fill(self, base: Style) -> Style:
        return base + self.get_component_rich_style("line-table--cursor")
