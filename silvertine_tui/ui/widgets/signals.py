"""Signals from outside strategies; enter turns one into a ticket.

One row per signal on the bus, keyed by its stream entry (`SignalRow.key`): never by
the event's own id, which its writer chooses (two strategies each numbering theirs
from "1" were one row, the newer replacing the older under the cursor).

The newest is the first row. Until the trader moves the cursor (a key, a click) it
is on the newest whenever the pane does not have the keyboard, so the newest is in
view and selected when the trader comes to the pane. While the pane has the keyboard,
or once the trader has put the cursor on a signal, nothing moves it off that signal:
newer ones come in above it (the view keeps its rows when scrolled; at the top the
new rows show and the cursor's row moves down with its signal), and `home` takes it
to the newest and following again. What is out of view is counted on the pane's
bottom edge (`out_of_view`: `3 newer above, 12 older below`). Before, the rows were
oldest first with nothing saying newer ones were below the fold, and `enter` took the
oldest.

A signal of another day than the desk clock's (UTC, as the header) shows its date
beside its time (`Jan 02 14:30`, in the warning colour): its time alone read as one
of a minute ago. The ticket made from a signal older than `SIGNAL_OLD_S` says its age
beside Send (`old_signal`, `ticket_note`), and says it again as the signal ages while
the ticket stays open.

A signal has two times: when its producer made it (the envelope's `ts`) and when the bus
stored it (its entry id). Its age, and its Time, are the older of them
(`SignalRow.at_ms`): from the entry id alone, a signal the producer's bus client held
through a Redis outage and wrote an hour later read new. Either time ahead of the desk's
clock by more than `SIGNAL_SKEW_S` is flagged: `ahead` in its Time cell, and its ticket
says by how much (`ahead_signal`).

The Price column says the signal's order type before its price when it is not a limit
(`MKT 3,000.00`, `STP 3,000.00`, `STP LMT 3,000.00`; `type_and_price`): a STOP read as a
limit, and a MARKET signal's price as the price it would trade at. In the price's cell, not
a column of its own: the two are shown or dropped together (in the desk's grid at 120x36
a Type column took the price's place). A strategy's name
and a symbol are cut (`STRATEGY_WIDTH`, `SYMBOL_WIDTH`): one 300 characters long made its
column too wide for any pane, and with it went every column less important (Time,
Strategy and Note of every signal). The signals the pane no longer keeps are counted on
its bottom edge (`ui.model.SignalKeep`: a noisy strategy drops its own, never the
others').
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...domain import Instrument, OrderType, Side
from ...events import Signal
from ...events.summary import price_text, qty_text
from ..format import age, fit, when_text
from ..keymap import bindings
from ..model import SignalKeep, SignalRow
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

NOTE_WIDTH = 40
"""A note longer than this is cut at a word (` …`): whole, a long note made its column
too wide for any pane and the column was dropped, note and all. The ticket made from
the signal cuts it too (`TICKET_TEXT_WIDTH`)."""

STRATEGY_WIDTH = 16
"""A strategy's name longer than this is cut (`…`) in the pane, as a note is."""

SYMBOL_WIDTH = 24
"""A symbol longer than this is cut (`…`) in the pane; its ticket has it whole."""

TICKET_TEXT_WIDTH = 40
"""The signal's own words beside its ticket's Send (`signal meanrev: 2 sigma below`)
are cut to this: a note of 10 KB pushed the ticket's problems and preview out of the
pane. What the desk says of the signal (its age, a price not used) comes first, whole."""

SIGNAL_SKEW_S = 5.0
"""A signal's time (its producer's or its entry id's) ahead of the desk's clock by more
than this is flagged (`ahead_signal`): clocks of two hosts differ by less."""

