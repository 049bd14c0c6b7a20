"""A DataTable whose rows have keys and whose cells are updated in place.

Columns have priorities: the table shows the columns that fit its width, dropping the
least important first (the highest `priority` number; 0 is never dropped), so a pane
never scrolls sideways and no header is cut. The fit is checked when rows change and
on resize; when the set of columns changes the table is rebuilt (rare: a resize, or a
value wider than any before).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

Cell = Text


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None = None
    right: bool = False
    priority: int = 0
    """0: always shown; among the others the highest number is dropped first."""


def fit_columns(
    widths: Sequence[int], priorities: Sequence[int], available: int
) -> tuple[int, ...]:
    """Indexes of the columns to show, in table order: every priority-0 column, then the
    others from the most important (lowest number) while their widths fit `available`.
    The first that does not fit drops, and every less important one with it (a narrow
    unimportant column never takes the place of a wide important one)."""
    by_importance = sorted(range(len(widths)), key=lambda i: priorities[i])
    chosen: list[int] = []
    used = 0
    for i in by_importance:
        if priorities[i] and used + widths[i] > available:
            break
        chosen.append(i)
        used += widths[i]
    return tuple(sorted(chosen))


class KeyedTable(DataTable[Cell]):
    """`sync(rows)` adds new rows, removes gone ones, and calls `update_cell` only for
    cells whose text or style changed: the table never re-renders from scratch."""

    COLUMNS: Sequence[Column] = ()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            id=id,
            classes=classes,
            cursor_type="row",
            zebra_stripes=False,
            show_row_labels=False,
        )
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._mounted = False
        self._shown: tuple[int, ...] = ()
        self._overflowing = False
        self.cell_updates = 0
        self.rebuilds = 0
        self.syncs = 0  # times the pane was handed its rows (once per redraw of it)
        # Rows handed to the table, by key: what a redraw touched (tests read it).
        self.rows_drawn: Counter[str] = Counter()

    def on_mount(self) -> None:
        self._mounted = True
        self._refit(force=True)

    def on_resize(self, event: events.Resize) -> None:
        self._refit()

    def cell(self, text: str, style: Style | str = "", *, right: bool = False) -> Cell:
        return Text(text, style=style, justify="right" if right else "left", no_wrap=True)

    # -- columns that fit ----------------------------------------------------------------

    @property
    def shown_columns(self) -> list[str]:
        return [self.COLUMNS[i].key for i in self._shown]

    def _content_width(self) -> int:
        """The width the columns may use: the table's, less a vertical scrollbar when
        the rows will not fit its height."""
        width = self.size.width
        rows = len(self._cells) + (1 if self.show_header else 0)
        if rows > self.size.height:
            width -= self.styles.scrollbar_size_vertical
        return width

    def column_widths(self) -> list[int]:
        """Each column's rendered width (label or widest cell, plus padding)."""
        pad = 2 * self.cell_padding
        widths = []
        for i, col in enumerate(self.COLUMNS):
            if col.width is not None:
                widths.append(max(col.width, len(col.label)) + pad)
                continue
            widest = max((cells[i].cell_len for cells in self._cells.values()), default=0)
            widths.append(max(len(col.label), widest) + pad)
        return widths

    def _fit(self, available: int) -> tuple[int, ...]:
        return fit_columns(self.column_widths(), [c.priority for c in self.COLUMNS], available)

    def _refit(self, *, force: bool = False) -> None:
        if not self._mounted:
            return
        available = self._content_width()
        if available <= 0 and not force:
            return
        shown = self._fit(available) if available > 0 else tuple(range(len(self.COLUMNS)))
        overflow = self._rendered_width() > available
        # A table whose must-show columns alone are wider than the pane stays wide:
        # rebuild it once for that, not on every update.
        if shown != self._shown or force or (overflow and not self._overflowing):
            self._shown = shown
            self._rebuild()
            overflow = self._rendered_width() > available
        self._overflowing = overflow

    def _rendered_width(self) -> int:
        return sum(c.get_render_width(self) for c in self.columns.values())

    def _rebuild(self) -> None:
        selected = self.selected_key()
        self.clear(columns=True)
        self.rebuilds += 1
        for i in self._shown:
            col = self.COLUMNS[i]
            label = Text(col.label, justify="right" if col.right else "left")
            self.add_column(label, key=col.key, width=col.width)
        for key, cells in self._cells.items():
            self.add_row(*(cells[i] for i in self._shown), key=key)
        if selected is not None and selected in self._cells:
            self.move_cursor(row=self.get_row_index(selected), animate=False, scroll=False)

    # -- rows ------------------------------------------------------------------------------

    @property
    def row_keys(self) -> list[str]:
        """Keys in display order (rows are only ever appended or removed)."""
        return list(self._cells)

    def selected_key(self) -> str | None:
        if not self._cells or self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return row_key.value

    def sync(self, rows: Mapping[str, Sequence[Cell]], *, remove_missing: bool = True) -> None:
        self.syncs += 1
        removed = False
        if remove_missing:
            for key in [k for k in self._cells if k not in rows]:
                if self._mounted:
                    self.remove_row(key)
                del self._cells[key]
                removed = True
        self.update_rows(rows.items(), refit=removed)

    def update_rows(
        self, rows: Iterable[tuple[str, Sequence[Cell]]], *, refit: bool = False
    ) -> None:
        if not self._mounted:  # a frame before the columns exist: keep the rows
            self._cells.update((key, tuple(cells)) for key, cells in rows)
            return
        keys = [c.key for c in self.COLUMNS]
        changed = refit
        for key, cells in rows:
            self.rows_drawn[key] += 1
            new = tuple(cells)
            old = self._cells.get(key)
            self._cells[key] = new
            if old is None:
                self.add_row(*(new[i] for i in self._shown), key=key)
                changed = True
                continue
            for i in self._shown:
                before, after = old[i], new[i]
                if before != after:
                    column = self.columns[ColumnKey(keys[i])]
                    # A wider value widens its column (that lays the table out
                    # again); fixed-width columns never change.
                    wider = column.auto_width and after.cell_len > column.content_width
                    self.update_cell(key, keys[i], after, update_width=wider)
                    self.cell_updates += 1
                    changed = changed or wider
        # A column keeps the width of the widest value it ever held: when values got
        # narrower the table may be wider than its pane until it is rebuilt.
        if changed or self._rendered_width() > self._content_width():
            self._refit()

    def remove_rows(self, keys: Iterable[str]) -> None:
        """Remove the rows of `keys` that are shown (the others are left alone)."""
        removed = False
        for key in keys:
            if key in self._cells:
                if self._mounted:
                    self.remove_row(key)
                del self._cells[key]
                removed = True
        if removed and self._mounted:
            self._refit()

    def clear_rows(self) -> None:
        self.clear()
        self._cells.clear()
