"""Signals from outside strategies; enter turns one into a ticket."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...domain import Instrument, Side
from ...events.summary import price_text, qty_text
from ..format import clock_text, fit
from ..keymap import bindings
from ..model import SignalRow
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

NOTE_WIDTH = 40
"""A note longer than this is cut at a word (` …`): whole, a long note made its column
too wide for any pane and the column was dropped, note and all. The ticket made from
the signal says it whole."""


class Signals(KeyedTable):
    BINDINGS = bindings("signals")
    COLUMNS = (
        Column("time", "Time", priority=3),
        Column("strategy", "Strategy", priority=2),
        Column("side", "Side"),
        Column("symbol", "Symbol"),
        Column("qty", "Qty", right=True, priority=1),
        Column("price", "Price", right=True, priority=1),
        Column("note", "Note", priority=4),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self.rows_by_key: dict[str, SignalRow] = {}

    def row_for(
        self, row: SignalRow, instruments: Mapping[str, Instrument] | None = None
    ) -> tuple[Cell, ...]:
        s = row.signal
        p = self.palette
        inst = instruments.get(s.instrument) if instruments else None
        return (
            self.cell(clock_text(row.ts_ms / 1000)),
            self.cell(s.strategy),
            self.cell(s.side.value, p.bid if s.side is Side.BUY else p.ask),
            self.cell(s.instrument),
            self.cell(qty_text(s.quantity, inst)),
            self.cell(price_text(s.price, inst)),
            self.cell(fit(s.note, NOTE_WIDTH)),
        )

    def show(
        self, rows: Iterable[SignalRow], instruments: Mapping[str, Instrument] | None = None
    ) -> None:
        ordered = list(rows)
        self.rows_by_key = {r.key: r for r in ordered}
        self.sync({r.key: self.row_for(r, instruments) for r in ordered})

    def selected_signal(self) -> SignalRow | None:
        key = self.selected_key()
        return self.rows_by_key.get(key) if key else None
