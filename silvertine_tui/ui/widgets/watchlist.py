"""Quotes: bid, ask, last, change, spread and a sparkline per symbol; stale rows dimmed
with their age.

The columns fit the pane as the other tables' do (`LineTable`): Symbol, Bid, Ask, Last
and Chg% always, then Spread, then Trend, dropped whole (at 100x28 the pane scrolled
sideways, the spread cut to `6.` and the Trend column never in view). An old quote says
its age in the Trend column; without it, in its Chg% cell (`old 14s`, `old 2m`: the
change of an old price is old too), so it is never only dimmed. A crossed quote (its bid
above its ask: `model.is_crossed`) says `crossed` in the warning colour in its Spread
cell (a negative spread read as a number), or without that column in its Chg% cell, and
its bid and ask are in the warning colour."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

from rich.segment import Segment
from rich.style import Style

from ...domain import Instrument
from ...events.summary import price_text
from ..format import DASH, age, pct
from ..keymap import bindings
from ..model import QuoteState
from .columns import Column, column_index
from .line_table import Cell, LineTable
from .palette import DEFAULT_PALETTE, Palette

BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 9
STALE_AFTER_S = 5.0


def stale_age(
    state: QuoteState, now_s: float, stale_after_s: float, *, of_mark: bool = False
) -> float | None:
    """The quote's age when it is stale, else None: the one rule of the desk for a
    quote (and a mark taken from it) too old to be shown as the market's. The Quotes
    pane dims it; the Positions pane dims the mark and its P&L; the ticket warns.
    `of_mark`: the age of the mark, which a quote with no price (crossed, a side
    empty) leaves as it was (`QuoteState.mark_age_s`; `inf` when no quote gave one).

    A quote is as old as the venue time it is of, when that is older than its arrival
    (`QuoteState.lag_ns`: IB's delayed data, 15 minutes; its frozen data, the last
    trade's time), and stale at once, however young, while its broker's market link
    holds its quotes (`QuoteState.held`: TWS cut off from IB, 1100)."""
    if of_mark:
        mark_age = state.mark_age_s(now_s)
        quote_age = math.inf if mark_age is None else mark_age
    else:
        quote_age = state.age_s(now_s)
    return quote_age if quote_age >= stale_after_s or state.held else None


def old_text(quote_age: float | None) -> str:
    """What a stale quote says of its age (`old 2m02s`); `old ?` where its age is not
    known (a mark with no quote read, or none that gave a price: see `Positions`)."""
    if quote_age is None or math.isinf(quote_age):
        return "old ?"
    return f"old {age(quote_age)}"


def short_old_text(quote_age: float | None) -> str:
    """An old quote's age in a Chg% cell's room (`-12.34%`, 7): `old 14s`, `old 2m`,
    `old 3h`, `old 2d` (`old_text` says `old 2m02s` where the Trend column has room)."""
    if quote_age is None or math.isinf(quote_age):
        return "old ?"
    whole = max(0, int(quote_age))
    for unit, seconds in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if whole >= seconds:
            return f"old {whole // seconds}{unit}"
    return f"old {whole}s"


KIND_MARKS = {"delayed": "dly", "frozen": "frz", "delayed-frozen": "frz"}
"""What an old quote of delayed or frozen data says in place of `old` (`dly 15m`)."""


def kind_old_text(quote_age: float | None, kind: str, room: int) -> str:
    """An old quote's age in `room` characters: `old 2m02s` (`old_text`), `old 2m` where
    that does not fit (`short_old_text`), and `dly 15m`, `frz 16h` for delayed or frozen
    data (IB's `md_type`): that it is not live, and why."""
    mark = KIND_MARKS.get(kind)
    if mark is not None:
        return mark + short_old_text(quote_age).removeprefix("old")
    text = old_text(quote_age)
    return text if len(text) <= room else short_old_text(quote_age)


CROSSED = "crossed"
"""What a crossed quote's row says in place of its spread (`Watchlist.row_for`)."""


NO_DATA_GLOSS = {"354": "not subscribed"}


def no_data_text(problem: str) -> str:
    """What a Quotes row with no data at all says of why (IB's `md_problem:<key>`,
    `354: Requested market data is not subscribed...`): `no data: 354 (not
    subscribed)`, else `no data: ` and the problem as the broker said it (cut to the
    row's room when drawn)."""
    code, sep, rest = problem.partition(": ")
    if sep and code.isdigit():
        gloss = NO_DATA_GLOSS.get(code)
        return f"no data: {code} ({gloss})" if gloss else f"no data: {code} {rest}"
    return f"no data: {problem}"


class NoteCell(Cell):
    """A row's note, drawn from the Bid column to the end of the row (`Watchlist`)."""


def _price(value: Decimal | None) -> Decimal | None:
    """`value` when it is a price (above 0), else None (shown `-`)."""
    return value if value is not None and value > 0 else None


def sparkline(values: Sequence[Decimal], width: int = SPARK_WIDTH) -> str:
    points = list(values)[-width:]
    if not points:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return (BARS[3] * len(points)).rjust(width)
    span = high - low
    top = len(BARS) - 1
    chars = [BARS[int((p - low) / span * top)] for p in points]
    return "".join(chars).rjust(width)


class Watchlist(LineTable):
    BINDINGS = bindings("watchlist")
    COLUMNS = (
        Column("symbol", "Symbol"),
        Column("bid", "Bid", right=True),
        Column("ask", "Ask", right=True),
        Column("last", "Last", right=True),
        Column("chg", "Chg%", right=True, min_width=len("+0.00%")),
        Column("spread", "Sprd", right=True, priority=1),
        # A stale row shows its age here instead of the sparkline (in Chg% without it).
        Column("spark", "Trend", width=SPARK_WIDTH, priority=2),
    )
    SPARK = column_index(COLUMNS, "spark")
    SPREAD = column_index(COLUMNS, "spread")
    # In key order whatever order the brokers connected in: a fresh desk added each
    # broker's rows below the others' as it connected, a restart sorted them all, and
    # `1 Down x4 b` opened a ticket on BTCUSDT.PAPER in one, BTCUSDT.BINANCE in the other.
    SORTED_ROWS = True

    def __init__(self, *, stale_after_s: float = STALE_AFTER_S, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stale_after_s = stale_after_s
        self.palette: Palette = DEFAULT_PALETTE
        self.instruments: dict[str, Instrument] = {}
        self._hidden_dirty: set[str] = set()
        self._drawn_rows = range(0)
        self._trend_shown = True
        """Whether the rows were made for a Trend column (an old quote's age there)."""
        self._spread_shown = True
        """Whether the rows were made for a Spread column (`crossed` there)."""
        self._redraw_all = False

    @property
    def shows_other_rows(self) -> bool:
        """Other rows are on screen than at the last draw (scrolled, resized, shown),
        or the rows are for other columns (Trend came or went): rows that changed
        while off screen must be drawn now."""
        return self._redraw_all or self.visible_range() != self._drawn_rows

    def _show_columns(self, shown: tuple[int, ...]) -> None:
        super()._show_columns(shown)
        trend, spread = self.SPARK in shown, self.SPREAD in shown
        if trend != self._trend_shown or spread != self._spread_shown:
            # An old quote says its age in the other place (a crossed one `crossed`):
            # every row again, those on screen at the next frame (`shows_other_rows`),
            # the others as they show.
            self._trend_shown, self._spread_shown = trend, spread
            self._hidden_dirty |= set(self._cells)
            self._redraw_all = True

    def set_instruments(self, instruments: Iterable[Instrument]) -> None:
        """Rows for every known instrument, in key order (those of a broker that
        connects later go to their places), before any quote arrives."""
        rows = self.row_count
        for inst in sorted(instruments, key=lambda i: i.key):
            self.instruments[inst.key] = inst
            if inst.key not in self._cells:
                self.update_rows([(inst.key, self._empty_row(inst.key))])
        if self.row_count != rows:
            # Rows moved down under the ones put in: those scrolled onto the screen
            # may have changed while off it (drawn at the next frame).
            self._redraw_all = True

    def _empty_row(self, key: str) -> tuple[Cell, ...]:
        dash = self.cell(DASH, self.palette.muted)
        return (self.cell(key), dash, dash, dash, dash, dash, self.cell(""))

    def _note_row(self, key: str, problem: str) -> tuple[Cell, ...]:
        """The row of an instrument with no data at all: why, in its note (`NoteCell`),
        drawn over its empty cells (their widths hold: the note widens no column)."""
        p = self.palette
        blank = self.cell("", p.muted)
        note = NoteCell(self.cell(no_data_text(problem)).text, p.warn)
        return (self.cell(key, p.stale), blank, blank, blank, blank, blank, note)

    def _segments(self, cells: Sequence[Cell], base: Style) -> list[Segment]:
        note = cells[self.SPARK] if len(cells) > self.SPARK else None
        if not isinstance(note, NoteCell) or len(self._offsets) < 3:
            return super()._segments(cells, base)
        # The symbol, then the note over every other shown column.
        first = super()._segments((cells[0], *(Cell("") for _ in cells[1:])), base)[0]
        room = self._offsets[-1] - self._offsets[1] - self.PAD_LEFT
        pad = " " * self.PAD_LEFT
        text = note.text[:room].ljust(room) if room > 0 else ""
        return [first, Segment(f"{pad}{text}", base + note.style)]

    def _changed_spans(self, old: Sequence[Cell], new: Sequence[Cell]) -> list[tuple[int, int]]:
        if any(isinstance(cells[-1], NoteCell) for cells in (old, new) if cells):
            return [(0, self._offsets[-1])]  # the note spans the row: all of it
        return super()._changed_spans(old, new)

    def selected_instrument(self) -> str | None:
        return self.selected_key()

    def row_for(self, state: QuoteState, now_s: float) -> tuple[Cell, ...]:
        p = self.palette
        inst = self.instruments.get(state.instrument)
        q = state.quote
        quote_age = stale_age(state, now_s, self.stale_after_s)
        stale = quote_age is not None
        dim = p.stale if stale else Style()
        change = state.change_pct
        chg_style = dim if stale else p.pnl(change)
        # Without the Trend column an old quote's age takes its change's place.
        chg = (
            pct(change)
            if not stale or self._trend_shown
            else kind_old_text(quote_age, state.kind, 0)
        )
        # A crossed quote (bid above ask) is no market: said, never a negative spread;
        # without the Spread column in the change's place (over an old quote's age:
        # crossed, it is no price whatever its age).
        crossed = state.crossed
        bid_style, ask_style = (dim, dim) if stale else (p.bid, p.ask)
        spread = self.cell(price_text(q.spread, inst), dim)
        if crossed:
            bid_style = ask_style = p.warn
            spread = self.cell(CROSSED, p.warn)
            if not self._spread_shown:
                chg, chg_style = CROSSED, p.warn
        # A price of 0 or below is none (Binance says an empty side as 0; a journal
        # written before that was read as none still holds it): `-`, as a side not sent.
        bid, ask, last = _price(q.bid), _price(q.ask), _price(q.last)
        return (
            self.cell(state.instrument, dim),
            # Prices as the venue sent them: on the tick's places, with their own
            # decimals where they have more (never rounded onto the tick).
            self.cell(price_text(bid, inst), bid_style),
            self.cell(price_text(ask, inst), ask_style),
            self.cell(price_text(last, inst), dim if stale or last is not None else p.muted),
            self.cell(chg, chg_style),
            spread,
            self.cell(kind_old_text(quote_age, state.kind, SPARK_WIDTH).rjust(SPARK_WIDTH), p.stale)
            if stale
            else self.cell(sparkline(state.spark), p.accent),
        )

    def render_quotes(
        self,
        quotes: dict[str, QuoteState],
        dirty: set[str],
        now_s: float,
        *,
        all_rows: bool = False,
        recheck: bool = False,
    ) -> None:
        """Redraw the rows on screen that changed since they were last drawn; with
        `recheck` (about once a second) every row on screen, whose staleness may have
        moved, and the columns that fit again (a column a passing value pushed out
        comes back); with `all_rows` every row. Rows off screen wait until they scroll
        into view: a firehose over fifty symbols costs the rows on screen, never all
        fifty."""
        if recheck:
            self.refit()
        self._redraw_all = False
        self._hidden_dirty |= dirty
        self._drawn_rows = self.visible_range()
        if all_rows:
            keys = set(quotes)
            self._hidden_dirty.clear()
        else:
            visible = self.visible_keys()
            keys = visible if recheck else self._hidden_dirty & visible
            self._hidden_dirty -= keys
        problems: dict[str, str] = getattr(quotes, "problems", {})
        if all_rows:
            keys |= set(problems) & set(self._cells)
        rows = []
        for key in sorted(keys):
            state = quotes.get(key)
            problem = problems.get(key)
            if problem is not None and key in self._cells:
                rows.append((key, self._note_row(key, problem)))
            elif state is not None:
                rows.append((key, self.row_for(state, now_s)))
            elif key in self._cells and isinstance(self._cells[key][-1], NoteCell):
                rows.append((key, self._empty_row(key)))  # its problem is over
        self.update_rows(rows)

    def restyle(self, quotes: dict[str, QuoteState], now_s: float) -> None:
        """After a theme change: every row again with the new colours."""
        for key in self._cells:
            if key not in quotes:
                self.update_rows([(key, self._empty_row(key))])
        self.render_quotes(quotes, set(), now_s, all_rows=True)
