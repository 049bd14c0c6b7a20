"""IB: an order that ended at IB while the desk was down is journaled, at the restart's
catch-up, with TWS's word on how it ended: its completed order's `completedStatus` and
`completedTime` (reqCompletedOrders), which ib_async drops (it keeps the order and its
status, not the OrderState those come in; the adapter taps them,
`IBState._note_completed`). Before, the order's CANCELED was journaled with no reason:
the desk's Log said it ended, not why. A fill says what the fills say: no such words.
Against the fake TWS with the real ib_async client."""

from __future__ import annotations

from silvertine_tui.domain import OrderStatus, TimeInForce
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, new_bus, statuses, updates

S = OrderStatus


async def test_an_order_ib_cancelled_while_the_desk_was_down_says_why() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                coid = await before.broker.place(before.request(tif=TimeInForce.DAY))
            [order] = fake.orders
            await fake.cancel_by_venue(order.order_id)  # while the desk is down
            assert order.completed_status  # (what TWS lists of it)
            async with desk(fake, bus) as d:
                events = await d.wait_journal(
                    lambda ev: S.CANCELED in statuses(ev, coid), "the order's end"
                )
                [end] = [u for u in updates(events, coid) if u.status is S.CANCELED]
                assert order.completed_status in end.reason, end.reason
                assert order.completed_time in end.reason, end.reason
                assert end.reason.startswith("ended at IB while the desk did not hear it")
                assert not await d.said_in_log(LogLevel.ERROR)
        finally:
            await bus.close()


async def test_an_order_filled_while_the_desk_was_down_carries_no_such_words() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                coid = await before.broker.place(before.request(tif=TimeInForce.DAY))
            [order] = fake.orders
            await fake.fill(order.order_id)  # while the desk is down
            assert order.completed_status.startswith("Filled")
            async with desk(fake, bus) as d:
                events = await d.wait_journal(
                    lambda ev: S.FILLED in statuses(ev, coid), "the order's end"
                )
                [end] = [u for u in updates(events, coid) if u.status is S.FILLED]
                assert "ended at IB" not in end.reason, end.reason
        finally:
            await bus.close()
