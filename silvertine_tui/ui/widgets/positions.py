"""Positions: quantity, average price, mark, unrealized and realized P&L.

A mark is as old as the quote it was taken from (the instrument's last quote read from
the market data, as the Quotes pane shows it). Past the Quotes pane's threshold
(`stale_after_s`, `watchlist.stale_age`) the row says the mark's age in the Quotes
pane's words (`3,500.345 old 2m02s`; `old ?` with no quote read), the mark and its
uPnL dimmed as the Quotes pane dims the quote, and the bottom line says its total adds
an old mark (`USDT u -0.14 (1 mark old) r 0.00`): a broker DISCONNECTED for minutes
showed its last mark and P&L as if live. The Mark column is then never dropped.

While Redis is out of reach, a position a fill, correction, position event or reconcile
waiting in this desk's memory names (`DeskProjection.waiting`: never applied, the pane
is drawn from the journal) has its Qty marked `?` in the warning colour, and the bottom
line says how many rows are behind (`1 position behind: its events wait for Redis`). A
resting sell filled during an outage left the position reading `1.2` unmarked.

A position an order the venue says FILLED has not reached yet (its fill owed: TWS's
orderStatus Filled runs ahead of its execDetails, `DeskProjection.fills_owed`) is
behind the same way: its Qty reads `5?` in the warning colour, and the bottom line says
`1 position behind: fill on its way` until the fill arrives (or a
reconcile takes the venue's position, which holds it). It read the old quantity with
no mark for as long as TWS held the execution back (10 s and more), while the order
had left the Orders pane as FILLED.

The Account column is the first to go in a narrow pane (at 120x36 once a row holds a
few figures), as the Balances pane's is: with more than one account among the rows the
Symbol cell names the broker too (`AAPL.PAPER paper2`), as the Balances pane's currency
cell does (`USD ib`). Two accounts holding one symbol (two paper brokers, two IB
accounts: `AAPL.SMART`) read as two rows of the same position once the column went.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal

from ...domain import Instrument
from ...domain.money import CENT_CURRENCIES, quantized
from ...engine.projection import DeskProjection, Key, PositionState, Waiting
from ...events.summary import avg_text, price_text, qty_text
from ..format import DASH, signed
from ..keymap import bindings
from ..model import QuoteState
from .columns import column_index
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable
from .watchlist import STALE_AFTER_S, old_text, stale_age


def position_key(state: PositionState) -> str:
    return f"{state.broker}/{state.account}/{state.instrument}"


class Positions(KeyedTable):
    BINDINGS = bindings("positions")
    # In key order (broker/account/instrument, as the Quotes pane's rows): a live desk
    # added each position's row below the others as its first fill came, a restart
    # drew them all sorted, and `4 Home x` closed ETHUSDT in one session and AAPL in
    # the next. A row that comes above the cursor leaves it on its row.
    SORTED_ROWS = True
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

    MARK = column_index(COLUMNS, "mark")

    several_accounts = False
    """The rows are of more than one account: each Symbol cell names its broker
    (`symbol_text`), since the Account column is the first to go."""

    def __init__(self, *, stale_after_s: float = STALE_AFTER_S, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self.stale_after_s = stale_after_s
        self._hidden_dirty: set[Key] = set()
        self._drawn_rows = range(0)
        # What each row's P&L cells show, by row key: (currency, places, uPnL or None,
        # rPnL, what its uPnL lacks: OLD an open position at an old mark, UNMARKED one
        # with no mark, NO_COST one with a mark but no known average), rounded as drawn.
        # The pane's bottom line adds these up (`totals_text`).
        self._shown_pnl: dict[str, tuple[str, int, Decimal | None, Decimal, str]] = {}
        self._old: set[str] = set()
        """Row keys drawn with an old mark."""
        self.waiting = Waiting()
        """`DeskProjection.waiting` as the rows were drawn with it (the screen sets it)."""
        self._behind: set[str] = set()
        """Row keys drawn marked: events of them wait for Redis."""
        self._owed: set[str] = set()
        """Row keys drawn marked: a FILLED order's fill is on its way to them."""
        self.owed_elsewhere = 0
        """Positions fills are on their way to, rows or not (`DeskProjection.positions_owed`:
        a flat one has no row to mark): the screen sets it each frame."""

    @property
    def shows_other_rows(self) -> bool:
        """Other rows are on screen than at the last update (scrolled, resized): rows
        that changed while off screen are to be drawn now."""
        return bool(self._hidden_dirty) and self.visible_range() != self._drawn_rows

    def mark_old(
        self, instrument: str, desk: DeskProjection, quotes: Mapping[str, QuoteState], now_s: float
    ) -> str:
        """What the row says of its mark's age: `old 2m02s` past the Quotes pane's
        threshold, `old ?` when no quote of it was read (its age is not known), ""
        while fresh or with no mark."""
        if desk.last_price(instrument) is None:
            return ""
        quote = quotes.get(instrument)
        if quote is None:
            return old_text(None)
        quote_age = stale_age(quote, now_s, self.stale_after_s, of_mark=True)
        return "" if quote_age is None else old_text(quote_age)

    def aging(
        self, desk: DeskProjection, quotes: Mapping[str, QuoteState], now_s: float
    ) -> set[Key]:
        """The positions whose rows say a mark's age, or are to (once a second: no quote
        comes to move an old mark)."""
        return {
            key
            for key, state in desk.positions.items()
            if position_key(state) in self._old or self.mark_old(key[2], desk, quotes, now_s)
        }

    def priorities(self) -> list[float]:
        priorities = super().priorities()
        if self._old:  # the age is said in the Mark column: never dropped then
            priorities[self.MARK] = 0
        return priorities

    def row_for(
        self,
        state: PositionState,
        desk: DeskProjection,
        quotes: Mapping[str, QuoteState],
        now_s: float,
    ) -> tuple[Cell, ...]:
        p = self.palette
        inst = desk.instruments_by_key.get(state.instrument)
        mark = desk.last_price(state.instrument)
        upl = desk.unrealized(state)
        places = pnl_places(inst, state.currency)
        old = self.mark_old(state.instrument, desk, quotes, now_s)
        row_key = position_key(state)
        if old:
            self._old.add(row_key)
        else:
            self._old.discard(row_key)
        self._shown_pnl[row_key] = (
            state.currency,
            places,
            None if upl is None else rounded_to(upl, places),
            rounded_to(state.realized_pnl, places),
            lacks(state, mark, upl, old),
        )
        qty_style = p.bid if state.quantity > 0 else p.ask if state.quantity < 0 else p.muted
        key = (state.broker, state.account, state.instrument)
        waits = self.waiting.position(key)
        if waits:
            self._behind.add(row_key)
        else:
            self._behind.discard(row_key)
        owed = bool(desk.fills_owed(key))
        if owed:
            self._owed.add(row_key)
        else:
            self._owed.discard(row_key)
        behind = waits or owed
        # The mark exactly as the unrealized P&L uses it: a mid between two ticks shows
        # its half tick (`3,500.335`), never rounded onto a tick the P&L did not use.
        mark_text = price_text(mark, inst) if mark is not None else DASH
        return (
            self.cell(self.symbol_text(state)),
            self.cell(qty_text(state.quantity, inst) + BEHIND_MARK, p.warn)
            if behind
            else self.cell(qty_text(state.quantity, inst), qty_style),
            self.cell(avg_text(state.avg_price, inst) if state.avg_price else DASH),
            self.cell(f"{mark_text} {old}", p.stale) if old else self.cell(mark_text),
            self.cell(signed(upl, places), p.stale if old else p.pnl(upl)),
            self.cell(signed(state.realized_pnl, places), p.pnl(state.realized_pnl)),
            self.cell(state.currency),
            self.cell(f"{state.broker}/{state.account}"),
        )

    def symbol_text(self, state: PositionState) -> str:
        """The Symbol cell: `AAPL.PAPER`, or `AAPL.PAPER paper2` with several accounts."""
        if self.several_accounts:
            return f"{state.instrument} {state.broker}"
        return state.instrument

    def show(self, desk: DeskProjection, quotes: Mapping[str, QuoteState], now_s: float) -> None:
        """Every row (a full redraw). `quotes`: the last quote of each instrument (the
        market data model's, whose times the marks' ages are), at `now_s`."""
        self._hidden_dirty.clear()
        self.several_accounts = several_accounts(desk)
        rows = {}
        for state in sorted(desk.positions.values(), key=position_key):
            if not shown(state):
                continue
            rows[position_key(state)] = self.row_for(state, desk, quotes, now_s)
        self._shown_pnl = {key: self._shown_pnl[key] for key in rows}
        self._old &= set(rows)
        self._behind &= set(rows)
        self._owed &= set(rows)
        self.sync(rows)

    def update(
        self,
        desk: DeskProjection,
        keys: Iterable[Key],
        quotes: Mapping[str, QuoteState],
        now_s: float,
    ) -> None:
        """Only the rows of `keys` (positions whose events arrived or whose marks
        moved) that are on screen or new; a position that closed flat with nothing
        realized leaves. The others are drawn when they come into view: the marks of
        every position move each second (fifty rows built, about 4 ms, for the five
        on screen). Every row when the rows come to be of more than one account, or of
        one again (each Symbol cell then names its broker, or no longer)."""
        if several_accounts(desk) != self.several_accounts:
            self.show(desk, quotes, now_s)
            return
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
                rows.append((row_key, self.row_for(state, desk, quotes, now_s)))
            drawn.add(key)
        self._hidden_dirty -= drawn
        self.syncs += 1
        if gone:
            for row_key in gone:
                self._shown_pnl.pop(row_key, None)
                self._old.discard(row_key)
                self._behind.discard(row_key)
                self._owed.discard(row_key)
            self.remove_rows(gone)
        if rows:
            self.update_rows(rows)

    def selected_position(self, desk: DeskProjection) -> PositionState | None:
        key = self.selected_key()
        if key is None:
            return None
        broker, account, instrument = key.split("/", 2)
        return desk.positions.get((broker, account, instrument))

    def behind_text(self) -> str:
        """How many rows are behind, for the bottom line: a FILLED order's fill on its
        way to them (`1 position behind: fill on its way`: short, beside the totals
        in a box of the grid at 120x36), events of
        them waiting for Redis (`1 position behind: its events wait for Redis`); ""
        when none is."""
        said = []
        n = max(len(self._owed), self.owed_elsewhere)
        if n == 1:
            said.append("1 position behind: fill on its way")
        elif n:
            said.append(f"{n} positions behind: fills on their way")
        n = len(self._behind)
        if n == 1:
            said.append("1 position behind: its events wait for Redis")
        elif n:
            said.append(f"{n} positions behind: their events wait for Redis")
        return "; ".join(said)

    def totals_text(self) -> str:
        """Per currency, the sum of the P&L the rows show (`USD u +30.23 r 0.00`): the
        line under the rows never disagrees with them. It was taken from the
        projection when the marks last moved, while a row that waited off screen (its
        pane hidden, scrolled away) was drawn later with a newer mark: one USD row read
        `+30.23` over `USD u +29.45`. A row whose uPnL is unknown (`-`) adds nothing;
        `u -` when none is known. A total that adds the P&L of an open position at an old
        mark says how many, and one that leaves out an open position with no mark says
        that too (`USD u +30.23 (1 mark old, 1 unmarked) r 0.00`): a watching desk
        started on a busy market reads a quiet instrument's mark only at its next quote,
        and its total silently disagreed with the driving desk's."""
        unrealized: dict[str, Decimal] = {}
        realized: dict[str, Decimal] = {}
        places: dict[str, int] = {}
        lacking: dict[str, Counter[str]] = {}
        for currency, row_places, upl, rpl, lacks in self._shown_pnl.values():
            if not currency:
                continue
            places[currency] = max(places.get(currency, 0), row_places)
            realized[currency] = realized.get(currency, Decimal(0)) + rpl
            if upl is not None:
                unrealized[currency] = unrealized.get(currency, Decimal(0)) + upl
            if lacks:
                lacking.setdefault(currency, Counter())[lacks] += 1
        return "  ".join(
            f"{ccy} u {signed(unrealized.get(ccy), places[ccy])}"
            f"{lacking_text(lacking.get(ccy, Counter()))} "
            f"r {signed(realized[ccy], places[ccy])}"
            for ccy in sorted(realized)
        )


