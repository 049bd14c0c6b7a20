"""Positions: quantity, average price, mark, unrealized and realized P&L."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from ...domain import Instrument
from ...domain.money import quantized
from ...engine.projection import DeskProjection, Key, PositionState
from ...events.summary import avg_text, qty_text
from ..format import DASH, signed
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
        Column("upl", "uPnL", right=True, min_width=len("+0.00")),
        Column("rpl", "rPnL", right=True, priority=3, min_width=len("+0.00")),
        Column("ccy", "Ccy", priority=4),
        Column("account", "Account", priority=5),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self._hidden_dirty: set[Key] = set()
        self._drawn_rows = range(0)
        # What each row's P&L cells show, by row key: (currency, places, uPnL or None,
        # rPnL), rounded as drawn. The pane's bottom line adds these up (`totals_text`).
        self._shown_pnl: dict[str, tuple[str, int, Decimal | None, Decimal]] = {}

    @property
    def shows_other_rows(self) -> bool:
        """Other rows are on screen than at the last update (scrolled, resized): rows
        that changed while off screen are to be drawn now."""
        return bool(self._hidden_dirty) and self.visible_range() != self._drawn_rows

    def row_for(self, state: PositionState, desk: DeskProjection) -> tuple[Cell, ...]:
        p = self.palette
        inst = desk.instruments_by_key.get(state.instrument)
        mark = desk.last_price(state.instrument)
        upl = desk.unrealized(state)
        places = pnl_places(inst, state.currency)
        self._shown_pnl[position_key(state)] = (
            state.currency,
            places,
            None if upl is None else rounded_to(upl, places),
            rounded_to(state.realized_pnl, places),
        )
        qty_style = p.bid if state.quantity > 0 else p.ask if state.quantity < 0 else p.muted
        return (
            self.cell(state.instrument),
            self.cell(qty_text(state.quantity, inst), qty_style),
            self.cell(avg_text(state.avg_price, inst) if state.avg_price else DASH),
            # The mark as the unrealized P&L uses it: a mid between two ticks shows its
            # half tick (`3,500.335`), never rounded onto a tick the P&L did not use.
            self.cell(avg_text(mark, inst) if mark is not None else DASH),
            self.cell(signed(upl, places), p.pnl(upl)),
            self.cell(signed(state.realized_pnl, places), p.pnl(state.realized_pnl)),
            self.cell(state.currency),
            self.cell(f"{state.broker}/{state.account}"),
        )

    def show(self, desk: DeskProjection) -> None:
        """Every row (a full redraw)."""
        self._hidden_dirty.clear()
        rows = {}
        for state in sorted(desk.positions.values(), key=position_key):
            if not shown(state):
                continue
            rows[position_key(state)] = self.row_for(state, desk)
        self._shown_pnl = {key: self._shown_pnl[key] for key in rows}
        self.sync(rows)

    def update(self, desk: DeskProjection, keys: Iterable[Key]) -> None:
        """Only the rows of `keys` (positions whose events arrived or whose marks
        moved) that are on screen or new; a position that closed flat with nothing
        realized leaves. The others are drawn when they come into view: the marks of
        every position move each second (fifty rows built, about 4 ms, for the five
        on screen)."""
        self._hidden_dirty.update(keys)
        self._drawn_rows = self.visible_range()
        visible = self.visible_keys()
        rows = []
        gone = []
        drawn = set()
        for key in sorted(self._hidden_dirty):
            state = desk.positions.get(key)
            if state is None or not shown(state):
                gone.append("/".join(key))
            else:
                row_key = position_key(state)
                if row_key in self._cells and row_key not in visible:
                    continue  # off screen: it waits
                rows.append((row_key, self.row_for(state, desk)))
            drawn.add(key)
        self._hidden_dirty -= drawn
        self.syncs += 1
        if gone:
            for row_key in gone:
                self._shown_pnl.pop(row_key, None)
            self.remove_rows(gone)
        if rows:
            self.update_rows(rows)

    def selected_position(self, desk: DeskProjection) -> PositionState | None:
        key = self.selected_key()
        if key is None:
            return None
        broker, account, instrument = key.split("/", 2)
        return desk.positions.get((broker, account, instrument))

    def totals_text(self) -> str:
        """Per currency, the sum of the P&L the rows show (`USD u +30.23 r 0.00`): the
        line under the rows never disagrees with them. It was taken from the
        projection when the marks last moved, while a row that waited off screen (its
        pane hidden, scrolled away) was drawn later with a newer mark: one USD row read
        `+30.23` over `USD u +29.45`. A row whose uPnL is unknown (`-`) adds nothing;
        `u -` when none is known."""
        unrealized: dict[str, Decimal] = {}
        realized: dict[str, Decimal] = {}
        places: dict[str, int] = {}
        for currency, row_places, upl, rpl in self._shown_pnl.values():
            if not currency:
                continue
            places[currency] = max(places.get(currency, 0), row_places)
            realized[currency] = realized.get(currency, Decimal(0)) + rpl
            if upl is not None:
                unrealized[currency] = unrealized.get(currency, Decimal(0)) + upl
        return "  ".join(
            f"{ccy} u {signed(unrealized.get(ccy), places[ccy])} "
            f"r {signed(realized[ccy], places[ccy])}"
            for ccy in sorted(realized)
        )


def shown(state: PositionState) -> bool:
    return not (state.quantity == 0 and state.realized_pnl == 0)


PNL_PLACES_MAX = 8

CENT_CURRENCIES = frozenset(
    {"USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "NZD", "HKD", "SGD", "SEK", "NOK"}
    | {"DKK", "CNH", "KRW", "MXN", "ZAR", "USDT", "USDC", "FDUSD", "TUSD", "DAI", "BUSD"}
)
"""Money and its dollar tokens: a P&L in them is to the cent, whatever the tick (a
DOGEUSDT tick of 0.00001 says nothing of what 0.00001 USDT is worth)."""


def pnl_places(inst: Instrument | None, currency: str) -> int:
    """Places of a P&L: cents in money (`CENT_CURRENCIES`), else the instrument's tick
    places, at least 2 and at most 8: two places for every currency read a loss of
    0.0015 BTC on ETHBTC as `0.00`."""
    if inst is None or currency in CENT_CURRENCIES:
        return 2
    return min(max(2, inst.tick_places), PNL_PLACES_MAX)


def rounded_to(value: Decimal, places: int) -> Decimal:
    """A P&L as its cell shows it (`signed`, half-even)."""
    return quantized(value, Decimal(1).scaleb(-places))
