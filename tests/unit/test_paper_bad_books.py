"""Books and quotes the paper venue must not match against: sides priced at 0 or below
(Binance says an empty side as 0) and crossed books (best bid above best ask).

A bid of 0 triggered every sell stop and filled it at 0 (the fill could not even be
journaled: the venue and the journal parted); an ask of 0 filled a buy take-profit for
nothing; a crossed quote let a market buy then a market sell make money from nothing.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.paper import MarketBook
from silvertine_tui.brokers.paper.journal import last_mids
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Book, BookLevel, OrderType, Quote, Side
from silvertine_tui.events import BookEvent, QuoteEvent
from tests.unit.test_paper_balances import CALM, started
from tests.unit.test_paper_broker import ETH, order
from tests.unit.test_paper_venue import KEY, T0, book, make_venue, req

ETHB = "ETHUSDT.BINANCE"


def quote(bid: str, ask: str) -> Quote:
    return Quote(instrument=ETHB, bid=D(bid), bid_size=D("5"), ask=D(ask), ask_size=D("5"))


async def test_a_bid_of_zero_neither_triggers_nor_fills_a_sell_stop() -> None:
    _bus, broker = await started()
    await broker.place(order("b", Side.BUY, "1"))
    await broker.place(order("sl", Side.SELL, "1", kind=OrderType.STOP, stop=D("3000")))
    await broker.on_market_data(quote("0", "3100.01"))
    await broker.settle()
    stop = broker.venue.order("sl")
    assert stop is not None
    assert not stop.fills
    assert not stop.triggered
    assert broker.venue.account.position_qty(ETH) == 1
    # The side priced at 0 is an empty side: the venue's book has asks only.
    installed = broker.venue.book(ETH)
    assert installed is not None
    assert installed.bids == ()
    assert installed.asks
    with pytest.raises(OrderRejected, match="no bids"):
        await broker.place(order("s", Side.SELL, "1"))
    await broker.close()


async def test_an_ask_of_zero_fills_no_buy_take_profit() -> None:
    _bus, broker = await started()
    await broker.place(order("tp", Side.BUY, "1", kind=OrderType.TAKE_PROFIT, stop=D("3000")))
    await broker.on_market_data(quote("3099.99", "0"))
    await broker.settle()
    tp = broker.venue.order("tp")
    assert tp is not None
    assert not tp.fills
    assert broker.venue.account.position_qty(ETH) == 0
    await broker.close()


def test_book_levels_priced_at_zero_or_below_are_dropped() -> None:
    venue = make_venue()
    venue.submit(req(Side.BUY, "1"), T0)
    stop = req(Side.SELL, "1", kind=OrderType.STOP, stop="1900")
    venue.submit(stop, T0)
    reports = venue.set_book(
        book([("0", "5"), ("-1", "5")], [("2000.50", "1"), ("0", "3")]), T0 + 1
    )
    assert not [r for r in reports if r.fill is not None]
    installed = venue.book(KEY)
    assert installed is not None
    assert installed.bids == ()
    assert installed.asks == ((D("2000.50"), D("1")),)
    # From another adapter's book too.
    fed = Book(
        instrument=ETHB,
        bids=(BookLevel(price=D("0"), size=D("5")),),
        asks=(BookLevel(price=D("2000.50"), size=D("1")),),
    )
    assert MarketBook.from_book(fed, KEY).bids == ()


async def test_a_crossed_quote_is_no_market_and_no_free_round_trip() -> None:
    _bus, broker = await started()
    cash0 = broker.venue.account.cash["USDT"]
    await broker.on_market_data(quote("3200", "3100"))  # bid above ask
    await broker.settle()
    assert broker.venue.mid(ETH) is None
    with pytest.raises(OrderRejected, match="no liquidity"):
        await broker.place(order("buy", Side.BUY, "5"))
    with pytest.raises(OrderRejected, match="no liquidity"):
        await broker.place(order("sell", Side.SELL, "5"))
    # A resting order is not filled against it either.
    await broker.place(order("bid", Side.BUY, "1", D("3150")))
    await broker.settle()
    resting = broker.venue.order("bid")
    assert resting is not None
    assert not resting.fills
    assert broker.venue.account.position_qty(ETH) == 0
    # The next sound book trades again.
    await broker.on_market_data(CALM)
    await broker.settle()
    assert resting.fills
    assert resting.fills[0].price == D("3150")
    assert broker.venue.account.cash["USDT"] < cash0
    await broker.close()


def test_a_locked_book_is_a_market() -> None:
    venue = make_venue()
    venue.set_book(book([("2000.00", "5")], [("2000.00", "5")]), T0 + 1)
    assert venue.mid(KEY) == D("2000.00")


async def test_the_restart_anchor_skips_crossed_and_zero_sided_mids() -> None:
    bus = MemoryBus()
    await bus.start()
    good = Book(
        instrument=ETH,
        bids=(BookLevel(price=D("3000"), size=D("1")),),
        asks=(BookLevel(price=D("3002"), size=D("1")),),
    )
    crossed = Book(
        instrument=ETH,
        bids=(BookLevel(price=D("3200"), size=D("1")),),
        asks=(BookLevel(price=D("3100"), size=D("1")),),
    )
    zero_bid = Book(
        instrument=ETH,
        bids=(BookLevel(price=D("0"), size=D("1")),),
        asks=(BookLevel(price=D("3100"), size=D("1")),),
    )
    await bus.publish(BookEvent.create("paper", good))
    await bus.publish(BookEvent.create("paper", crossed))
    await bus.publish(BookEvent.create("paper", zero_bid))
    await bus.publish(
        QuoteEvent.create("paper", Quote(instrument=ETH, bid=D("3300"), ask=D("3100")))
    )
    mids = await last_mids(bus, bus.layout.md("paper"), {ETH})
    assert mids == {ETH: D("3001")}
