"""The top line: the permanent PAPER/LIVE marker, the trading state, the bus, the clock."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from ...domain import TradingState
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

    def set_state(self, trading: TradingState, now_s: float, *, live: bool) -> None:
        if (trading, int(now_s), live) != (self.trading, int(self.now_s), self.live):
            self.trading = trading
            self.now_s = now_s
            self.live = live
            self.refresh()

    def render(self) -> Text:
        p = self.palette
        marker_style = p.live if self.live else p.paper
        marker = " LIVE " if self.live else " PAPER "
        text = Text(no_wrap=True, overflow="crop")
        text.append(marker, style=marker_style + _reverse())
        text.append(" SILVERTINE ", style="bold")
        state = self.trading
        if state is TradingState.HALTED:
            text.append(" HALTED ", style=p.halted + _reverse())
        elif state is TradingState.REDUCE_ONLY:
            text.append(" REDUCE ONLY ", style=p.warn + _reverse())
        else:
            text.append(" ACTIVE ", style=p.ok)
        clock = f"{clock_text(self.now_s)} UTC "
        middle = f"  bus {self.bus}"
        width = self.size.width
        used = text.cell_len + len(clock)
        if used + len(middle) < width:
            text.append(middle, style=p.muted)
            used += len(middle)
        text.append(" " * max(1, width - used))
        text.append(clock, style="bold")
        return text


def _reverse() -> Style:
    return Style(reverse=True, bold=True)
