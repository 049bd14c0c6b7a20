"""The top line: the permanent PAPER/LIVE marker, the trading state, the newest fill
(or the bus; `BUS DOWN` over both while this desk cannot reach it), the clock. A
watching desk (`silvertine watch`) says `WATCHING` where the name is, and where the
name does not show (the compact layout, under a dialog) says it after `BUS DOWN` while
the bus is down, after the state while a fill shows (`WATCHING_WORD`; else `watching`
before the bus's address): whatever else the line says, it never reads as a driving
desk's.

A new fill repaints only the fill's own cells (`refresh(region)`), not the whole line:
Textual renders every widget inside the box around a frame's changed regions, and a
full-width line changing at every fill pulled the right column (the ticket's thirty
widgets) into every frame. The fill starts at a fixed column (the name goes on a
narrow terminal and the bus while a fill shows, so nothing after it moves); at 80
columns the marker, the state, the fill and the clock still fit.

A watching desk's kill switch that no desk holds (not sent, or its answer lost) is
said right after the trading state (`note`: `KILL NOT SENT`): the state is the one the
desks' risk stream says, never a HALTED only this desk would show.

In the compact layout the name never shows: the marker and the state are the line's
first `MARKER_AND_STATE_CELLS` cells, which a toast there leaves uncovered. Nor under a
dialog, at any size: a toast there shows over the header (in the grid the name put the
state under it, HALTED hidden just after a kill), from the cell after all the line says
of the desk's state (`state_cells`: the marker, the state, the note and `BUS DOWN`;
`place_toasts`). It started at a fixed cell, the width of the widest marker and state,
and covered `BUS DOWN` and `KILL NOT SENT` as the kill switch's dialog asked.

The clock is the desk's (`Desk.clock`, injected in tests) from the first frame: read as
the line is mounted when the desk is there, and blank (as wide) until the screen's first
draw where it is not yet (`silvertine run` draws the frame before the session). It read
`00:00:00 UTC` on the first frame, a time that was never the desk's. The trading state
is blank the same way until the desk draws it: it read ACTIVE on the first frames of a
desk that starts HALTED.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.css.query import NoMatches
from textual.geometry import Region, Spacing
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets._toast import ToastRack

from ...domain import Side, TradingState
from ..fills import FillLine
from ..format import clock_text, fit
from .palette import DEFAULT_PALETTE, Palette

BRAND = " SILVERTINE "
WATCHING = " WATCHING ".center(len(BRAND))
BRAND_WITH_FILL_MIN_WIDTH = 100
"""Narrower than this, a fill takes the name's place."""
MARKER_AND_STATE_CELLS = len(" PAPER ") + len(" REDUCE ONLY ")
"""The widest marker and state: the compact layout's toasts start after them, and a
dialog's at the least (`DeskHeader.state_cells`)."""
CLOCK_CELLS = len("00:00:00 UTC ")
"""The clock's cells (`DeskHeader._clock`), blank while the time is not known."""
BUS_DOWN = "  BUS DOWN "
"""Said after the state (and the note) while this desk cannot reach its bus, then the
bus's address."""
WATCHING_WORD = " WATCHING "
"""A watching desk's word where the name's place before the state is not shown (the
compact layout, a dialog over the desk, no room) and the line says no `watching`
before the bus's address: after `BUS DOWN` (before the address), or after the state
(and the note) where a fill shows. The header never reads as a driving desk's."""


