"""What an order entry (submit, cancel, replace) checks first at the paper venue.

- A DAY order past its session end expired only when a book came (or the market timer
  ran): with an external feed quiet, a replace after the session end made it
  marketable and it traded. Entries now run the expiry first.
- A replace skipped the reduce-only and minimum-notional checks a new order gets.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected, UnknownOrder
from silvertine_tui.brokers.paper import PaperBroker, ReportKind
from silvertine_tui.brokers.paper.venue import next_day_end
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderStatus, Side, TimeInForce
from tests.unit.test_paper_balances import NO_LATENCY
from tests.unit.test_paper_broker import (
    ETH,
    eth_book,
    exec_events,
    order,
    paper_config,
    statuses,
)
from tests.unit.test_paper_broker import T0 as BT0
from tests.unit.test_paper_venue import T0, kinds, make_venue, req

S = OrderStatus
HOUR = 3_600 * 10**9


async def test_a_day_order_past_its_session_end_does_not_trade_on_a_modify() -> None:
    now = [BT0]
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(
        paper_config(market={"source": "external"}, latency=NO_LATENCY),
        bus,
        clock=lambda: now[0],
    )
    await broker.connect()
    await broker.on_market_data(eth_book([(D("1999"), "5")], [(D("2001"), "5")]))
    await broker.place(order("d", Side.BUY, "1", D("1990"), tif=TimeInForce.DAY))
    await broker.place(order("e", Side.BUY, "1", D("1980"), tif=TimeInForce.DAY))
    now[0] = next_day_end(BT0, 0) + HOUR  # the feed is quiet: no book since
    with pytest.raises(UnknownOrder, match="EXPIRED"):
        await broker.modify("d", limit_price=D("2001"))
    await broker.settle()
    d = broker.venue.order("d")
    assert d is not None
    assert d.status is S.EXPIRED
    assert not d.fills
    assert broker.venue.account.position_qty(ETH) == 0
    events = await exec_events(bus)
    assert statuses(events, "d")[-1] is S.EXPIRED
    assert statuses(events, "e")[-1] is S.EXPIRED  # expired with it, and journaled
    await broker.close()


def test_submit_and_cancel_expire_day_orders_first() -> None:
    venue = make_venue()
    day = req(Side.BUY, "1", "1990.00", tif=TimeInForce.DAY)
    venue.submit(day, T0)
    end = next_day_end(T0, 0)
    new = req(Side.BUY, "1", "1980.00")
    reports = venue.submit(new, end + 1)
    assert [(r.client_order_id, r.kind) for r in reports] == [
        (day.client_order_id, ReportKind.EXPIRED),
        (new.client_order_id, ReportKind.ACCEPTED),
    ]
    day2 = req(Side.BUY, "1", "1990.00", tif=TimeInForce.DAY)
    venue.submit(day2, end + 2)
    end2 = next_day_end(end + 2, 0)
    with pytest.raises(UnknownOrder):
        venue.cancel(day2.client_order_id, end2)
    order = venue.order(day2.client_order_id)
    assert order is not None
    assert order.status is S.EXPIRED
    # The entry raised: its expiry is returned by the next call, not lost.
    assert kinds(venue.expire(end2)) == [ReportKind.EXPIRED]
    assert venue.expire(end2) == []


def test_a_replace_cannot_grow_a_reduce_only_order_past_the_position() -> None:
    venue = make_venue(short_selling=True)
    venue.submit(req(Side.BUY, "1"), T0)  # long 1
    r = req(Side.SELL, "1", "2100.00", reduce_only=True)
    venue.submit(r, T0)
    with pytest.raises(OrderRejected, match="reduce-only"):
        venue.replace(r.client_order_id, T0 + 1, quantity=D("3"))
    o = venue.order(r.client_order_id)
    assert o is not None
    assert o.quantity == 1
    assert venue.account.locked.get("USDT", D(0)) == 0
    # Smaller, or moved, it is taken.
    venue.replace(r.client_order_id, T0 + 2, quantity=D("0.5"))
    venue.replace(r.client_order_id, T0 + 3, limit_price=D("2101.00"))
    assert (o.quantity, o.limit_price) == (D("0.5"), D("2101.00"))


def test_a_replace_meets_the_minimum_notional() -> None:
    venue = make_venue()
    r = req(Side.BUY, "1", "1990.00")
    venue.submit(r, T0)
    with pytest.raises(OrderRejected, match="notional"):
        venue.replace(r.client_order_id, T0 + 1, quantity=D("0.001"))
    with pytest.raises(OrderRejected, match="notional"):
        venue.replace(r.client_order_id, T0 + 1, quantity=D("0.003"), limit_price=D("1.00"))
    o = venue.order(r.client_order_id)
    assert o is not None
    assert (o.quantity, o.limit_price) == (D("1"), D("1990.00"))
    venue.replace(r.client_order_id, T0 + 2, quantity=D("0.003"))  # 5.97: enough
    assert o.quantity == D("0.003")
