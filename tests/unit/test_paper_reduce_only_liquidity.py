"""A reduce-only order cut short takes from the book only what it traded.

A reduce-only order fills only what still reduces the position; the rest is cancelled
(`PaperVenue._fill`). The liquidity it planned to take but did not trade stays in the
book: before, the whole planned quantity was counted as taken, and the next taker in the
same book paid the level below for size the book still showed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import InsufficientFunds, OrderRejected
from silvertine_tui.brokers.paper import ExecReport, MarketBook, PaperVenue, ReportKind
from silvertine_tui.domain import Liquidity, OrderRequest, OrderType, Side, TimeInForce
from tests.unit.test_paper_venue import BOOK, KEY, T0, book, fills_of, make_venue, req

BUY, SELL = Side.BUY, Side.SELL


def long_half_with_a_reduce_only_sell_of_one(venue: PaperVenue, kind: str) -> str:
    """Long 1, a reduce-only sell of 1 working (a STOP at 1,999.00, or a limit resting
    at 1,999.00), then a market sell of 0.5: the position is 0.5, less than the
    reduce-only order's 1. Returns the reduce-only order's client order id."""
    venue.submit(req(BUY, "1"), T0)  # 1 @ 2,000.50
    if kind == "stop":
        reduce = req(SELL, "1", kind=OrderType.STOP, stop="1999.00", reduce_only=True)
    else:
        # Bids below 1,999.00: a limit sell there rests.
        venue.set_book(book([("1998.00", "5")], [("1998.50", "5")]), T0 + 1)
        reduce = req(SELL, "1", "1999.00", reduce_only=True)
    venue.submit(reduce, T0 + 2)
    venue.submit(req(SELL, "0.5", tif=TimeInForce.IOC), T0 + 3)
    assert venue.account.position_qty(KEY) == D("0.5")
    assert venue.open_orders() == [venue.order(reduce.client_order_id)]
    return reduce.client_order_id


def test_a_cut_stop_leaves_the_rest_of_the_level_to_the_next_taker() -> None:
    venue = make_venue(short_selling=True)
    stop = long_half_with_a_reduce_only_sell_of_one(venue, "stop")
    # The bid falls to 1,998.90 x 3: the stop triggers and walks the bids for 1, but
    # only 0.5 still reduces the position: 0.5 fills, the rest is cancelled.
    reports = venue.set_book(book([("1998.90", "3"), ("1998.00", "5")], [("1999.90", "1")]), T0 + 6)
    [fill] = fills_of(reports)
    assert (fill.client_order_id, fill.quantity, fill.price) == (stop, D("0.5"), D("1998.90"))
    assert reports[-1].kind is ReportKind.CANCELED
    # 3 shown at 1,998.90, 0.5 traded: 2.5 are left there for the next sell.
    fills = fills_of(venue.submit(req(SELL, "2.5", tif=TimeInForce.IOC), T0 + 7))
    assert [(f.quantity, f.price) for f in fills] == [(D("2.5"), D("1998.90"))]


def test_a_cut_resting_order_leaves_the_rest_of_the_level_to_the_next_taker() -> None:
    venue = make_venue(short_selling=True)
    resting = long_half_with_a_reduce_only_sell_of_one(venue, "limit")
    # A bid of 1,999.50 x 1.5 trades through the resting 1,999.00: it is crossed for 1,
    # but only 0.5 still reduces the position (filled at its price, the rest cancelled).
    reports = venue.set_book(
        book([("1999.50", "1.5"), ("1999.25", "5")], [("2000.50", "1")]), T0 + 6
    )
    [fill] = fills_of(reports)
    assert (fill.client_order_id, fill.quantity, fill.price) == (resting, D("0.5"), D("1999.00"))
    assert fill.liquidity is Liquidity.MAKER
    # 1.5 shown at 1,999.50, 0.5 traded: 1 is left there.
    fills = fills_of(venue.submit(req(SELL, "1.5", tif=TimeInForce.IOC), T0 + 7))
    assert [(f.quantity, f.price) for f in fills] == [
        (D("1"), D("1999.50")),
        (D("0.5"), D("1999.25")),
    ]


def test_a_whole_reduce_only_fill_still_takes_what_it_traded() -> None:
    # Not cut: the level is taken as before (a second sell in the same book goes lower).
    venue = make_venue()
    venue.submit(req(BUY, "1"), T0)
    venue.set_book(BOOK, T0 + 1)
    fills = fills_of(venue.submit(req(SELL, "1", tif=TimeInForce.IOC, reduce_only=True), T0 + 2))
    assert [(f.quantity, f.price) for f in fills] == [(D("1"), D("1999.50"))]
    venue.submit(req(BUY, "3"), T0 + 3)  # asks: 1 @ 2,000.50, 2 @ 2,000.75
    fills = fills_of(venue.submit(req(SELL, "3", tif=TimeInForce.IOC), T0 + 4))
    assert [(f.quantity, f.price) for f in fills] == [
        (D("2"), D("1999.50")),
        (D("1"), D("1999.25")),
    ]


# -- the property: every taker walks a book whose better levels are gone --------------------


PRICES_BID = ("1999.50", "1999.25", "1999.00", "1998.75")
PRICES_ASK = ("2000.50", "2000.75", "2001.00", "2001.25")
SIZES = ("0.5", "1", "1.5", "3")
QTYS = ("0.5", "1", "1.5", "2")


@st.composite
def books(draw: st.DrawFn) -> MarketBook:
    shift = draw(st.sampled_from(("-2", "-1", "0", "1", "2")))
    n_bids = draw(st.integers(1, 4))
    n_asks = draw(st.integers(1, 4))
    bids = [(str(D(p) + D(shift)), draw(st.sampled_from(SIZES))) for p in PRICES_BID[:n_bids]]
    asks = [(str(D(p) + D(shift)), draw(st.sampled_from(SIZES))) for p in PRICES_ASK[:n_asks]]
    return book(bids, asks)


@dataclass(frozen=True)
class Act:
    """One step of a script: a new book, or an order (a market order, a limit or a
    STOP at 2,000.00 + `ticks` quarter-points: marketable, resting or waiting)."""

    kind: str  # "book" | "market" | "limit" | "stop"
    side: Side = BUY
    qty: str = "1"
    reduce_only: bool = False
    ticks: int = 0
    book: MarketBook | None = None

    def request(self) -> OrderRequest:
        price = str(D("2000.00") + self.ticks * D("0.25"))
        if self.kind == "market":
            return req(self.side, self.qty, tif=TimeInForce.IOC, reduce_only=self.reduce_only)
        if self.kind == "limit":
            return req(self.side, self.qty, price, reduce_only=self.reduce_only)
        return req(
            self.side, self.qty, kind=OrderType.STOP, stop=price, reduce_only=self.reduce_only
        )


orders = st.builds(
    Act,
    kind=st.sampled_from(("market", "limit", "stop")),
    # Mostly sells, reducing the long the script starts with.
    side=st.sampled_from((SELL, SELL, SELL, BUY)),
    qty=st.sampled_from(QTYS),
    reduce_only=st.booleans(),
    ticks=st.integers(-12, 12),
)
# Three orders for a book: several orders meet each book.
acts = st.one_of(st.builds(Act, kind=st.just("book"), book=books()), orders, orders, orders)


class Tape:
    """What our orders traded on each side of the book now shown. Every consumer (a
    taker's walk, a resting order crossed "through") takes the best levels first, so
    the quantity traded on a side says which levels are gone."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.traded = {BUY: D(0), SELL: D(0)}

    def new_book(self) -> None:
        self.traded = {BUY: D(0), SELL: D(0)}

    def check(self, reports: list[ExecReport]) -> None:
        shown = self.venue.book(KEY)
        assert shown is not None
        for fill in fills_of(reports):
            levels = shown.asks if fill.side is BUY else shown.bids
            traded = self.traded[fill.side]
            if fill.liquidity is Liquidity.TAKER:
                prices = [p for p, _ in levels]
                assert fill.price in prices, f"{fill} not at a level of {levels}"
                k = prices.index(fill.price)
                better = sum((s for _, s in levels[:k]), D(0))
                assert traded >= better, (
                    f"{fill.side} {fill.quantity} @ {fill.price} while the better levels "
                    f"{levels[:k]} still had {better - traded} (traded {traded})"
                )
                assert traded + fill.quantity <= better + levels[k][1], "more than shown"
            self.traded[fill.side] = traded + fill.quantity


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=books(), script=st.lists(acts, min_size=1, max_size=14))
def test_no_taker_fills_below_a_level_with_size_left(start: MarketBook, script: list[Act]) -> None:
    venue = make_venue("1000000", short_selling=True)
    tape = Tape(venue)
    venue.set_book(start, T0)
    tape.check(venue.submit(req(BUY, "2"), T0))  # a position for reduce-only orders
    now = T0
    for act in script:
        now += 1
        if act.book is not None:
            reports = venue.set_book(act.book, now)
            tape.new_book()
            tape.check(reports)
            continue
        try:
            reports = venue.submit(act.request(), now)
        except (OrderRejected, InsufficientFunds):
            continue
        tape.check(reports)


