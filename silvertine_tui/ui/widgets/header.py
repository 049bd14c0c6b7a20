"""The top line: the permanent PAPER/LIVE marker, the trading state, the newest fill,
the bus, the clock.

On a narrow terminal the fill line goes before the name and the bus: at 80 columns
the marker, the state, the fill and the clock still fit.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from ...domain import Side, TradingState
from ..fills import FillLine
from ..format import clock_text
from .palette import DEFAULT_PALETTE, Palette


class DeskHeader(Widget):
    DEFAULT_CSS = """
    DeskHeader { height: 1; background: $panel; color: $foreground; }
    """

    def __init__(self, *, live: bool, bus: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.live = live
        self.bus = bus
        self.palette: Palette = DEFAULT_PALETTE
        self.trading = TradingState.ACTIVE
        self.now_s = 0.0
        self.theme_name = ""
        self.fill: FillLine | None = None

    def set_state(
        self, trading: TradingState, now_s: float, *, live: bool, fill: FillLine | None = None
    ) -> None:
        if (trading, int(now_s), live, fill) != (
            self.trading,
            int(self.now_s),
            self.live,
            self.fill,
        ):
            self.trading = trading
            self.now_s = now_s
            self.live = live
            self.fill = fill
            self.refresh()

    def render(self) -> Text:
        p = self.palette
        marker_style = p.live if self.live else p.paper
        marker = " LIVE " if self.live else " PAPER "
        text = Text(no_wrap=True, overflow="crop")
        brand = " SILVERTINE "
        state = self.trading
        if state is TradingState.HALTED:
            state_text, state_style = " HALTED ", p.halted + _reverse()
        elif state is TradingState.REDUCE_ONLY:
            state_text, state_style = " REDUCE ONLY ", p.warn + _reverse()
        else:
            state_text, state_style = " ACTIVE ", p.ok
        clock = f"{clock_text(self.now_s)} UTC "
        middle = f"  bus {self.bus}"
        width = self.size.width
        free = width - len(marker) - len(state_text) - len(clock) - 1
        fill = self._fill_text(free)
        free -= fill.cell_len
        show_brand = free >= len(brand)
        free -= len(brand) if show_brand else 0

        text.append(marker, style=marker_style + _reverse())
        if show_brand:
            text.append(brand, style="bold")
        text.append(state_text, style=state_style)
        text.append_text(fill)
        if len(middle) <= free:
            text.append(middle, style=p.muted)
        text.append(" " * max(1, width - text.cell_len - len(clock)))
        text.append(clock, style="bold")
        return text

    def _fill_text(self, room: int) -> Text:
        """` FILL BUY 0.5 ETHUSDT.PAPER @ 3,012.40 +7`, cropped (never the count) to the
        room left; bright for a new fill, dim as it gets older."""
        fill = self.fill
        if fill is None or room < 12:
            return Text()
        p = self.palette
        colour = p.bid if fill.side is Side.BUY else p.ask
        style = colour + Style(bold=True) if fill.fresh else colour + Style(dim=True)
        more = f" +{fill.more}" if fill.more else ""
        body = f"  FILL {fill.text}"
        if len(body) + len(more) > room:
            body = body[: max(0, room - len(more) - 1)] + "…"
        return Text(body + more, style=style)


def _reverse() -> Style:
    return Style(reverse=True, bold=True)
