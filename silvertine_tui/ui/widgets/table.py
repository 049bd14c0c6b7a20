"""A DataTable whose rows have keys and whose cells are updated in place."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

Cell = Text


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None = None
    right: bool = False


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
        self._pending: dict[str, Sequence[Cell]] = {}
        self._mounted = False
        self.cell_updates = 0

    def on_mount(self) -> None:
        for col in self.COLUMNS:
            label = Text(col.label, justify="right" if col.right else "left")
            self.add_column(label, key=col.key, width=col.width)
        self._mounted = True
        pending, self._pending = self._pending, {}
        self.update_rows(pending.items())

    def cell(self, text: str, style: Style | str = "", *, right: bool = False) -> Cell:
        return Text(text, style=style, justify="right" if right else "left", no_wrap=True)

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
        if remove_missing:
            for key in [k for k in self._pending if k not in rows]:
                del self._pending[key]
            for key in [k for k in self._cells if k not in rows]:
                self.remove_row(key)
                del self._cells[key]
        self.update_rows(rows.items())

    def update_rows(self, rows: Iterable[tuple[str, Sequence[Cell]]]) -> None:
        if not self._mounted:  # a frame before the columns exist: keep the rows
            self._pending.update(rows)
            return
        keys = [c.key for c in self.COLUMNS]
        for key, cells in rows:
            new = tuple(cells)
            old = self._cells.get(key)
            if old is None:
                self.add_row(*new, key=key)
            else:
                for col, before, after in zip(keys, old, new, strict=True):
                    if before != after:
                        column = self.columns[ColumnKey(col)]
                        # A wider value widens its column (that lays the table out
                        # again); fixed-width columns never change.
                        wider = column.auto_width and after.cell_len > column.content_width
                        self.update_cell(key, col, after, update_width=wider)
                        self.cell_updates += 1
            self._cells[key] = new

    def clear_rows(self) -> None:
        self.clear()
        self._cells.clear()