BEHIND_MARK = "?"
"""After the quantity of a position events of which wait in this desk's memory for
Redis (as the Orders pane's `NEW?`), or to which a FILLED order's fill is on its way."""

OLD = "old"
UNMARKED = "unmarked"
NO_COST = "no cost"


def lacks(state: PositionState, mark: Decimal | None, upl: Decimal | None, old: str) -> str:
    """What an open position's uPnL lacks: `OLD` (taken at an old mark), `UNMARKED` (no
    mark), `NO_COST` (a mark, but no known average: a holding the venue reported with
    no cost, as Binance's balances are, or one added to since); "" for nothing.

    A holding with no known cost was counted `unmarked` beside a mark on screen, which
    read as missing market data."""
    if state.quantity == 0:
        return ""
    if old:
        return OLD
    if upl is not None:
        return ""
    return UNMARKED if mark is None else NO_COST


def lacking_text(lacking: Counter[str]) -> str:
    """What a currency's uPnL total says of the open positions whose uPnL it adds at an
    old mark (`1 mark old`), or leaves out for want of a mark (`1 unmarked`) or of a
    known average (`1 no cost`)."""
    old, unmarked, no_cost = lacking[OLD], lacking[UNMARKED], lacking[NO_COST]
    parts = []
    if old:
        parts.append("1 mark old" if old == 1 else f"{old} marks old")
    if unmarked:
        parts.append(f"{unmarked} unmarked")
    if no_cost:
        parts.append(f"{no_cost} no cost")
    return f" ({', '.join(parts)})" if parts else ""


def shown(state: PositionState) -> bool:
    return not (state.quantity == 0 and state.realized_pnl == 0)


def several_accounts(desk: DeskProjection) -> bool:
    """The rows shown are of more than one broker/account."""
    accounts = {(s.broker, s.account) for s in desk.positions.values() if shown(s)}
    return len(accounts) > 1


PNL_PLACES_MAX = 8


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
