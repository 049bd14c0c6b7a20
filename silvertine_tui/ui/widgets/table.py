"""The keyed tables of the desk (orders, positions, balances, signals): line-API
tables that look like Textual's DataTable and show the columns that fit.

Columns have priorities: the table shows the columns that fit its width, dropping the
least important first (the highest `priority` number; 0 is never dropped), so a pane
never scrolls sideways and no header is cut. The fit is checked when rows come or go,
when a value is wider than any before, and on resize (`LineTable`, which the Quotes
pane is too). A column is as wide as what its rows hold now: it narrows back a few
seconds after a wide value has gone (`columns.ColumnWidth`).

These were DataTables: each cell went through Rich's console, and a row added or
removed laid the whole screen out; with orders coming and going ten times a second
that was most of a working desk's frame. Here a changed row rebuilds only its strip.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
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
        self.syncs = 0  # times the pane was handed its rows (once per redraw of it)
        # Rows handed to the table, by key: what a redraw touched (tests read it).
        self.rows_drawn: Counter[str] = Counter()

    def _row_given(self, key: str) -> None:
        self.rows_drawn[key] += 1

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
