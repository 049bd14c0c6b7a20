"""Terms TWS works an order with that the desk did not wait for: a modify TWS confirms
after the adapter stopped waiting (an exchange slow to confirm a replace), or the order
changed in TWS's own window. The openOrder carrying them is journaled as an amend, so the
desk shows, and fills against, what works at IB."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import Order, OrderStatus
from silvertine_tui.events import OrderRequestEvent, OrderUpdateEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills, statuses

S = OrderStatus


def folded(events: list, coid: str) -> Order:  # type: ignore[type-arg]
    """The order as the desk's OMS builds it from the journal."""
    [request] = [
        e.payload
        for e in events
        if isinstance(e, OrderRequestEvent) and e.payload.client_order_id == coid
    ]
    order = Order.from_request(request)
    for e in events:
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid:
            order.apply_update(e.payload)
    for f in fills(events, coid):
        order.apply_fill(f)
    return order


async def fills_and_shows_5_at_149(fake: FakeTws, d: Desk, coid: str) -> None:
    """TWS fills the order whole; the desk shows what TWS worked and filled: 5 @ 149.00."""
    await fake.fill(fake.orders[0].order_id)
    await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
    await d.broker.settle()
    events = await d.events()
    shown = folded(events, coid)
    journaled = sum(f.quantity for f in fills(events, coid))
    assert (shown.quantity, shown.limit_price, shown.filled_qty) == (
        Decimal(5),
        Decimal("149.00"),
        Decimal(5),
    ), (
        f"desk shows {shown.status} {shown.filled_qty}/{shown.quantity} @ "
        f"{shown.limit_price} (fills journaled: {journaled}); TWS worked and filled "
        "5 @ 149.00"
    )


async def test_a_modify_confirmed_after_its_timeout_shows_the_terms_tws_works() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        fake.delay_next_modify(0.6)  # the replace is confirmed 0.6 s later
        with pytest.raises(BrokerTimeout):
            await d.broker.modify(coid, quantity=Decimal(5), limit_price=Decimal("149.00"))
        # the adapter asks TWS (recheck): TWS still lists the old terms, the replace is
        # pending at the exchange
        await d.wait_journal(lambda ev: statuses(ev, coid)[-1] is S.NEW, "recheck's answer")
        # the exchange confirms the replace: openOrder (5 @ 149.00) + orderStatus
        await fake.wait_for(lambda: order.ticket.limit_price == Decimal("149.00"), 2.0)
        await asyncio.sleep(0.05)
        await d.broker.settle()
        assert (order.ticket.quantity, order.ticket.limit_price) == (5, Decimal("149.00"))
        # TWS fills all 5 at 149.00
        await fills_and_shows_5_at_149(fake, d, coid)


async def test_an_order_changed_in_tws_s_window_shows_its_new_terms() -> None:
    """The same gap, without the desk's own modify: IB lets the trader change an API
    order in TWS; TWS reports the new terms (openOrder) to the order's client."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.modify_in_tws(order.order_id, quantity="5", limit="149.00")
        await d.broker.settle()
        await fills_and_shows_5_at_149(fake, d, coid)