class DeskHeader(Widget):
    DEFAULT_CSS = """
    DeskHeader { dock: top; height: 1; background: $panel; color: $foreground; }
    """

    def __init__(
        self, *, live: bool, bus: str, watching: bool = False, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.live = live
        self.bus = bus
        self.watching = watching
        """A desk that watches other desks (`silvertine watch`): `WATCHING` takes the
        name's place, and `watching` the bus's."""
        self.palette: Palette = DEFAULT_PALETTE
        self.trading: TradingState | None = None
        """The trading state as last drawn (None: not known yet, its place blank)."""
        self.now_s: float | None = None
        """The desk's clock as last drawn (None: not known yet, the clock blank)."""
        self.theme_name = ""
        self.fill: FillLine | None = None
        self.bus_down = False
        self.compact = False
        self.under_dialog = False
        """A dialog is over the desk: its toasts show over this line (the name goes)."""
        self.note = ""
        """Said after the trading state, in the error colour (`KILL NOT SENT`)."""

    def on_mount(self) -> None:
        self.app.screen_change_signal.subscribe(self, self._screen_changed, immediate=True)
        if self.now_s is None:
            # The desk's clock from the first frame, where the desk is there already
            # (the screen's first draw sets it after): never a time the desk never had.
            clock = getattr(getattr(self.screen, "desk", None), "clock", None)
            if callable(clock):
                self.now_s = float(clock())

    def _screen_changed(self, screen: Screen[object]) -> None:
        from ..screens.dialog import Dialog  # (screens import the widgets)

        under = screen is not self.screen and isinstance(screen, Dialog)
        if under != self.under_dialog:
            self.under_dialog = under
            self.refresh()
        self.place_toasts()  # a dialog closed: the one under it may have toasts

    def set_note(self, note: str) -> None:
        if note != self.note:
            self.note = note
            self.refresh()
            self.place_toasts()

    def state_cells(self) -> int:
        """How many of this line's first cells say the desk's state under a dialog:
        the marker, the trading state, the note (`KILL NOT SENT`) and `BUS DOWN` (not
        the bus's address after it); never fewer than `MARKER_AND_STATE_CELLS`, so
        that a dialog's toast does not move as the state goes from REDUCE ONLY to
        HALTED."""
        cells = len(self._marker()) + len(self._state()[0]) + len(self._note())
        if self._watching_after_state(self.size.width):
            cells += len(WATCHING_WORD)  # (after `BUS DOWN` while it shows)
        if self.bus_down:
            cells += len(BUS_DOWN)
        return max(cells, MARKER_AND_STATE_CELLS)

    def place_toasts(self, rack: ToastRack | None = None) -> None:
        """Under a dialog its toasts show over this line (ui/styles/app.tcss, `Dialog
        ToastRack`): they start after what it says of the desk's state (`state_cells`),
        and move when that changes (the bus lost or back, a note) while they show.
        `rack`: the dialog's (`show_toasts`), else the top screen's."""
        if not self.under_dialog or not self.is_attached:
            return
        if rack is None:
            stack = self.app.screen_stack
            try:
                rack = stack[-1].get_child_by_type(ToastRack) if stack else None
            except NoMatches:
                return  # not composed yet: `show_toasts` places it
            if rack is None:
                return
        left = self.state_cells()
        if rack.styles.margin != Spacing(0, 0, 0, left):
            rack.styles.margin = Spacing(0, 0, 0, left)

    def _note(self) -> str:
        return f" {self.note} " if self.note else ""

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            self.refresh()

    def set_state(
        self,
        trading: TradingState,
        now_s: float,
        *,
        live: bool,
        fill: FillLine | None = None,
        bus_down: bool = False,
    ) -> None:
        same_line = self.now_s is not None and (trading, int(now_s), live, bus_down) == (
            self.trading,
            int(self.now_s),
            self.live,
            self.bus_down,
        )
        if same_line and fill == self.fill:
            return
        before = self.fill
        self.trading = trading
        self.now_s = now_s
        self.live = live
        self.fill = fill
        self.bus_down = bus_down
        if same_line and before is not None and fill is not None and not bus_down:
            start, room = self._fill_place()
            cells = max(self._fill_text(f, room).cell_len for f in (before, fill))
            self.refresh(Region(start, 0, cells, 1))
        else:
            self.refresh()
            self.place_toasts()

    def _state(self) -> tuple[str, Style]:
        p = self.palette
        if self.trading is TradingState.HALTED:
            return " HALTED ", p.halted + _reverse()
        if self.trading is TradingState.REDUCE_ONLY:
            return " REDUCE ONLY ", p.warn + _reverse()
        if self.trading is None:
            # Before the session has read the risk stream: never ACTIVE on a desk that
            # starts HALTED (two frames of `ACTIVE` before `HALTED`: the Binance drill).
            return " " * len(" ACTIVE "), Style()
        return " ACTIVE ", p.ok

    def _marker(self) -> str:
        return " LIVE " if self.live else " PAPER "

    def _clock(self) -> str:
        if self.now_s is None:
            return " " * CLOCK_CELLS
        return f"{clock_text(self.now_s)} UTC "

    def _fill_place(self) -> tuple[int, int]:
        """Where a fill starts and the cells it may take (up to the clock)."""
        width = self.size.width
        brand = len(BRAND) if self._brand_fits(width, BRAND_WITH_FILL_MIN_WIDTH) else 0
        start = len(self._marker()) + brand + len(self._state()[0]) + len(self._note())
        if self._watching_after_state(width):
            start += len(WATCHING_WORD)
        return start, width - start - len(self._clock()) - 1

    def _brand_fits(self, room: int, need: int) -> bool:
        """The name shows where there is room, never in the compact layout nor under a
        dialog (where a toast starts after the marker and the state)."""
        return not (self.compact or self.under_dialog) and room >= need

    def _room(self, width: int) -> int:
        """The cells between the state (and the note) and the clock."""
        used = len(self._marker()) + len(self._state()[0]) + len(self._note())
        return width - used - len(self._clock()) - 1

    def _watching_after_state(self, width: int) -> bool:
        """A watching desk says `WATCHING_WORD` after the state where the name's place is
        not shown and the line says no `watching` before the bus's address: while the
        bus is down (after `BUS DOWN`, which takes that place: under a dialog the
        marker, the state and `BUS DOWN` keep their cells) or a fill shows. Before, its
        header then read as a driving desk's (the key bar alone said WATCHING)."""
        if not self.watching:
            return False
        if self.bus_down:
            return not self._brand_fits(self._room(width), len(BRAND))
        if self.fill is not None:
            return not self._brand_fits(width, BRAND_WITH_FILL_MIN_WIDTH)
        return False

    def render(self) -> Text:
        p = self.palette
        marker = self._marker()
        state_text, state_style = self._state()
        note = self._note()
        clock = self._clock()
        width = self.size.width
        text = Text(no_wrap=True, overflow="crop")
        text.append(marker, style=(p.live if self.live else p.paper) + _reverse())
        watching_after = self._watching_after_state(width)
        if self.bus_down:  # what the desk shows is old: say so before any fill
            if self.watching and not watching_after:
                text.append(*self._brand())
            text.append(state_text, style=state_style)
            text.append(note, style=p.error + _reverse())
            if watching_after:
                text.append(BUS_DOWN, style=p.error + Style(bold=True))
                text.append(WATCHING_WORD, style=p.warn + Style(bold=True))
                down = fit(self.bus, width - text.cell_len - len(clock) - 1)
            else:
                down = fit(f"{BUS_DOWN}{self.bus}", width - text.cell_len - len(clock) - 1)
            text.append(down, style=p.error + Style(bold=True))
        elif self.fill is not None:
            _, room = self._fill_place()
            if self._brand_fits(width, BRAND_WITH_FILL_MIN_WIDTH):
                text.append(*self._brand())
            text.append(state_text, style=state_style)
            text.append(note, style=p.error + _reverse())
            if watching_after:
                text.append(WATCHING_WORD, style=p.warn + Style(bold=True))
            text.append_text(self._fill_text(self.fill, room))
        else:
            middle = f"  {'watching' if self.watching else 'bus'} {self.bus}"
            free = width - len(marker) - len(state_text) - len(note) - len(clock) - 1
            named = self._brand_fits(free, len(BRAND))
            if named:
                text.append(*self._brand())
                free -= len(BRAND)
            text.append(state_text, style=state_style)
            text.append(note, style=p.error + _reverse())
            if len(middle) <= free:
                text.append(middle, style=p.warn if self.watching else p.muted)
            elif self.watching and not named:
                # The only place it says so: cut the address, never the word (a long
                # bus address left the compact header reading as a driving desk's).
                if free >= len("  watching …"):
                    text.append(fit(middle, free), style=p.warn)
                elif free >= len(WATCHING_WORD):
                    text.append(WATCHING_WORD, style=p.warn + Style(bold=True))
        text.append(" " * max(1, width - text.cell_len - len(clock)))
        text.append(clock, style="bold")
        return text

    def _brand(self) -> tuple[str, Style]:
        """The name, or on a watching desk ` WATCHING `, as wide."""
        if self.watching:
            return WATCHING, self.palette.warn + Style(bold=True)
        return BRAND, Style(bold=True)

    def _fill_text(self, fill: FillLine, room: int) -> Text:
        """`  FILL BUY 0.5 ETHUSDT.PAPER @ 3,012.40 +7`, cut (never the count, never
        inside a number: `fit`) to the room left; bright for a new fill, dim as it gets
        older."""
        if room < 12:
            return Text()
        p = self.palette
        colour = p.bid if fill.side is Side.BUY else p.ask
        style = colour + Style(bold=True) if fill.fresh else colour + Style(dim=True)
        more = f" +{fill.more}" if fill.more else ""
        body = f"  FILL {fill.text}"
        body = fit(body, room - len(more))
        return Text(body + more, style=style)


def _reverse() -> Style:
    return Style(reverse=True, bold=True)
