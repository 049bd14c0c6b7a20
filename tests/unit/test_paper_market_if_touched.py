"""Paper's TAKE_PROFIT (market-if-touched): it triggers like a TAKE_PROFIT_LIMIT (a buy
when the ask falls to its stop, a sell when the bid rises to it) and then works like a
triggered STOP: a market order that walks the displayed book, its remainder expired."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.paper import ReportKind
from silvertine_tui.domain import OrderStatus, OrderType, Side

from .test_paper_venue import BOOK, T0, book, fills_of, kinds, make_venue, req

MIT = OrderType.TAKE_PROFIT
BUY, SELL = Side.BUY, Side.SELL


def test_the_trigger_directions_and_prices() -> None:
    assert not MIT.triggers_rising(BUY)
    assert MIT.triggers_rising(SELL)
    assert (MIT.has_stop_price, MIT.has_limit_price, MIT.market_on_trigger) == (
        True,
        False,
        True,
    )


def test_a_buy_waits_through_a_rise_and_walks_the_book_once_the_ask_falls_to_its_stop() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "1", kind=MIT, stop="1999.50"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED]  # ask 2000.50 is above the stop
    assert venue.account.locked["USDT"] == D("2001.4995")  # reserved at the stop, as a STOP
    # A rise: nothing (a buy STOP at this price would have triggered long ago).
    assert venue.set_book(book([("2001.00", "5")], [("2001.50", "5")]), T0 + 1) == []
    reports = venue.set_book(
        book([("1998.00", "5")], [("1999.50", "0.4"), ("1999.75", "2")]), T0 + 2
    )
    assert kinds(reports) == [ReportKind.TRIGGERED, ReportKind.FILL, ReportKind.FILL]
    assert reports[0].reason == "stop triggered: ask 1,999.50 <= stop 1,999.50"
    # As a market order: it takes both levels (a limit at the stop would have stopped).
    assert [(f.side, f.quantity, f.price) for f in fills_of(reports)] == [
        (BUY, D("0.4"), D("1999.50")),
        (BUY, D("0.6"), D("1999.75")),
    ]
    assert venue.open_orders() == []
    assert venue.account.locked["USDT"] == 0


def test_a_sell_triggers_when_the_bid_rises_to_its_stop_and_expires_what_the_book_lacks() -> None:
    venue = make_venue()
    venue.submit(req(BUY, "1"), T0)
    venue.set_book(BOOK, T0)
    order = req(SELL, "1", kind=MIT, stop="2001.00")
    venue.submit(order, T0)
    # A fall: nothing (a sell STOP would have triggered).
    assert venue.set_book(book([("1990.00", "5")], [("1990.50", "5")]), T0 + 1) == []
    reports = venue.set_book(book([("2001.25", "0.25")], [("2001.50", "5")]), T0 + 2)
    assert kinds(reports) == [ReportKind.TRIGGERED, ReportKind.FILL, ReportKind.EXPIRED]
    assert reports[0].reason == "stop triggered: bid 2,001.25 >= stop 2,001.00"
    assert [(f.side, f.quantity, f.price) for f in fills_of(reports)] == [
        (SELL, D("0.25"), D("2001.25"))
    ]
    assert reports[-1].status is OrderStatus.EXPIRED


def test_one_already_touched_triggers_and_fills_at_once() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "0.5", kind=MIT, stop="2001.00"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED, ReportKind.TRIGGERED, ReportKind.FILL]
    assert [(f.quantity, f.price) for f in fills_of(reports)] == [(D("0.5"), D("2000.50"))]
