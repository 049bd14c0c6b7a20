"""Quotes superseded within one read of the bus, left out before the engine applies it."""

from __future__ import annotations

from ..bus import BusEntry
from ..events import QuoteEvent


def latest_quotes(batch: list[BusEntry]) -> list[BusEntry]:
    """`batch` without the quotes that a later quote of the same instrument (on the
    same stream) with a mark supersedes; everything else kept, in its order.

    A quote only sets its instrument's mark (`Quote.mark`: its mid, else its last
    trade; one with neither changes nothing), so a later quote with
    a mark sets the mark and its basis exactly as the ones before it would have. The
    engine follows the firehose a read at a time: at the UI benchmark's 10,000 quotes a
    second over 50 instruments a read holds about two quotes of each; applying a read
    of 100 took about 400 us of CPU with every quote, 260 us with each instrument's
    last (4.0% -> 2.6% of a core at 100 reads a second)."""
    marked: set[tuple[str, str]] = set()
    kept: list[BusEntry] = []
    dropped = False
    for entry in reversed(batch):
        event = entry.event
        if type(event) is QuoteEvent:
            quote = event.payload
            key = (entry.stream, quote.instrument)
            if key in marked:
                dropped = True
                continue
            try:
                mark = quote.mark
            except ArithmeticError:  # (a mid of 9E+999999 overflows): applying it says so
                mark = None
            if mark is not None:
                marked.add(key)
        kept.append(entry)
    if not dropped:
        return batch
    kept.reverse()
    return kept
