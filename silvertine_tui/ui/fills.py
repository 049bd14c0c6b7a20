"""The header's fill line: the newest fill and how many more came just before it.

A toast per fill (ten a second on a working desk) covered the desk and cost two
layouts of the whole screen each (one to mount it, one to take it away). The fill line
is a segment of the header, which repaints one line: every fill shows at once, fades
after `FRESH_S` and is gone `SHOWN_S` after the last one. The Log (`f`: fills only)
keeps every fill.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..domain import Side

SHOWN_S = 5.0
"""How long a fill stays in the header, and the window its `+N` counts over."""
FRESH_S = 2.0
"""How long it shows in full colour before it dims."""


@dataclass(frozen=True, slots=True)
class FillLine:
    """What the header shows: `FILL BUY 0.5 ETHUSDT.PAPER @ 3,012.40 +7`."""

    side: Side
    text: str
    """`BUY 0.5 ETHUSDT.PAPER @ 3,012.40`"""
    more: int
    """Fills in the `SHOWN_S` before the newest (at ten a second, about fifty)."""
    fresh: bool


@dataclass(slots=True)
class RecentFills:
    total: int = 0
    _newest: tuple[float, Side, str] | None = None
    _times: deque[float] = field(default_factory=deque)

    def add(self, side: Side, text: str, now_s: float) -> None:
        self._newest = (now_s, side, text)
        self._times.append(now_s)
        self.total += 1

    def line(self, now_s: float) -> FillLine | None:
        if self._newest is None:
            return None
        at, side, text = self._newest
        age = now_s - at
        if age >= SHOWN_S:
            self._newest = None
            self._times.clear()
            return None
        times = self._times
        while times and times[0] <= now_s - SHOWN_S:
            times.popleft()
        return FillLine(side, text, max(0, len(times) - 1), age < FRESH_S)
