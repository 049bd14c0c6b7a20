"""The paper matching core (`PaperVenue`): exact fills, fees, triggers, TIF, rejects.

The numbers here are the worked examples of docs/paper-simulator.md.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import InsufficientFunds, OrderRejected, UnknownOrder
from silvertine_tui.brokers.paper import (
    Account,
    ExecReport,
    MarketBook,
    PaperVenue,
    ReportKind,
    SimFill,
)
from silvertine_tui.brokers.paper.venue import next_day_end
from silvertine_tui.config import PaperChecksConfig, PaperFeesConfig, PaperFillConfig
from silvertine_tui.domain import (
    Instrument,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)

ETH = Instrument(
    symbol="ETHUSDT",
    venue="PAPER",
    base_currency="ETH",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.001"),
    min_qty=D("0.001"),
    min_notional=D("5"),
)
KEY = ETH.key
T0 = 1_767_625_200_000_000_000  # 2026-01-05 15:00:00 UTC
S = OrderStatus
BUY, SELL = Side.BUY, Side.SELL
_counter = iter(range(1, 1_000_000))


def make_venue(
    cash: str = "100000",
    *,
    slippage: str = "none",
    resting: str = "through",
    short_selling: bool = False,
    max_open_orders: int = 200,
    maker_bps: str = "8",
    taker_bps: str = "10",
) -> PaperVenue:
    venue = PaperVenue(
        [ETH],
        cash={"USDT": D(cash)},
        fees=PaperFeesConfig(maker_bps=D(maker_bps), taker_bps=D(taker_bps)),
        fill=PaperFillConfig(
            resting=resting,
            slippage=slippage,
            slippage_ticks=2,
            slippage_bps=D("5"),
        ),
        checks=PaperChecksConfig(short_selling=short_selling, max_open_orders=max_open_orders),
        volatility={KEY: 0.75},
        daily_volume={KEY: D("300000")},
    )
    venue.set_book(BOOK, T0)
    return venue


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> MarketBook:
    return MarketBook.of(KEY, bids, asks)


# The book of the examples: mid 2000.00.
BOOK = book(
    [("1999.50", "3"), ("1999.25", "5")], [("2000.50", "1"), ("2000.75", "2"), ("2001.00", "5")]
)


def req(
    side: Side,
    qty: str,
    limit: str | None = None,
    *,
    kind: OrderType | None = None,
    stop: str | None = None,
    tif: TimeInForce = TimeInForce.GTC,
    reduce_only: bool = False,
) -> OrderRequest:
    if kind is None:
        kind = OrderType.LIMIT if limit is not None else OrderType.MARKET
    if kind is OrderType.MARKET and tif is TimeInForce.GTC:
        tif = TimeInForce.IOC
    return OrderRequest(
        client_order_id=f"c{next(_counter)}",
        broker="paper",
        account="main",
        instrument=KEY,
        side=side,
        order_type=kind,
        quantity=D(qty),
        limit_price=D(limit) if limit is not None else None,
        stop_price=D(stop) if stop is not None else None,
        tif=tif,
        reduce_only=reduce_only,
    )


def fills_of(reports: list[ExecReport]) -> list[SimFill]:
    return [r.fill for r in reports if r.fill is not None]


def kinds(reports: list[ExecReport]) -> list[ReportKind]:
    return [r.kind for r in reports]


# -- taking liquidity ---------------------------------------------------------------------


def test_market_buy_walks_the_book_and_pays_taker_fees() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "2.5"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED, ReportKind.FILL, ReportKind.FILL]
    a, b = fills_of(reports)
    assert (a.quantity, a.price, a.fee, a.liquidity) == (
        D("1"),
        D("2000.50"),
        D("2.0005"),
        Liquidity.TAKER,
    )
    assert (b.quantity, b.price, b.fee) == (D("1.5"), D("2000.75"), D("3.001125"))
    assert (a.exec_id, b.exec_id) == ("P1-1", "P1-2")
    assert b.cum_qty == D("2.5")
    assert b.avg_price == D("2000.65")
    assert reports[-1].status is S.FILLED
    cash = venue.account.cash["USDT"]
    assert cash == D("100000") - D("5001.625") - D("5.001625")
    assert cash == D("94993.373375")
    [pos] = venue.positions()
    assert (pos.quantity, pos.avg_price, pos.fees) == (D("2.5"), D("2000.65"), D("5.001625"))
    # What was taken is gone until the next book: the next buy starts at 2000.75.
    [fill] = fills_of(venue.submit(req(BUY, "0.5"), T0))
    assert fill.price == D("2000.75")
    venue.set_book(BOOK, T0 + 1)
    [fill] = fills_of(venue.submit(req(BUY, "0.5"), T0 + 1))
    assert fill.price == D("2000.50")


def test_market_remainder_beyond_the_displayed_book_expires() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "10"), T0)
    assert sum(f.quantity for f in fills_of(reports)) == D("8")
    assert reports[-1].kind is ReportKind.EXPIRED
    assert reports[-1].status is S.EXPIRED
    assert reports[-1].filled_qty == D("8")
    assert "2 unfilled" in reports[-1].reason


def test_marketable_limit_takes_then_rests_the_remainder() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "4", "2000.75"), T0)
    assert [(f.quantity, f.price) for f in fills_of(reports)] == [
        (D("1"), D("2000.50")),
        (D("2"), D("2000.75")),
    ]
    assert reports[-1].status is S.PARTIALLY_FILLED
    [order] = venue.open_orders()
    assert (order.filled_qty, order.limit_price) == (D("3"), D("2000.75"))
    # The resting remainder reserves 1 * 2000.75 * (1 + 0.001).
    assert venue.account.locked["USDT"] == D("2002.75075")


def test_ioc_and_fok() -> None:
    venue = make_venue()
    ioc = venue.submit(req(BUY, "4", "2000.75", tif=TimeInForce.IOC), T0)
    assert sum(f.quantity for f in fills_of(ioc)) == D("3")
    assert ioc[-1].kind is ReportKind.EXPIRED
    assert "IOC: 1 of 4 unfilled" in ioc[-1].reason
    assert venue.open_orders() == []

    venue = make_venue()
    fok = venue.submit(req(BUY, "4", "2000.75", tif=TimeInForce.FOK), T0)
    assert kinds(fok) == [ReportKind.ACCEPTED, ReportKind.EXPIRED]
    assert "FOK: only 3 of 4 available at 2,000.75 or better" in fok[-1].reason
    assert venue.account.cash["USDT"] == D("100000")
    assert venue.account.locked["USDT"] == 0
    fok = venue.submit(req(BUY, "3", "2000.75", tif=TimeInForce.FOK), T0)
    assert fok[-1].status is S.FILLED
    assert sum(f.quantity for f in fills_of(fok)) == D("3")


# -- resting orders -------------------------------------------------------------------------


def test_resting_limit_fills_only_when_traded_through() -> None:
    venue = make_venue()
    [ack] = venue.submit(req(BUY, "2", "1999.00"), T0)
    assert ack.kind is ReportKind.ACCEPTED
    assert venue.account.locked["USDT"] == D("4001.998")  # 2 * 1999 * 1.001
    # The offer comes down to our price: a touch is not enough.
    assert venue.set_book(book([("1998.50", "5")], [("1999.00", "3")]), T0 + 1) == []
    # Half a unit offered below our price trades with us, at our price, as maker.
    reports = venue.set_book(
        book([("1998.50", "5")], [("1998.90", "0.5"), ("1999.00", "4")]), T0 + 2
    )
    [fill] = fills_of(reports)
    assert (fill.quantity, fill.price, fill.liquidity, fill.fee) == (
        D("0.5"),
        D("1999.00"),
        Liquidity.MAKER,
        D("0.7996"),
    )
    assert reports[-1].status is S.PARTIALLY_FILLED
    assert venue.account.locked["USDT"] == D("3001.4985")  # 1.5 * 1999 * 1.001
    reports = venue.set_book(book([("1998.00", "5")], [("1998.50", "5")]), T0 + 3)
    [fill] = fills_of(reports)
    assert (fill.quantity, fill.price, fill.exec_id) == (D("1.5"), D("1999.00"), "P1-2")
    assert reports[-1].status is S.FILLED
    assert venue.account.locked["USDT"] == 0
    assert venue.account.cash["USDT"] == D("100000") - 2 * D("1999") - D("0.7996") - D("2.3988")


def test_queue_model_fills_at_the_price_once_the_queue_ahead_has_traded() -> None:
    venue = make_venue(resting="queue")
    venue.set_book(book([("1999.00", "3")], [("1999.50", "2")]), T0)
    venue.submit(req(BUY, "1", "1999.00"), T0)
    [order] = venue.open_orders()
    assert order.queue_ahead == D("3")
    # Size ahead of us left the level: the queue ahead shrinks to what is shown.
    assert venue.set_book(book([("1999.00", "2")], [("1999.50", "2")]), T0 + 1) == []
    assert order.queue_ahead == D("2")
    # 2.5 trade at our price: 2 go to the queue ahead, 0.5 to us.
    reports = venue.set_book(book([("1998.50", "2")], [("1999.00", "2.5")]), T0 + 2)
    [fill] = fills_of(reports)
    assert (fill.quantity, fill.price, fill.liquidity) == (D("0.5"), D("1999.00"), Liquidity.MAKER)
    assert order.queue_ahead == 0
    reports = venue.set_book(book([("1998.50", "2")], [("1999.00", "2")]), T0 + 3)
    assert fills_of(reports)[0].quantity == D("0.5")
    assert reports[-1].status is S.FILLED


def test_an_order_improving_the_best_price_is_first_in_the_queue() -> None:
    venue = make_venue(resting="queue")
    venue.submit(req(BUY, "1", "1999.60"), T0)
    [order] = venue.open_orders()
    assert order.queue_ahead == 0
    reports = venue.set_book(book([("1999.00", "2")], [("1999.60", "0.4")]), T0 + 1)
    assert fills_of(reports)[0].quantity == D("0.4")


def test_time_priority_between_our_own_resting_orders() -> None:
    venue = make_venue()
    venue.submit(first := req(BUY, "1", "1999.00"), T0)
    venue.submit(second := req(BUY, "1", "1999.00"), T0)
    reports = venue.set_book(book([("1998.00", "1")], [("1998.50", "1.5")]), T0 + 1)
    got = {f.client_order_id: f.quantity for f in fills_of(reports)}
    assert got == {first.client_order_id: D("1"), second.client_order_id: D("0.5")}


# -- stops --------------------------------------------------------------------------------


def test_buy_stop_triggers_on_the_ask_and_walks_the_book() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "1", kind=OrderType.STOP, stop="2001.00"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED]
    assert venue.account.locked["USDT"] == D("2003.001")  # reserved at the stop
    reports = venue.set_book(
        book([("2000.00", "5")], [("2001.00", "0.4"), ("2001.25", "2")]), T0 + 1
    )
    assert kinds(reports) == [ReportKind.TRIGGERED, ReportKind.FILL, ReportKind.FILL]
    assert reports[0].reason == "stop triggered: ask 2,001.00 >= stop 2,001.00"
    assert [(f.quantity, f.price) for f in fills_of(reports)] == [
        (D("0.4"), D("2001.00")),
        (D("0.6"), D("2001.25")),
    ]
    assert venue.account.locked["USDT"] == 0


def test_stop_limit_triggers_then_rests_at_its_limit() -> None:
    venue = make_venue()
    venue.submit(req(BUY, "1", "2001.00", kind=OrderType.STOP_LIMIT, stop="2001.00"), T0)
    reports = venue.set_book(
        book([("2000.00", "5")], [("2001.00", "0.4"), ("2001.25", "2")]), T0 + 1
    )
    assert kinds(reports) == [ReportKind.TRIGGERED, ReportKind.FILL]
    [order] = venue.open_orders()
    assert order.triggered
    assert (order.filled_qty, order.status) == (D("0.4"), S.PARTIALLY_FILLED)


def test_sell_stop_triggers_on_the_bid() -> None:
    venue = make_venue()
    venue.submit(req(BUY, "1"), T0)
    venue.set_book(BOOK, T0)
    venue.submit(req(SELL, "1", kind=OrderType.STOP, stop="1999.00"), T0)
    assert venue.set_book(book([("1999.25", "5")], [("1999.75", "5")]), T0 + 1) == []
    reports = venue.set_book(book([("1998.75", "5")], [("1999.25", "5")]), T0 + 2)
    assert reports[0].reason == "stop triggered: bid 1,998.75 <= stop 1,999.00"
    assert [(f.side, f.quantity, f.price) for f in fills_of(reports)] == [
        (SELL, D("1"), D("1998.75"))
    ]
    assert venue.positions() == []


def test_a_stop_already_through_triggers_at_once() -> None:
    venue = make_venue()
    reports = venue.submit(req(BUY, "0.5", kind=OrderType.STOP, stop="2000.00"), T0)
    assert kinds(reports) == [ReportKind.ACCEPTED, ReportKind.TRIGGERED, ReportKind.FILL]


# -- DAY ----------------------------------------------------------------------------------


def test_day_orders_expire_at_the_session_end() -> None:
    venue = make_venue()
    venue.submit(day := req(BUY, "1", "1990.00", tif=TimeInForce.DAY), T0)
    venue.submit(gtc := req(BUY, "1", "1990.00"), T0)
    end = next_day_end(T0, 0)
    assert end == T0 + 9 * 3600 * 10**9  # 2026-01-06 00:00 UTC
    assert venue.expire(end - 1) == []
    [report] = venue.expire(end)
    assert (report.client_order_id, report.status) == (day.client_order_id, S.EXPIRED)
    assert [o.client_order_id for o in venue.open_orders()] == [gtc.client_order_id]
    assert next_day_end(T0, 21 * 3600 * 10**9) == T0 + 6 * 3600 * 10**9  # 21:00 the same day


# -- cancel and replace -------------------------------------------------------------------


def test_cancel_releases_the_reservation_and_unknown_orders_are_refused() -> None:
    venue = make_venue()
    venue.submit(order := req(BUY, "1", "1999.00"), T0)
    [report] = venue.cancel(order.client_order_id, T0 + 1)
    assert (report.kind, report.status) == (ReportKind.CANCELED, S.CANCELED)
    assert venue.account.locked["USDT"] == 0
    with pytest.raises(UnknownOrder, match=r"already CANCELED"):
        venue.cancel(order.client_order_id, T0 + 2)
    with pytest.raises(UnknownOrder, match=r"no order nope"):
        venue.cancel("nope", T0 + 2)


def test_replace_changes_terms_and_loses_priority() -> None:
    venue = make_venue()
    venue.submit(first := req(BUY, "1", "1999.00"), T0)
    venue.submit(second := req(BUY, "1", "1999.00"), T0)
    [report] = venue.replace(first.client_order_id, T0 + 1, quantity=D("2"))
    assert (report.kind, report.quantity, report.status) == (ReportKind.REPLACED, D("2"), S.NEW)
    reports = venue.set_book(book([("1998.00", "1")], [("1998.50", "1")]), T0 + 2)
    assert [f.client_order_id for f in fills_of(reports)] == [second.client_order_id]
    # A new price that crosses the market trades at once, as a taker.
    venue.set_book(BOOK, T0 + 3)
    reports = venue.replace(first.client_order_id, T0 + 3, limit_price=D("2000.50"))
    assert kinds(reports) == [ReportKind.REPLACED, ReportKind.FILL]
    assert fills_of(reports)[0].liquidity is Liquidity.TAKER


def test_a_refused_replace_changes_nothing() -> None:
    venue = make_venue("5000")
    venue.submit(order := req(BUY, "1", "1999.00"), T0)
    venue.set_book(book([("1998.00", "1")], [("1998.50", "0.4")]), T0 + 1)
    locked = venue.account.locked["USDT"]
    with pytest.raises(OrderRejected, match=r"quantity 0.4 must be above the filled 0.4"):
        venue.replace(order.client_order_id, T0 + 2, quantity=D("0.4"))
    with pytest.raises(
        InsufficientFunds, match=r"insufficient balance: need 5,202.60 USDT, available 4,199.76"
    ):
        venue.replace(order.client_order_id, T0 + 2, quantity=D("3"))
    with pytest.raises(OrderRejected, match=r"not a multiple of tick size"):
        venue.replace(order.client_order_id, T0 + 2, limit_price=D("1999.005"))
    with pytest.raises(OrderRejected, match=r"stop_price: not allowed for LIMIT"):
        venue.replace(order.client_order_id, T0 + 2, stop_price=D("1999"))
    [same] = venue.open_orders()
    assert (same.quantity, same.limit_price, same.filled_qty) == (D("1"), D("1999.00"), D("0.4"))
    assert venue.account.locked["USDT"] == locked
    # Still first in line at its price.
    venue.submit(req(BUY, "1", "1999.00"), T0 + 3)
    reports = venue.set_book(book([("1998.00", "1")], [("1998.50", "0.6")]), T0 + 4)
    assert fills_of(reports)[0].client_order_id == order.client_order_id


# -- rejects ------------------------------------------------------------------------------


def test_insufficient_balance_reads_like_a_venue() -> None:
    venue = make_venue("1000")
    with pytest.raises(
        InsufficientFunds, match=r"^insufficient balance: need 6,506.50 USDT, available 1,000.00$"
    ):
        venue.submit(req(BUY, "3.25", "2000.00"), T0)
    with pytest.raises(InsufficientFunds, match=r"need 1,001.25 USDT"):
        venue.submit(req(BUY, "0.5"), T0)  # market: what the walk would cost, with fees
    assert venue.orders == {}
    assert venue.account.locked.get("USDT", 0) == 0


def test_selling_needs_the_position_unless_shorts_are_allowed() -> None:
    venue = make_venue()
    with pytest.raises(
        InsufficientFunds, match=r"^insufficient position: need 1 ETH, available 0$"
    ):
        venue.submit(req(SELL, "1", "2100.00"), T0)
    venue.submit(req(BUY, "1"), T0)
    venue.submit(req(SELL, "0.6", "2100.00"), T0)
    with pytest.raises(InsufficientFunds, match=r"need 0.5 ETH, available 0.4"):
        venue.submit(req(SELL, "0.5", "2100.00"), T0)

    venue = make_venue(short_selling=True)
    reports = venue.submit(req(SELL, "1", "2000.00"), T0)
    assert venue.account.locked["USDT"] == D("2002")  # margin: 1 * 2000 * 1.001
    assert reports[-1].kind is ReportKind.ACCEPTED
    reports = venue.set_book(book([("2000.50", "5")], [("2001.00", "5")]), T0 + 1)
    assert reports[-1].position is not None
    assert reports[-1].position.quantity == D("-1")
    assert venue.account.cash["USDT"] == D("100000") + D("2000") - D("1.6")


def test_a_resting_reduce_only_order_fills_only_what_still_reduces() -> None:
    """A reduce-only sell of 1 rests against a long 1; the trader sells 0.6 elsewhere.
    When the market trades through it, it fills the 0.4 left and the rest is cancelled:
    checked only on arrival, it filled whole and left a short of 0.6."""
    venue = make_venue(short_selling=True)
    venue.submit(req(BUY, "1"), T0)
    [ack] = venue.submit(req(SELL, "1", "2100.00", reduce_only=True), T0)
    assert ack.kind is ReportKind.ACCEPTED
    venue.submit(req(SELL, "0.6"), T0)
    assert venue.account.position_qty(KEY) == D("0.4")
    reports = venue.set_book(book([("2100.50", "5")], [("2101.00", "5")]), T0 + 1)
    [fill] = fills_of(reports)
    assert fill.quantity == D("0.4")
    assert reports[-1].kind is ReportKind.CANCELED
    assert reports[-1].reason == "reduce-only: the position is closed, nothing is left to reduce"
    assert venue.account.position_qty(KEY) == 0
    # Closed by another order before the market comes: the order is cancelled as the
    # position goes flat (it waited for the market, locking cash as a short sell).
    [ack] = venue.submit(req(BUY, "1", "1900.00", reduce_only=False), T0 + 2)
    venue.set_book(book([("1899.00", "5")], [("1899.50", "5")]), T0 + 3)
    assert venue.account.position_qty(KEY) == 1
    close = req(SELL, "1", "2000.00", reduce_only=True)
    venue.submit(close, T0 + 4)
    reports = venue.submit(req(SELL, "1"), T0 + 4)
    assert venue.account.position_qty(KEY) == 0
    assert (reports[-1].client_order_id, reports[-1].kind) == (
        close.client_order_id,
        ReportKind.CANCELED,
    )
    reports = venue.set_book(book([("2001.00", "5")], [("2001.50", "5")]), T0 + 5)
    assert fills_of(reports) == []
    assert venue.account.position_qty(KEY) == 0


def test_a_fok_reduce_only_order_fills_all_or_nothing() -> None:
    """Long 2, the trader has two reduce-only sell stops at 1990: 1 (GTC) and 2 (FOK).
    Both trigger on the same drop; the first sells 1, which leaves the FOK only 1 that
    still reduces. It expires untouched (all or nothing); it used to sell 1 of its 2
    and cancel the rest, a partial fill of a FOK order."""
    venue = make_venue(short_selling=True)
    venue.set_book(book([("2000", "10")], [("2001", "10")]), T0)
    venue.submit(req(BUY, "2"), T0)
    first = req(SELL, "1", kind=OrderType.STOP, stop="1990", reduce_only=True)
    fok = req(SELL, "2", kind=OrderType.STOP, stop="1990", tif=TimeInForce.FOK, reduce_only=True)
    venue.submit(first, T0)
    venue.submit(fok, T0)
    reports = venue.set_book(book([("1989", "10")], [("1990", "10")]), T0 + 1)
    mine = [r for r in reports if r.client_order_id == fok.client_order_id]
    assert [f.quantity for f in fills_of(mine)] == [], "the FOK order filled in part"
    assert kinds(mine) == [ReportKind.TRIGGERED, ReportKind.EXPIRED]
    assert mine[-1].reason == "FOK: only 1 of 2 still reduces the position"
    assert venue.account.position_qty(KEY) == 1


def test_filters_and_limits() -> None:
    venue = make_venue(max_open_orders=2)
    with pytest.raises(
        OrderRejected, match=r"Filter failure: limit_price: 1,999.005 is not a multiple"
    ):
        venue.submit(req(BUY, "1", "1999.005"), T0)
    with pytest.raises(OrderRejected, match=r"quantity: 0.0015 is not a multiple of lot size"):
        venue.submit(req(BUY, "0.0015", "1999.00"), T0)
    with pytest.raises(OrderRejected, match=r"notional 3.998 USDT < minimum 5"):
        venue.submit(req(BUY, "0.002", "1999.00"), T0)
    with pytest.raises(OrderRejected, match=r"notional 2.0005 USDT < minimum 5"):
        venue.submit(req(BUY, "0.001"), T0)  # a market order is judged at the best ask
    venue.submit(first := req(BUY, "1", "1990.00"), T0)
    venue.submit(req(BUY, "1", "1990.00"), T0)
    with pytest.raises(OrderRejected, match=r"MAX_NUM_ORDERS"):
        venue.submit(req(BUY, "1", "1990.00"), T0)
    with pytest.raises(OrderRejected, match=r"Duplicate order"):
        venue.submit(first, T0)
    other = req(BUY, "1", "1990.00").model_copy(update={"instrument": "XYZ.PAPER"})
    with pytest.raises(OrderRejected, match=r"Invalid symbol: XYZ.PAPER"):
        venue.submit(other, T0)
    with pytest.raises(OrderRejected, match=r"reduce-only order would increase the position"):
        make_venue().submit(req(BUY, "1", reduce_only=True), T0)


def test_a_market_order_needs_a_book() -> None:
    venue = make_venue()
    venue.set_book(book([("1999.00", "1")], []), T0)
    with pytest.raises(OrderRejected, match=r"no liquidity: the book of ETHUSDT.PAPER has no asks"):
        venue.submit(req(BUY, "1"), T0)


# -- slippage models and fees -------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("none", "2000.50"),
        ("fixed_ticks", "2000.52"),  # 2 ticks
        ("bps", "2001.51"),  # 2000.50 * 1.0005 = 2001.50025, rounded up to the tick
        # 0.75 / sqrt(365) * sqrt(1 / 300000) = 0.0000717 -> 2000.6434, rounded up
        ("sqrt_impact", "2000.65"),
    ],
)
def test_slippage_models_move_taker_fills_against_the_taker(model: str, price: str) -> None:
    venue = make_venue(slippage=model)
    [fill] = fills_of(venue.submit(req(BUY, "1"), T0))
    assert fill.price == D(price)
    venue.submit(req(BUY, "1"), T0)
    venue.set_book(BOOK, T0)
    [fill] = fills_of(venue.submit(req(SELL, "1"), T0))
    expected = {
        "none": "1999.50",
        "fixed_ticks": "1999.48",
        "bps": "1998.50",
        "sqrt_impact": "1999.35",
    }
    assert fill.price == D(expected[model])


def test_slippage_never_goes_through_the_limit_and_never_touches_maker_fills() -> None:
    venue = make_venue(slippage="bps")
    [fill] = fills_of(venue.submit(req(BUY, "1", "2000.51", tif=TimeInForce.IOC), T0))
    assert fill.price == D("2000.51")
    venue.submit(req(BUY, "1", "1999.00"), T0)
    [fill] = fills_of(venue.set_book(book([("1998.00", "1")], [("1998.50", "1")]), T0 + 1))
    assert fill.price == D("1999.00")


def test_fees_round_up_and_a_maker_rebate_is_credited() -> None:
    venue = make_venue(maker_bps="-1", taker_bps="7.5")
    [fill] = fills_of(venue.submit(req(BUY, "0.003"), T0))
    # 0.003 * 2000.50 * 0.00075 = 0.0045011250 -> 0.00450113
    assert fill.fee == D("0.00450113")
    venue.submit(req(BUY, "1", "1999.00"), T0)
    [fill] = fills_of(venue.set_book(book([("1998.00", "1")], [("1998.50", "1")]), T0 + 1))
    assert fill.fee == D("-0.1999")


# -- account --------------------------------------------------------------------------------


def test_account_average_cost_and_realized_pnl() -> None:
    acct = Account({"USD": D("1000")})
    acct.apply_fill("X", "USD", BUY, D("2"), D("100"), D("0.2"))
    pos = acct.apply_fill("X", "USD", SELL, D("1"), D("110"), D("0.11"))
    assert (pos.quantity, pos.avg_price, pos.realized_pnl) == (D("1"), D("100"), D("10"))
    pos = acct.apply_fill("X", "USD", SELL, D("2"), D("90"), D("0.18"))
    assert (pos.quantity, pos.avg_price, pos.realized_pnl) == (D("-1"), D("90"), D("0"))
    pos = acct.apply_fill("X", "USD", BUY, D("1"), D("80"), D("0.08"))
    assert (pos.quantity, pos.avg_price, pos.realized_pnl) == (D("0"), None, D("10"))
    assert pos.fees == D("0.57")
    assert acct.cash["USD"] == D("1000") - 200 + 110 + 180 - 80 - D("0.57")
