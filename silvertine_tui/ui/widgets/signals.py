"""Signals from outside strategies; enter turns one into a ticket."""

from __future__ import annotations

from collections.abc import Iterable

from ...domain import Side
from ..format import clock_text, num
from ..keymap import bindings
from ..model import SignalRow
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable


class Signals(KeyedTable):
    BINDINGS = bindings("signals")
    COLUMNS = (
        Column("time", "Time"),
        Column("strategy", "Strategy"),
        Column("side", "Side"),
        Column("symbol", "Symbol"),
        Column("qty", "Qty", right=True),
        Column("price", "Price", right=True),
        Column("note", "Note"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self.rows_by_key: dict[str, SignalRow] = {}

    def row_for(self, row: SignalRow) -> tuple[Cell, ...]:
        s = row.signal
        p = self.palette
        return (
            self.cell(clock_text(row.ts_ms / 1000)),
            self.cell(s.strategy),
            self.cell(s.side.value, p.bid if s.side is Side.BUY else p.ask),
            self.cell(s.instrument),
            self.cell(num(s.quantity), right=True),
            self.cell(num(s.price), right=True),
            self.cell(s.note),
        )

    def show(self, rows: Iterable[SignalRow]) -> None:
        ordered = list(rows)
        self.rows_by_key = {r.key: r for r in ordered}
        self.sync({r.key: self.row_for(r) for r in ordered})

    def selected_signal(self) -> SignalRow | None:
        key = self.selected_key()
        return self.rows_by_key.get(key) if key else None
