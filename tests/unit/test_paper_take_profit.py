"""Paper's TAKE_PROFIT_LIMIT (limit-if-touched): a buy triggers when the ask falls to
its stop, a sell when the bid rises to it, then each works as a limit; a rise never
triggers a buy, a fall never a sell; stops on the same ladders keep working."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.paper import ReportKind
from silvertine_tui.domain import OrderType, Side

from .test_paper_venue import BOOK, T0, book, fills_of, kinds, make_venue, req

TP = OrderType.TAKE_PROFIT_LIMIT
BUY, SELL = Side.BUY, Side.SELL


def test_the_trigger_directions() -> None:
    assert TP.triggers_rising(SELL)
    assert not TP.triggers_rising(BUY)
    assert OrderType.STOP_LIMIT.triggers_rising(BUY)
    assert not OrderType.STOP_LIMIT.triggers_rising(SELL)


def test_a_buy_take_profit_triggers_when_the_ask_falls_to_its_stop() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "1", "1999.00", kind=TP, stop="1999.50"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED]  # ask 2000.50 is above the stop
    # The price rises: nothing (a buy stop would have triggered here).
    assert venue.set_book(book([("2001.00", "5")], [("2001.50", "5")]), T0 + 1) == []
    # The ask falls to 1999.50: triggered, then a limit at 1999.00 (not yet reached).
    reports = venue.set_book(book([("1999.00", "5")], [("1999.50", "5")]), T0 + 2)
    assert kinds(reports) == [ReportKind.TRIGGERED]
    assert reports[0].reason == "stop triggered: ask 1,999.50 <= stop 1,999.50"
    [order] = venue.open_orders()
    assert order.triggered
    # The ask crosses the resting limit: it fills there, as a maker.
    reports = venue.set_book(book([("1998.50", "5")], [("1998.75", "5")]), T0 + 3)
    assert [(f.side, f.quantity, f.price) for f in fills_of(reports)] == [
        (BUY, D("1"), D("1999.00"))
    ]


def test_a_sell_take_profit_triggers_when_the_bid_rises_to_its_stop() -> None:
    venue = make_venue()
    venue.submit(req(BUY, "1"), T0)
    venue.set_book(BOOK, T0)
    venue.submit(req(SELL, "1", "2001.00", kind=TP, stop="2001.00"), T0)
    # A fall: nothing (a sell stop would have triggered).
    assert venue.set_book(book([("1990.00", "5")], [("1990.50", "5")]), T0 + 1) == []
    reports = venue.set_book(book([("2001.25", "5")], [("2001.50", "5")]), T0 + 2)
    assert kinds(reports) == [ReportKind.TRIGGERED, ReportKind.FILL]
    assert reports[0].reason == "stop triggered: bid 2,001.25 >= stop 2,001.00"
    assert [(f.side, f.quantity, f.price) for f in fills_of(reports)] == [
        (SELL, D("1"), D("2001.25"))
    ]


def test_stops_and_take_profits_share_the_ladders_without_blocking_each_other() -> None:
    venue = make_venue()
    venue.submit(req(BUY, "2"), T0)
    venue.set_book(BOOK, T0)
    # On the rising ladder: a buy stop at 2003 and a sell take-profit at 2002.
    venue.submit(req(BUY, "1", "2010.00", kind=OrderType.STOP_LIMIT, stop="2003.00"), T0)
    venue.submit(req(SELL, "1", "2002.00", kind=TP, stop="2002.00"), T0)
    # bid 2002 (the sell's trigger) but ask 2002.50 (below the buy's stop)
    reports = venue.set_book(book([("2002.00", "5")], [("2002.50", "5")]), T0 + 1)
    triggered = [r for r in reports if r.kind is ReportKind.TRIGGERED]
    assert len(triggered) == 1
    assert triggered[0].reason == "stop triggered: bid 2,002.00 >= stop 2,002.00"
    reports = venue.set_book(book([("2002.75", "5")], [("2003.00", "5")]), T0 + 2)
    triggered = [r for r in reports if r.kind is ReportKind.TRIGGERED]
    assert [r.reason for r in triggered] == ["stop triggered: ask 2,003.00 >= stop 2,003.00"]


def test_a_take_profit_already_touched_triggers_at_once() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "0.5", "2000.50", kind=TP, stop="2001.00"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED, ReportKind.TRIGGERED, ReportKind.FILL]
