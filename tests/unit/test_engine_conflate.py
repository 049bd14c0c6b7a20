"""The engine applies of each read only the quotes no later quote supersedes, and ends
exactly where applying every one would have left it."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import BusEntry, BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import Book, BookLevel, Quote
from silvertine_tui.engine.conflate import latest_quotes
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import BookEvent, QuoteEvent

STREAMS = ("t:md:paper", "t:md:binance")
INSTRUMENTS = ("A.PAPER", "B.PAPER")
prices = st.one_of(st.none(), st.integers(1, 5).map(Decimal))


@st.composite
def entries(draw: st.DrawFn) -> list[BusEntry]:
    out: list[BusEntry] = []
    for n in range(draw(st.integers(0, 30))):
        stream = draw(st.sampled_from(STREAMS))
        instrument = draw(st.sampled_from(INSTRUMENTS))
        event: QuoteEvent | BookEvent
        if draw(st.integers(0, 5)) == 0:
            level = BookLevel(price=Decimal(1), size=Decimal(1))
            event = BookEvent.create("paper", Book(instrument=instrument, bids=(level,)))
        else:
            bid, ask, last = draw(prices), draw(prices), draw(prices)
            event = QuoteEvent.create(
                "paper", Quote(instrument=instrument, bid=bid, ask=ask, last=last)
            )
        out.append(BusEntry(stream, f"{n + 1}-0", event))
    return out


def engine() -> TradingEngine:
    return TradingEngine(MemoryBus(BusOptions()), [], RiskConfig())


@settings(max_examples=300, deadline=None)
@given(entries(), entries())
def test_the_marks_are_those_of_every_quote_applied(first, second) -> None:
    every, lean = engine(), engine()
    for batch in (first, second):
        for entry in batch:
            every.apply_entry(entry)
        kept = latest_quotes(batch)
        for entry in kept:
            lean.apply_entry(entry)
        # Only quotes are left out, and the rest keeps its order.
        assert [e for e in kept if type(e.event) is not QuoteEvent] == [
            e for e in batch if type(e.event) is not QuoteEvent
        ]
        assert lean.portfolio.marks == every.portfolio.marks
        assert lean.portfolio.mark_basis == every.portfolio.mark_basis
        assert lean.applied == every.applied


def test_a_read_of_the_firehose_applies_each_instruments_last_quote() -> None:
    batch = [
        BusEntry(
            STREAMS[0],
            f"{n + 1}-0",
            QuoteEvent.create(
                "paper",
                Quote(instrument=INSTRUMENTS[n % 2], bid=Decimal(n), ask=Decimal(n + 1)),
            ),
        )
        for n in range(100)
    ]
    kept = latest_quotes(batch)
    assert kept == batch[-2:]
    # A last quote with no mark (no bid) does not stand in for the one before it.
    blank = QuoteEvent.create("paper", Quote(instrument=INSTRUMENTS[1], ask=Decimal(7)))
    kept = latest_quotes([*batch, BusEntry(STREAMS[0], "101-0", blank)])
    assert [e.id for e in kept] == ["99-0", "100-0", "101-0"]
