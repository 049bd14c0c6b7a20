"""An order that filled while the desk was down, or while its socket to TWS was dropped,
is listed by TWS only among its completed orders, which carry no average fill price
(`avgFillPrice` unset). The FILLED the catch-up journaled had no `avg_price`: its Log
and history line read `FILLED BUY 50 ... filled 50` with no average, while the Orders
pane (the OMS, from the fills) showed 149.85. The update now carries the volume-weighted
average of the order's fills the journal holds (as last corrected), exactly. The real
ib_async client against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import EventBase, OrderUpdateEvent, describe
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills, new_bus, shown, statuses, updates
from tests.unit.test_ib_catch_up_terms import dropped_while

S = OrderStatus

# 20 @ 149.80 and 30 @ 149.88: 7,492.40 for 50, 149.848 a share.
PARTS = (("20", "149.80"), ("30", "149.88"))
AVERAGE = Decimal("149.848")


async def fill_in_parts(fake: FakeTws, order_id: int) -> None:
    for qty, price in PARTS:
        await fake.fill(order_id, qty, price)


def filled_line(events: list[EventBase], coid: str) -> tuple[Decimal | None, str]:
    """The journaled FILLED's average and its Log/history line."""
    [event] = [
        e
        for e in events
        if isinstance(e, OrderUpdateEvent)
        and e.payload.client_order_id == coid
        and e.payload.status is S.FILLED
    ]
    return event.payload.avg_price, describe(event)


async def assert_filled_with_average(d: Desk, coid: str, average: Decimal) -> None:
    await d.broker.settle()
    events = await d.events()
    assert S.FILLED in statuses(events, coid), statuses(events, coid)
    avg, line = filled_line(events, coid)
    assert avg == average, (avg, line, [(f.quantity, f.price) for f in fills(events, coid)])
    assert f"avg {average}" in line, line
    # The OMS's own average, from the fills, is the same figure.
    assert shown(events, coid).avg_price == average


async def test_an_order_filled_while_the_desk_was_down_is_journaled_with_its_average() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                coid = await before.broker.place(before.request(qty="50", limit="149.90"))
                await before.broker.settle()
            [order] = fake.orders
            await fill_in_parts(fake, order.order_id)
            async with desk(fake, bus) as d:
                await assert_filled_with_average(d, coid, AVERAGE)
        finally:
            await bus.close()


async def test_an_order_filled_during_a_drop_is_journaled_with_its_average() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="50", limit="149.90"))
        await d.broker.settle()
        [order] = fake.orders

        async def change() -> None:
            await fill_in_parts(fake, order.order_id)

        await dropped_while(d, change)
        await assert_filled_with_average(d, coid, AVERAGE)


async def test_the_average_takes_a_correction_of_a_fill_made_while_away() -> None:
    """20 @ 149.80 heard live; while the socket is down IB corrects it to 149.70 and the
    other 30 fill at 149.88: the FILLED's average is of the fills as corrected."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="50", limit="149.90"))
        [order] = fake.orders
        execution = await fake.fill(order.order_id, "20", "149.80")
        await d.wait_journal(lambda ev: bool(fills(ev, coid)), "the first fill")

        async def change() -> None:
            await fake.correct_execution(execution, price="149.70")
            await fake.fill(order.order_id, "30", "149.88")

        await dropped_while(d, change)
        corrected = (20 * Decimal("149.70") + 30 * Decimal("149.88")) / 50
        assert corrected == Decimal("149.808")
        await assert_filled_with_average(d, coid, corrected)


async def test_tws_s_completed_order_asked_for_carries_the_average() -> None:
    """`query_order` (a recheck, a reconcile's end of an order) of an order TWS lists
    only as completed: its `VenueOrder` has the average of its fills."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                coid = await before.broker.place(before.request(qty="50", limit="149.90"))
                await before.broker.settle()
            [order] = fake.orders
            await fill_in_parts(fake, order.order_id)
            async with desk(fake, bus) as d:
                await d.broker.settle()
                venue = await d.broker.query_order(coid)
                assert venue is not None
                assert (venue.status, venue.filled_qty) == (S.FILLED, Decimal(50))
                assert venue.avg_price == AVERAGE, venue
        finally:
            await bus.close()


async def test_a_partly_filled_order_keeps_tws_s_own_average() -> None:
    """TWS's orderStatus carries the average: it is the one journaled, as before."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="50", limit="149.90"))
        [order] = fake.orders
        await fake.fill(order.order_id, "20", "149.80")
        await d.broker.settle()
        last = updates(await d.events(), coid)[-1]
        assert (last.status, last.avg_price) == (S.PARTIALLY_FILLED, Decimal("149.8"))
