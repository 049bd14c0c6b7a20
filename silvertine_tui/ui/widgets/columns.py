"""Table columns, which of them fit a pane, and how wide each is drawn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

NARROW_AFTER = 3
"""Refits (seconds: the screen refits its tables once a second of the desk clock) a
column's values must stay narrower than the column before it narrows (`ColumnWidth`)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int | None = None
    right: bool = False
    min_width: int = 0
    """A width held from the first row: a signed figure's column (`+0.01%` after
    `0.00%`) does not widen, and repaint its whole table, when the first sign comes."""
    priority: int = 0
    """0: always shown; among the others the highest number is dropped first."""
    max_width: int | None = None
    """The widest the column is drawn (a longer value is cut); None: as wide as its
    widest value."""


def column_index(columns: Sequence[Column], key: str) -> int:
    """Where the column `key` is in a table's columns."""
    return next(i for i, c in enumerate(columns) if c.key == key)


def fit_columns(
    widths: Sequence[int], priorities: Sequence[float], available: int
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


class ColumnWidth:
    """How wide one column is drawn (`width`): at least `floor` (its label, `min_width`),
    at most `ceiling` (`max_width`, or a fixed `width`), and as wide as the widest of
    the values it holds now (`needed`: the rows' cells are counted by width, so the
    widest is known when one leaves without looking at every row).

    A wider value widens it at once. It narrows to what its values need when they have
    needed less than `width` for `NARROW_AFTER` ticks in a row (`tick`, once a second),
    no value as wide as the column coming meanwhile, or at once (`settle`) when every
    row is drawn again anyway. A column whose widest value passed (PENDING_CANCEL in
    Status, `old 1m10s` in Mark) kept its width until the columns shown changed: a wide
    gap, and the last column cut. A figure moving between 9 and 10 characters with the
    market keeps its 10 (no repaint of the whole table with every quote)."""

    __slots__ = ("ceiling", "counts", "floor", "narrow_since", "widest_cell", "width")

    def __init__(self, floor: int, ceiling: int | None = None) -> None:
        self.floor = floor
        self.ceiling = None if ceiling is None else max(ceiling, floor)
        self.counts: Counter[int] = Counter()
        """How many of the column's cells have each width."""
        self.widest_cell = 0
        self.width = floor
        self.narrow_since: int | None = None
        """The tick since when its values have needed less than `width`."""

    def bounded(self, width: int) -> int:
        """`width` within the column's floor and ceiling."""
        width = max(width, self.floor)
        return width if self.ceiling is None else min(width, self.ceiling)

    @property
    def needed(self) -> int:
        """The width the values held now need (within the bounds)."""
        return self.bounded(self.widest_cell)

    def add(self, width: int) -> bool:
        """A cell of `width` characters came; True when the column widened."""
        self.counts[width] += 1
        if width > self.widest_cell:
            self.widest_cell = width
        need = self.bounded(width)
        if need < self.width:
            return False
        self.narrow_since = None  # a value fills the column: it is in use
        if need == self.width:
            return False
        self.width = need
        return True

    def remove(self, width: int) -> None:
        """A cell of `width` characters left (one that was `add`ed)."""
        left = self.counts[width] - 1
        if left > 0:
            self.counts[width] = left
            return
        del self.counts[width]
        if width == self.widest_cell:
            self.widest_cell = max(self.counts, default=0)  # the widths held: a few

    def clear(self) -> None:
        """No cells: as wide as the floor."""
        self.counts.clear()
        self.widest_cell = 0
        self.width = self.floor
        self.narrow_since = None

    def tick(self, now: int, after: int = NARROW_AFTER) -> bool:
        """The refit clock reads `now`: narrow to `needed` when the values have needed
        less than `width` since `after` ticks ago; True when it narrowed."""
        if self.needed >= self.width:
            self.narrow_since = None
            return False
        if self.narrow_since is None:
            self.narrow_since = now
        if now - self.narrow_since < after:
            return False
        return self.settle()

    def settle(self) -> bool:
        """As wide as the values need now; True when that changed the width."""
        need = self.needed
        self.narrow_since = None
        if need == self.width:
            return False
        self.width = need
        return True
