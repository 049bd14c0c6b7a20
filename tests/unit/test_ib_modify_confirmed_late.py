"""Terms TWS works an order with that the desk did not wait for: a modify TWS confirms
after the adapter stopped waiting (an exchange slow to confirm a replace), or the order
changed in TWS's own window. The openOrder carrying them is journaled as an amend, so the
desk shows, and fills against, what works at IB; also one that comes while an open-orders
request of the adapter is on its way (ib_async files it with the request's answer and
raises no event for it: `_hook` taps it)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills, shown, statuses

S = OrderStatus


async def fills_and_shows_5_at_149(fake: FakeTws, d: Desk, coid: str) -> None:
    """TWS fills the order whole; the desk shows what TWS worked and filled: 5 @ 149.00."""
    await fake.fill(fake.orders[0].order_id)
    await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
    await d.broker.settle()
    events = await d.events()
    order = shown(events, coid)
    journaled = sum(f.quantity for f in fills(events, coid))
    assert (order.quantity, order.limit_price, order.filled_qty) == (
        Decimal(5),
        Decimal("149.00"),
        Decimal(5),
    ), (
        f"desk shows {order.status} {order.filled_qty}/{order.quantity} @ "
        f"{order.limit_price} (fills journaled: {journaled}); TWS worked and filled "
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


async def test_an_order_changed_in_tws_while_its_open_orders_are_listed_shows_its_terms() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        fake.modify_in_tws_before_next_listing(order.order_id, quantity="5", limit="149.00")
        listed = await d.broker.open_orders()  # e.g. the desk's cancel listing
        assert [(o.quantity, o.limit_price) for o in listed] == [(5, Decimal("149.00"))]
        await d.broker.settle()
        await fills_and_shows_5_at_149(fake, d, coid)


async def test_an_order_changed_in_tws_during_the_catch_up_after_1102_shows_its_terms() -> None:
    """The same through the catch-up after TWS's 1102, which lists every open order."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.connectivity_lost()
        fake.modify_in_tws_before_next_listing(order.order_id, quantity="5", limit="149.00")
        await fake.connectivity_restored()
        await d.wait(lambda: d.broker.health_state.reconnects >= 1, "caught up after 1102")
        await d.broker.settle()
        await fills_and_shows_5_at_149(fake, d, coid)