TYPE_TEXT = {
    OrderType.MARKET: "MKT",
    OrderType.LIMIT: "LMT",
    OrderType.STOP: "STP",
    OrderType.STOP_LIMIT: "STP LMT",
    OrderType.TAKE_PROFIT: "MIT",
    OrderType.TAKE_PROFIT_LIMIT: "LIT",
}
"""A signal's order type in the pane's Price column (TWS's short names)."""


def type_and_price(signal: Signal, inst: Instrument | None = None) -> str:
    """The Price cell: the price of a limit (`3,000.00`, `-` with none); of any other
    type its short name first (`MKT 3,000.00`, `STP 3,000.00`, `MKT`)."""
    kind = signal.order_type
    if kind is OrderType.LIMIT:
        return price_text(signal.price, inst)
    name = TYPE_TEXT.get(kind, kind.value)
    return name if signal.price is None else f"{name} {price_text(signal.price, inst)}"


SIGNAL_OLD_S = 60.0
"""A signal older than this, by the desk clock since the bus stored it, opens a ticket
that says its age and time beside Send in the warning colour (`old_signal`): its price
and size are of then, and the market may have moved since. A minute: a strategy's
signal is meant to be acted on as it comes; the quote's threshold (5 s) would flag
every signal a trader reads before acting."""

DAY_S = 86_400


