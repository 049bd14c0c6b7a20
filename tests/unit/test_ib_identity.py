"""Which orders are ours at IB: the permId kept in the journal finds them after a
restart under another client id; an orderRef that merely looks like ours does not."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_async import LimitOrder, Stock

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.fakes.tws.client import ib_client, until
from tests.support.ib import desk, fills, new_bus, statuses, updates

S = OrderStatus


async def test_the_journal_keeps_the_perm_id_as_the_venue_order_id() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        [ack] = [u for u in updates(await d.events(), coid) if u.status is S.NEW]
        assert ack.venue_order_id == str(order.perm_id)
        [venue] = await d.broker.open_orders()
        assert (venue.client_order_id, venue.venue_order_id) == (coid, str(order.perm_id))


async def test_a_restart_under_another_client_id_finds_its_orders_and_their_fills() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as first:
            coid = await first.broker.place(first.request(qty="3"))
            [order] = fake.orders
        async with desk(fake, bus, client_id=7) as second:
            assert fake.client_ids() == [7]
            assert second.broker.knows_order(coid)
            [venue] = await second.broker.open_orders()
            assert venue.client_order_id == coid
            # IB lets only the placing client change it: said before anything is sent.
            with pytest.raises(OrderRejected, match="client id 1"):
                await second.broker.modify(coid, limit_price=Decimal("149.00"))
            events = await second.events()
            assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
            assert "client id 1" in updates(events, coid)[-1].reason
            # A fill of that order reaches this session through the executions.
            await fake.fill(order.order_id, client_id=1)
            report = await second.broker.reconcile()
            [fill] = [f for f in report.fills if f.client_order_id == coid]
            assert fill.quantity == 3
            # Global cancel reaches orders of every client id.
            other = await second.broker.place(second.request(qty="1", limit="140.00"))
            assert set(await second.broker.cancel_all()) == {other}
        await bus.close()


async def test_an_order_ref_that_looks_like_ours_is_not_taken_for_ours() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3"))
        # Another program (client id 9) uses the same orderRef text.
        async with ib_client(fake, client_id=9) as other:
            [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            trade = other.placeOrder(aapl, LimitOrder("BUY", 5, 140.0, orderRef=coid))
            await until(other, lambda: trade.orderStatus.status == "Submitted")
            venue = {o.client_order_id: o for o in await d.broker.open_orders()}
            assert venue[coid].quantity == 3
            foreign = f"ib-{trade.order.permId}"
            assert venue[foreign].quantity == 5
            await fake.fill(trade.order.orderId, client_id=9)
            report = await d.broker.reconcile()
            assert all(f.client_order_id != coid for f in report.fills)
        await d.broker.settle()
        assert fills(await d.events(), coid) == []


async def test_fills_of_an_order_placed_under_the_old_client_id_are_journaled_once() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as first:
            coid = await first.broker.place(first.request(qty="3"))
            [order] = fake.orders
        async with desk(fake, bus, client_id=7, other_clients_poll_s=0.05) as second:
            await fake.fill(order.order_id, "1", client_id=1)
            await fake.fill(order.order_id, "2", client_id=1)
            events = await second.wait_journal(
                lambda ev: S.FILLED in statuses(ev, coid), "FILLED by polling"
            )
            await second.broker.settle()
            events = await second.events()
            assert len(fills(events, coid)) == 2
            assert len({f.exec_id for f in fills(events, coid)}) == 2
            assert all(f.fee > 0 for f in fills(events, coid))
        await bus.close()


async def test_after_a_restart_under_the_same_client_id_old_orders_can_be_changed() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as first:
            coid = await first.broker.place(first.request(qty="3"))
            other = await first.broker.place(first.request(qty="1", limit="140.00"))
        async with desk(fake, bus) as again:
            await again.broker.modify(coid, limit_price=Decimal("149.10"))
            await again.broker.cancel(other)
            await again.broker.settle()
            by_ref = {o.ticket.order_ref: o for o in fake.orders}
            assert by_ref[coid].ticket.limit_price == Decimal("149.10")
            assert by_ref[other].status == "Cancelled"
            assert len(fake.orders) == 2, "a modify became a new order"
            events = await again.events()
            assert statuses(events, coid)[-1] is S.NEW
            assert statuses(events, other)[-1] is S.CANCELED
        await bus.close()
