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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ...domain import Instrument, Side
from ...events.summary import price_text, qty_text
from ..format import age, fit, when_text
from ..keymap import bindings
from ..model import SignalRow
from .palette import DEFAULT_PALETTE, Palette
from .table import Cell, Column, KeyedTable

NOTE_WIDTH = 40
"""A note longer than this is cut at a word (` …`): whole, a long note made its column
too wide for any pane and the column was dropped, note and all. The ticket made from
the signal says it whole."""

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
    market may have moved since`."""
    at = row.ts_ms / 1000
    old = now_s - at
    if not old > SIGNAL_OLD_S:
        return ""
    return f"signal {signal_age(old)} old ({when_text(at, now_s)}): the market may have moved since"


def ticket_note(row: SignalRow, now_s: float) -> tuple[str, bool]:
    """What the ticket made from `row` says beside Send at `now_s`, and whether in the
    warning colour (the signal older than `SIGNAL_OLD_S`): its age first when old
    (`old_signal`), then its strategy and note (`signal meanrev: 2 sigma below`). The
    ticket says it again as the signal ages while it stays open (`Ticket.run_check`,
    once a second): said only as the ticket opened, a signal 59 s old read fresh for
    as long as the ticket was open, and `1m01s old` stayed `1m01s` an hour later."""
    s = row.signal
    note = f"signal {s.strategy}: {s.note}" if s.note else ""
    old = old_signal(row, now_s)
    if old:
        note = f"{old}; {note}" if note else old
    return note, bool(old)


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

    def row_for(
        self,
        row: SignalRow,
        instruments: Mapping[str, Instrument] | None = None,
        now_s: float | None = None,
    ) -> tuple[Cell, ...]:
        s = row.signal
        p = self.palette
        inst = instruments.get(s.instrument) if instruments else None
        at = row.ts_ms / 1000
        now = at if now_s is None else now_s
        of_today = _day(at) == _day(now)
        return (
            self.cell(when_text(at, now, seconds=False), "" if of_today else p.warn),
            self.cell(s.strategy),
            self.cell(s.side.value, p.bid if s.side is Side.BUY else p.ask),
            self.cell(s.instrument),
            self.cell(qty_text(s.quantity, inst)),
            self.cell(price_text(s.price, inst)),
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
        for its bottom edge: `3 newer above`, `12 older below`, or both."""
        shown = self.visible_range()
        above, below = shown.start, len(self._keys) - shown.stop
        said = [f"{above} newer above"] if above else []
        if below > 0:
            said.append(f"{below} older below")
        return ", ".join(said)

    def selected_signal(self) -> SignalRow | None:
        key = self.selected_key()
        return self.rows_by_key.get(key) if key else None