def _day(epoch_s: float) -> int:
    """The UTC day of `epoch_s` (the desk's clock says UTC)."""
    return int(epoch_s // DAY_S)


def signal_age(seconds: float) -> str:
    """`45s`, `3m05s`, `2h04m`, and past a day `3d02h`."""
    whole = int(seconds)
    if whole < DAY_S:
        return age(seconds)
    return f"{whole // DAY_S}d{(whole % DAY_S) // 3600:02d}h"


def old_signal(row: SignalRow, now_s: float) -> str:
    """What the ticket made from `row` says beside Send when the signal is older than
    `SIGNAL_OLD_S` at `now_s` ("" when it is not): `signal 3m05s old (14:30:01): the
    market may have moved since`. Its age is from the older of its two times
    (`SignalRow.at_ms`)."""
    at = row.at_ms / 1000
    old = now_s - at
    if not old > SIGNAL_OLD_S:
        return ""
    return f"signal {signal_age(old)} old ({when_text(at, now_s)}): the market may have moved since"


def ahead_s(row: SignalRow, now_s: float) -> float:
    """How far the newer of `row`'s times is ahead of `now_s` (0 when it is not ahead
    by more than `SIGNAL_SKEW_S`)."""
    ahead = row.latest_ms / 1000 - now_s
    return ahead if ahead > SIGNAL_SKEW_S else 0.0


def ahead_signal(row: SignalRow, now_s: float) -> str:
    """What the ticket made from `row` says beside Send when a time of the signal is
    ahead of the desk's clock (`ahead_s`; "" when none is): `signal stamped 3h00m ahead
    of this desk's clock (17:30:02): its age is not known`. Which time: its producer's
    (`stamped`), or the bus's entry id (`stored on the bus`)."""
    ahead = ahead_s(row, now_s)
    if not ahead:
        return ""
    stamped = row.sent_ms is not None and row.sent_ms >= row.ts_ms
    what = "stamped" if stamped else "stored on the bus"
    at = row.latest_ms / 1000
    return (
        f"signal {what} {signal_age(ahead)} ahead of this desk's clock "
        f"({when_text(at, now_s)}): its age is not known"
    )


def price_note(signal: Signal, inst: Instrument | None = None) -> str:
    """What the ticket made from `signal` says of its price when it does not go in the
    Price field ("" when it does, or there is none): a MARKET signal's price is not
    used (dropped unsaid, the trader took the ticket for one at the signal's price); a
    stop-limit's one price is its stop (`Ticket.prefill`), its limit left to the
    trader."""
    price = signal.price
    if price is None:
        return ""
    said = price_text(price, inst)
    kind = signal.order_type
    if not (kind.has_limit_price or kind.has_stop_price):
        return f"signal price {said} not used: a market order"
    if kind.has_limit_price and kind.has_stop_price:
        return f"signal price {said} put in Stop: set the limit"
    return ""


def ticket_note(row: SignalRow, now_s: float, inst: Instrument | None = None) -> tuple[str, bool]:
    """What the ticket made from `row` says beside Send at `now_s`, and whether in the
    warning colour (the signal older than `SIGNAL_OLD_S`, a time of it ahead of the
    desk's clock, or its price not where the signal has it): its age first when old
    (`old_signal`) or ahead (`ahead_signal`), then its price when not in Price
    (`price_note`), then its strategy and note (`signal meanrev: 2 sigma below`) cut to
    `TICKET_TEXT_WIDTH`. The ticket says it again as the signal ages while it stays
    open (`Ticket.run_check`, once a second): said only as the ticket opened, a signal
    59 s old read fresh for as long as the ticket was open, and `1m01s old` stayed
    `1m01s` an hour later."""
    s = row.signal
    warnings = [
        said
        for said in (ahead_signal(row, now_s), old_signal(row, now_s), price_note(s, inst))
        if said
    ]
    words = fit(f"signal {s.strategy}: {s.note}", TICKET_TEXT_WIDTH) if s.note else ""
    return "; ".join([*warnings, words] if words else warnings), bool(warnings)


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
        self.following = True
        """The cursor is on the newest signal whenever the pane does not have the
        keyboard, until the trader moves it off the first row (module docstring)."""
        self._drawn_day: int | None = None  # the desk's day the Time cells were made on
        self._not_kept = ""  # the signals the model no longer keeps (`not_kept`)

    def row_for(
        self,
        row: SignalRow,
        instruments: Mapping[str, Instrument] | None = None,
        now_s: float | None = None,
    ) -> tuple[Cell, ...]:
        s = row.signal
        p = self.palette
        inst = instruments.get(s.instrument) if instruments else None
        at = row.at_ms / 1000
        now = at if now_s is None else now_s
        of_today = _day(at) == _day(now)
        when = when_text(at, now, seconds=False)
        ahead = bool(ahead_s(row, now))
        if ahead:
            when = f"{when} ahead"
        kind = s.order_type
        priced = kind.has_limit_price or kind.has_stop_price
        return (
            self.cell(when, "" if of_today and not ahead else p.warn),
            self.cell(fit(s.strategy, STRATEGY_WIDTH)),
            self.cell(s.side.value, p.bid if s.side is Side.BUY else p.ask),
            self.cell(fit(s.instrument, SYMBOL_WIDTH)),
            self.cell(qty_text(s.quantity, inst)),
            # A MARKET signal's price is not what it would trade at (`price_note`).
            self.cell(type_and_price(s, inst), "" if priced or s.price is None else p.muted),
            self.cell(fit(s.note, NOTE_WIDTH)),
        )

    def day_passed(self, now_s: float) -> bool:
        """Whether the rows were drawn on another day than `now_s`'s: a signal of the
        day before then says its date (`show` again)."""
        return bool(self._keys) and self._drawn_day != _day(now_s)

    def show(
        self,
        rows: Iterable[SignalRow],
        instruments: Mapping[str, Instrument] | None = None,
        now_s: float | None = None,
    ) -> None:
        """Every signal, `rows` oldest first as they came, drawn newest first; the
        cursor kept on its signal, or on the newest while following out of the pane."""
        self._not_kept = not_kept(rows) if isinstance(rows, SignalKeep) else ""
        newest_first = list(rows)
        newest_first.reverse()
        if now_s is None:
            now_s = newest_first[0].ts_ms / 1000 if newest_first else 0.0
        self._drawn_day = _day(now_s)
        chosen = self.selected_key()
        was_at = self.cursor_row
        top = self.scroll_offset.y
        by_key: dict[str, SignalRow] = {}
        for row in newest_first:
            by_key.setdefault(row.key, row)  # an entry read twice is one signal
        self.rows_by_key = by_key
        self.sync({key: self.row_for(row, instruments, now_s) for key, row in by_key.items()})
        self._put_in_order(list(by_key), chosen, was_at, top)

    def _put_in_order(self, order: list[str], chosen: str | None, was_at: int, top: int) -> None:
        """The rows newest first (`sync` appends a new row at the end), then the cursor:
        on the newest while following out of the pane; else on the signal it was on,
        the view keeping its rows when scrolled (the new ones above it, counted)."""
        if order == self._keys:
            return
        self._keys = order
        self._index = {key: n for n, key in enumerate(order)}
        self._rows_moved(0)  # every row on screen may have moved
        if not order:
            self.cursor_row = 0
            return
        if self.following and not self.has_focus:
            self._to_newest()
            return
        if chosen is not None and chosen in self._index:
            self.cursor_row = self._index[chosen]
            moved = self.cursor_row - was_at
            if top and moved:
                self.scroll_to(y=top + moved, animate=False, immediate=True)
            self._reveal(self.cursor_row)
        elif chosen is None and not self.cursor_lost:
            self.cursor_row = 0  # the first rows: the newest
        else:
            # The signal selected left the list (the oldest go past the model's keep):
            # nothing is selected until a key moves the cursor (`LineTable.cursor_lost`).
            self.cursor_row = max(0, min(self.cursor_row, len(order) - 1))

    def _to_newest(self) -> None:
        self.cursor_lost = False
        self.cursor_row = 0
        self.scroll_to(y=0, animate=False, immediate=True)
        self.refresh()

    def _off_newest(self) -> bool:
        return bool(self.cursor_row) or self.cursor_lost or bool(self.scroll_offset.y)

    def trader_moved(self, *, to_last: bool = False) -> None:
        """Moved off the newest, the cursor stays where the trader put it; `home` (or up
        to the first row) takes it back to following the newest."""
        self.following = self.cursor_row == 0 and not self.cursor_lost

    def _focus_moved(self, focused: bool) -> None:
        super()._focus_moved(focused)
        if not focused and self.following and self._keys and self._off_newest():
            # The trader left the pane with the cursor where the newest was when they
            # came (newer ones came in above it meanwhile): on the newest again.
            self._to_newest()

    def out_of_view(self) -> str:
        """What of the signals the pane does not show now ("" when it shows them all),
        for its bottom edge: `3 newer above`, `12 older below`, or both, and then those
        no longer kept (`not_kept`)."""
        shown = self.visible_range()
        above, below = shown.start, len(self._keys) - shown.stop
        said = [f"{above:,} newer above"] if above else []
        if below > 0:
            said.append(f"{below:,} older below")
        if self._not_kept:
            said.append(self._not_kept)
        return ", ".join(said)

    def selected_signal(self) -> SignalRow | None:
        key = self.selected_key()
        return self.rows_by_key.get(key) if key else None


NOT_KEPT_NAMED = 2
"""The strategies `not_kept` names, those that dropped the most."""


def not_kept(keep: SignalKeep) -> str:
    """The signals `keep` dropped, for the pane's bottom edge ("" when none): `9,800
    older not kept (flood 9,790, meanrev 10)`, naming the `NOT_KEPT_NAMED` strategies
    that dropped the most (`…` when more did), each name cut to `STRATEGY_WIDTH`."""
    if not keep.dropped:
        return ""
    most = sorted(keep.dropped_by.items(), key=lambda item: -item[1])
    named = [f"{fit(name, STRATEGY_WIDTH)} {count:,}" for name, count in most[:NOT_KEPT_NAMED]]
    if len(most) > NOT_KEPT_NAMED or sum(keep.dropped_by.values()) < keep.dropped:
        named.append("…")
    return f"{keep.dropped:,} older not kept ({', '.join(named)})"
