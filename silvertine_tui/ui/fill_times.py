"""When a line of the Log pane or an order's history says an event happened: a fill at
its execution, as the venue gave it, and when the desk heard of it where the two are
apart. Its own module, not `format`'s: `format` is drawn with the desk's first frame,
before the events package is imported (tests/unit/test_startup_imports.py)."""

from __future__ import annotations

from ..domain.clock import NO_TIME
from ..events import EventBase, FillEvent
from .format import clock_text

HEARD_APART_NS = 1_000_000_000
"""A fill executed this far (or more) from when the desk heard of it says both."""


def line_times(event: EventBase, heard_ns: int | None = None) -> tuple[str, str]:
    """An event's time on its line, and when the desk heard of it where that is said
    too ("" when not), for the order history and the Log pane alike. `heard_ns`: when
    the desk heard of it (its journal time, `event.ts`, when not given; the Log's is
    the entry's time, as its every line's). A fill is timed at its execution
    (`Fill.venue_ts_ns`, when the venue gave it): one found on a reconnect (the paper
    venue's resync, IB's and Binance's catch-up) read at the reconnect, as every event
    is timed by when it was journaled. Heard a second or more apart, its line says when
    (`, heard 14:30:04`): under that the two are one moment at the view's second,
    however a second turned between them (two clocks, the venue's and the desk's)."""
    if heard_ns is None:
        heard_ns = event.ts
    heard = clock_text(heard_ns / 1e9)
    if not isinstance(event, FillEvent) or event.payload.venue_ts_ns is None:
        return heard, ""
    executed = event.payload.venue_ts_ns
    at = clock_text(executed / 1e9)
    if at == NO_TIME:
        return heard, ""  # a venue time no date can hold: timed as heard
    if at == heard or abs(heard_ns - executed) < HEARD_APART_NS:
        return at, ""
    return at, heard
