"""Positions: quantity, average price, mark, unrealized and realized P&L."""

from __future__ import annotations

from ...engine.portfolio import Portfolio, PositionState
from ...events.summary import avg_text, qty_text
from ..format import DASH, num, places_of, signed
from ..keymap import bindings
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable


def position_key(state: PositionState) -> str:
    return f"{state.broker}/{state.account}/{state.instrument}"


class Positions(KeyedTable):
    BINDINGS = bindings("positions")
    COLUMNS = (
        Column("symbol", "Symbol"),
        Column("qty", "Qty", right=True),
        Column("avg", "Avg", right=True, priority=2),
        Column("mark", "Mark", right=True, priority=1),
        Column("upl", "uPnL", right=True),
        Column("rpl", "rPnL", right=True, priority=3),
        Column("ccy", "Ccy", priority=4),
        Column("account", "Account", priority=5),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE

    def row_for(self, state: PositionState, portfolio: Portfolio) -> tuple[Cell, ...]:
        p = self.palette
        inst = portfolio.instruments.get(state.instrument)
        places = places_of(inst.tick_size) if inst else None
        mark = portfolio.mark(state.instrument)
        upl = portfolio.unrealized(state)
        qty_style = p.bid if state.quantity > 0 else p.ask if state.quantity < 0 else p.muted
        return (
            self.cell(state.instrument),
            self.cell(qty_text(state.quantity, inst), qty_style, right=True),
            self.cell(avg_text(state.avg_price, inst) if state.avg_price else DASH, right=True),
            self.cell(num(mark, places), right=True),
            self.cell(signed(upl), p.pnl(upl), right=True),
            self.cell(signed(state.realized_pnl), p.pnl(state.realized_pnl), right=True),
            self.cell(state.currency),
            self.cell(f"{state.broker}/{state.account}"),
        )

    def show(self, portfolio: Portfolio) -> None:
        rows = {}
        for state in sorted(portfolio.positions.values(), key=position_key):
            if state.quantity == 0 and state.realized_pnl == 0:
                continue
            rows[position_key(state)] = self.row_for(state, portfolio)
        self.sync(rows)

    def selected_position(self, portfolio: Portfolio) -> PositionState | None:
        key = self.selected_key()
        if key is None:
            return None
        broker, account, instrument = key.split("/", 2)
        return portfolio.positions.get((broker, account, instrument))


def totals_text(portfolio: Portfolio) -> str:
    totals = portfolio.totals()
    parts = []
    for ccy in sorted(set(totals.unrealized) | set(totals.realized)):
        if not ccy:
            continue
        u = totals.unrealized.get(ccy)
        r = totals.realized.get(ccy)
        parts.append(f"{ccy} u {signed(u)} r {signed(r)}")
    return "  ".join(parts)
