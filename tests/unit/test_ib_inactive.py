"""TWS's Inactive: an order IB does not work now (exchange closed, held) that can work
again, fill, and be cancelled. Taken for REJECTED (final), its later statuses were
dropped as stale, a cancel was refused unsent, and it was left out of the open orders.
The real ib_async client against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, shown, statuses, updates

S = OrderStatus

HELD = "Order held while securities are located."


async def test_an_inactive_order_stays_open_works_again_and_fills() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.deactivate(order.order_id, code=404, message=HELD)
        await d.broker.settle()
        last = updates(await d.events(), coid)[-1]
        assert last.status is S.NEW, statuses(await d.events(), coid)
        assert "inactive at IB" in last.reason, last.reason
        assert HELD in last.reason, last.reason
        [listed] = await d.broker.open_orders()
        assert (listed.client_order_id, listed.status) == (coid, S.NEW)
        await fake.reactivate(order.order_id)
        await d.broker.settle()
        last = updates(await d.events(), coid)[-1]
        assert last.status is S.NEW, last
        assert "working again" in last.reason, last
        await fake.fill(order.order_id)
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        assert S.REJECTED not in statuses(events, coid)
        assert [f.quantity for f in fills(events, coid)] == [Decimal(3)]
        assert shown(events, coid).status is S.FILLED


async def test_a_partly_filled_inactive_order_is_partially_filled_with_its_reason() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id, qty="1")
        await fake.deactivate(order.order_id)
        await d.broker.settle()
        last = updates(await d.events(), coid)[-1]
        assert (last.status, last.filled_qty) == (S.PARTIALLY_FILLED, Decimal(1)), last
        assert "inactive at IB" in last.reason, last.reason


async def test_a_cancel_of_an_inactive_order_goes_to_tws() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.deactivate(order.order_id, code=404, message=HELD)
        await d.broker.settle()
        await d.broker.cancel(coid)
        assert len(fake.requests_of(4)) == 1  # cancelOrder sent
        events = await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
        assert fake.order(order.order_id).status == "Cancelled"
        assert shown(events, coid).status is S.CANCELED