@st.composite
def reduce_only_sells(draw: st.DrawFn) -> Act:
    """A reduce-only sell that waits: a STOP below the bids, or a limit above them."""
    kind = draw(st.sampled_from(("stop", "limit")))
    ticks = draw(st.integers(-12, -3) if kind == "stop" else st.integers(3, 12))
    return Act(kind, SELL, draw(st.sampled_from(QTYS)), True, ticks)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    position=st.sampled_from(("1", "2", "3")),
    waiting=st.lists(reduce_only_sells(), min_size=1, max_size=3),
    sold=st.sampled_from(("0", "0.5", "1", "1.5")),
    moved=books(),
    after=st.lists(
        st.tuples(st.sampled_from((SELL, SELL, BUY)), st.sampled_from(QTYS)),
        min_size=1,
        max_size=3,
    ),
)
def test_reduce_only_orders_cut_at_a_move_leave_the_book_to_the_takers_after_them(
    position: str,
    waiting: list[Act],
    sold: str,
    moved: MarketBook,
    after: list[tuple[Side, str]],
) -> None:
    """Long `position`, reduce-only sells waiting, a plain sell of `sold` (the position
    shrinks under them), then the market moves to `moved` (what it triggers or crosses
    fills, the reduce-only orders only what still reduces) and market orders take what
    is left of it."""
    venue = make_venue("1000000", short_selling=True)
    venue.set_book(book([("2000.00", "10")], [("2000.25", "10")]), T0)
    venue.submit(req(BUY, position), T0)
    now = T0
    for act in waiting:
        now += 1
        with contextlib.suppress(OrderRejected):  # more than the position: refused
            venue.submit(act.request(), now)
    if D(sold):
        venue.submit(req(SELL, sold, tif=TimeInForce.IOC), now + 1)
    tape = Tape(venue)
    tape.check(venue.set_book(moved, now + 2))
    for i, (side, qty) in enumerate(after):
        tape.check(venue.submit(req(side, qty, tif=TimeInForce.IOC), now + 3 + i))
