"""Table columns, and which of them fit a pane."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
