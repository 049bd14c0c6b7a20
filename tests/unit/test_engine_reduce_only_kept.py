"""A working reduce-only order stays reduce-only at a venue that takes no such flag (IB,
Binance spot): when the position moves under it (another order closed it, a reconcile
found it smaller), the engine cancels what would now take it through zero. Placed with
the `x` ticket to close a long, left working while a second sell closed it, it sold
short when it filled."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    reduce_limit,
)
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.engine.risk import reduce_only_excess
from silvertine_tui.events import FillEvent, LogEvent, OrderUpdateEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_kill import make, sync
from tests.unit.test_engine_reconnect import scripted_session
from tests.unit.test_engine_reduce_only import hold


def sell(qty: str, price: str, *, reduce_only: bool = False, broker: str = "v0") -> OrderRequest:
    return OrderRequest(
        broker=broker,
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
        reduce_only=reduce_only,
    )


def fill(cid: str, qty: str, price: str, broker: str = "v0") -> FillEvent:
    return FillEvent.create(
        f"{broker}/main",
        Fill(
            exec_id=f"x-{cid}-{qty}",
            client_order_id=cid,
            broker=broker,
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.SELL,
            quantity=D(qty),
            price=D(price),
        ),
    )


async def test_a_closing_order_left_working_is_cancelled_once_another_closed_the_position() -> None:
    bus, engine, (venue,) = await make(ScriptedVenue)
    assert not venue.capabilities.reduce_only_native
    await hold(engine, venue, 3)
    closing = await engine.submit(sell("2", "11.00", reduce_only=True))
    small = await engine.submit(sell("1", "11.50", reduce_only=True))
    other = await engine.submit(sell("2", "9.90"))
    await bus.publish(fill(other, "2", "9.90"))
    del venue.venue_orders[other]
    await sync(engine)
    assert engine.position("v0", "main", INSTRUMENT.key) == 1
    assert engine.reduce_only_to_trim == {("v0", "main", INSTRUMENT.key)}

    report = await engine.trim_reduce_only()
    assert report is not None
    # Long 1 left: the older order (2) no longer fits, the later one (1) still does.
    assert report.cancelled == (closing,)
    assert closing not in venue.venue_orders
    assert small in venue.venue_orders
    await sync(engine)
    assert engine.oms.orders[closing].order.status is OrderStatus.CANCELED
    assert engine.oms.orders[small].order.status is OrderStatus.NEW
    lines = [
        e.event.payload.message
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, LogEvent)
    ]
    assert any("reduce-only that would take a position through zero" in m for m in lines)

    # The small one fills: flat, and nothing is left to trim.
    await bus.publish(fill(small, "1", "11.50"))
    del venue.venue_orders[small]
    await sync(engine)
    assert engine.position("v0", "main", INSTRUMENT.key) == 0
    assert await engine.trim_reduce_only() is None


async def test_a_session_trims_by_itself_and_leaves_orders_that_still_reduce() -> None:
    bus = MemoryBus()
    session = scripted_session(bus)
    venue = session.brokers[0]
    assert isinstance(venue, ScriptedVenue)
    await session.start()
    try:
        engine = session.engine
        first = await engine.submit(
            sell("2", "10.00", broker="scripted").model_copy(update={"side": Side.BUY})
        )
        await bus.publish(
            FillEvent.create(
                "scripted/main",
                fill(first, "2", "10.00", "scripted").payload.model_copy(update={"side": Side.BUY}),
            )
        )
        del venue.venue_orders[first]
        async with asyncio.timeout(5):
            while engine.position("scripted", "main", INSTRUMENT.key) != 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        keep = await engine.submit(sell("1", "11.00", reduce_only=True, broker="scripted"))
        close = await engine.submit(sell("1", "11.20", reduce_only=True, broker="scripted"))
        other = await engine.submit(sell("1", "9.90", broker="scripted"))
        await bus.publish(fill(other, "1", "9.90", "scripted"))
        del venue.venue_orders[other]
        async with asyncio.timeout(5):
            while close in venue.venue_orders:  # noqa: ASYNC110 - the session's reader acts
                await asyncio.sleep(0.02)
        assert keep in venue.venue_orders
        assert engine.position("scripted", "main", INSTRUMENT.key) == 1
    finally:
        await session.close()


def working_order(qty: D, reduce_side: Side, n: int) -> Order:
    order = Order.from_request(
        OrderRequest(
            broker="v0",
            account="main",
            instrument=INSTRUMENT.key,
            side=reduce_side,
            order_type=OrderType.LIMIT,
            quantity=qty,
            limit_price=D("10"),
            reduce_only=True,
            client_order_id=f"o{n}",
        )
    )
    order.apply_update(OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.NEW))
    return order


@given(
    position=st.integers(min_value=-10, max_value=10),
    orders=st.lists(
        st.tuples(st.integers(min_value=1, max_value=6), st.sampled_from(list(Side))),
        max_size=6,
    ),
)
def test_what_stays_never_takes_the_position_through_zero(
    position: int, orders: list[tuple[int, Side]]
) -> None:
    working = [working_order(D(q), side, n) for n, (q, side) in enumerate(orders)]
    excess = set(reduce_only_excess(D(position), working))
    for side in Side:
        kept = sum(
            o.leaves_qty
            for o in working
            if o.request.side is side and o.client_order_id not in excess
        )
        assert kept <= reduce_limit(D(position), side, D(0))
        # Each one cancelled did not fit beside those older than it that stayed.
        room = reduce_limit(D(position), side, D(0))
        for o in working:
            if o.request.side is not side:
                continue
            if o.client_order_id in excess:
                assert o.leaves_qty > room
            else:
                room -= o.leaves_qty


async def test_fills_said_and_not_come_count_as_made() -> None:
    """Another sell reported FILLED, its fills not read yet: the position is flat as
    far as the venue is concerned, and the closing order goes."""
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 2)
    closing = await engine.submit(sell("2", "11.00", reduce_only=True))
    other = await engine.submit(sell("2", "9.90"))
    await bus.publish(
        OrderUpdateEvent.create(
            "v0/main",
            OrderUpdate(client_order_id=other, status=OrderStatus.FILLED, filled_qty=D(2)),
        )
    )
    del venue.venue_orders[other]
    await sync(engine)
    engine.reduce_only_to_trim.add(("v0", "main", INSTRUMENT.key))
    report = await engine.trim_reduce_only()
    assert report is not None
    assert report.cancelled == (closing,)


async def test_a_trim_that_could_not_cancel_is_tried_with_the_brokers_next_move() -> None:
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 3)
    closing = await engine.submit(sell("3", "11.00", reduce_only=True))
    other = await engine.submit(sell("2", "9.90"))
    await venue.set_state(ConnectionState.DISCONNECTED, "venue unreachable")
    await bus.publish(fill(other, "2", "9.90"))
    del venue.venue_orders[other]
    await sync(engine)
    report = await engine.trim_reduce_only()
    assert report is not None
    assert not report.ok
    assert closing in report.still_working
    assert closing in venue.venue_orders
    assert not engine.reduce_only_to_trim  # nothing to do until the broker moves
    await venue.set_state(ConnectionState.LIVE, "back")
    # Its next move: a buy of 1 fills (long 2: the 3 still go through zero).
    buy = await engine.submit(sell("1", "10.00").model_copy(update={"side": Side.BUY}))
    await bus.publish(
        FillEvent.create(
            "v0/main", fill(buy, "1", "10.00").payload.model_copy(update={"side": Side.BUY})
        )
    )
    del venue.venue_orders[buy]
    await sync(engine)
    report = await engine.trim_reduce_only()
    assert report is not None
    assert report.cancelled == (closing,)


async def test_a_trim_that_could_not_cancel_is_tried_once_the_broker_is_reconciled() -> None:
    """Back, the broker is reconciled and the reconcile finds nothing: no position
    moves, yet the order the trim could not cancel must go now, not with the next fill
    (which could be the one that turns the position)."""
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 3)
    closing = await engine.submit(sell("3", "11.00", reduce_only=True))
    other = await engine.submit(sell("2", "9.90"))
    await venue.set_state(ConnectionState.DISCONNECTED, "venue unreachable")
    await bus.publish(fill(other, "2", "9.90"))
    del venue.venue_orders[other]
    venue.venue_positions[INSTRUMENT.key] = D(1)
    await sync(engine)
    report = await engine.trim_reduce_only()
    assert report is not None
    assert closing in report.still_working
    await venue.set_state(ConnectionState.LIVE, "back")
    assert await reconcile_broker(engine, venue) == []
    report = await engine.trim_reduce_only()
    assert report is not None
    assert report.cancelled == (closing,)
