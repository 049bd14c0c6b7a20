"""Market data the engine has no use for leaves no trace in it: books and prints are
not remembered as applied event ids (that window guards the journal against
re-sent batches, and an idle desk's memory grew with every book)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import Book, BookLevel, Trade
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import BookEvent, TradeEvent


def test_books_and_prints_do_not_fill_the_seen_window() -> None:
    engine = TradingEngine(MemoryBus(BusOptions()), [], RiskConfig())
    level = BookLevel(price=Decimal("100"), size=Decimal("1"))
    for n in range(500):
        engine.apply(BookEvent.create("paper", Book(instrument="X.PAPER", bids=(level,))))
        engine.apply(
            TradeEvent.create(
                "paper",
                Trade(
                    instrument="X.PAPER",
                    price=Decimal("100"),
                    quantity=Decimal(n + 1),
                ),
            )
        )
    assert len(engine.oms._seen) == 0
    assert engine.version == 0
