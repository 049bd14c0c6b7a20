"""An order the venue says FILLED before its fills arrive (a lost answer resolved from
the venue, TWS's orderStatus ahead of its execDetails) works no more and the position
does not hold its fills yet: the gate counts what is owed as still working, or a
second reduce-only sell in that moment passed and the two turned a long into a short."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import (
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TradingState,
    VenueOrder,
)
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_kill import make, sync
from tests.unit.test_engine_reduce_only import hold


class LostAnswerVenue(ScriptedVenue):
    """Takes the order and fills it whole at once; with `lose` set, its answer never
    comes back (the place times out) and the venue lists it FILLED when asked."""

    lose = False

    async def _submit(self, request: OrderRequest) -> None:
        if not self.lose:
            return await super()._submit(request)
        assert request.quantity is not None
        self.venue_orders[request.client_order_id] = VenueOrder(
            client_order_id=request.client_order_id,
            venue_order_id="99",
            instrument=request.instrument,
            side=request.side,
            order_type=request.order_type,
            quantity=request.quantity,
            limit_price=request.limit_price,
            status=OrderStatus.FILLED,
            filled_qty=request.quantity,
            avg_price=request.limit_price,
        )
        raise BrokerTimeout("no answer from the venue")


def sell(qty: str = "2") -> OrderRequest:
    return OrderRequest(
        broker="v0",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D("10.00"),
    )


def fill_of(cid: str, qty: str = "2") -> FillEvent:
    fill = Fill(
        exec_id=f"x-{cid}",
        client_order_id=cid,
        broker="v0",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        quantity=D(qty),
        price=D("10.00"),
    )
    return FillEvent.create("v0/main", fill)


async def test_a_lost_answer_resolved_filled_counts_until_its_fills_come() -> None:
    bus, engine, (venue,) = await make(LostAnswerVenue)
    assert isinstance(venue, LostAnswerVenue)
    await hold(engine, venue, 2)
    await engine.set_trading_state(TradingState.REDUCE_ONLY)
    venue.lose = True
    first = sell()
    with contextlib.suppress(BrokerTimeout):
        await engine.submit(first)
    cid = first.client_order_id
    for _ in range(200):  # the broker resolves the lost answer in the background
        await asyncio.sleep(0.01)
        await sync(engine)
        view = engine.oms.get(cid)
        if view is not None and view.order.status is OrderStatus.FILLED:
            break
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is OrderStatus.FILLED
    assert (view.order.filled_qty, engine.position("v0", "main", INSTRUMENT.key)) == (0, 2)
    venue.lose = False

    [violation] = engine.gate.check(sell(), engine)
    assert violation.rule == "trading_state"
    assert "trading is REDUCE ONLY" in violation.message

    # The fills come: the position holds them and nothing is owed any more.
    await bus.publish(fill_of(cid))
    await sync(engine)
    assert engine.position("v0", "main", INSTRUMENT.key) == 0
    assert engine.working_quantity("v0", "main", INSTRUMENT.key, Side.SELL) == 0


async def test_a_filled_status_before_its_fills_keeps_a_reduce_only_order_out() -> None:
    """The status ahead of its fills, as TWS may send them; the desk's own read model
    (what the ticket previews from) counts the same."""
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 3)
    cid = await engine.submit(sell())
    await bus.publish(
        OrderUpdateEvent.create(
            "v0/main",
            OrderUpdate(client_order_id=cid, status=OrderStatus.FILLED, filled_qty=D(2)),
        )
    )
    await sync(engine)
    assert engine.oms.orders[cid].order.status is OrderStatus.FILLED
    reduce = sell().model_copy(update={"reduce_only": True})
    [violation] = engine.gate.check(reduce, engine)
    assert violation.rule == "reduce_only"
    ok = sell("1").model_copy(update={"reduce_only": True})
    assert engine.gate.check(ok, engine) == []
    assert engine.projection.working_quantity("v0", "main", INSTRUMENT.key, Side.SELL) == 2
    # A part of the fills: the rest is still owed.
    await bus.publish(fill_of(cid, "0.5"))
    await sync(engine)
    assert engine.working_quantity("v0", "main", INSTRUMENT.key, Side.SELL) == D("1.5")


@given(
    quantity=st.decimals(min_value="0.001", max_value="1000", places=3),
    share=st.fractions(min_value=0, max_value=1),
)
def test_what_is_owed_and_what_filled_make_the_order(quantity: D, share: object) -> None:
    """Whatever part of its fills a FILLED order has, booked and owed add up to its
    quantity; a working order owes nothing (its leaves count)."""
    order = Order.from_request(sell().model_copy(update={"quantity": quantity}))
    order.apply_update(OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.NEW))
    part = (quantity * D(share.numerator) / D(share.denominator)).quantize(D("0.001"))  # type: ignore[attr-defined]
    if part:
        order.apply_fill(fill_of(order.client_order_id, str(part)).payload)
    assert order.owed_qty == 0
    order.apply_update(
        OrderUpdate(client_order_id=order.client_order_id, status=OrderStatus.FILLED)
    )
    assert order.filled_qty + order.owed_qty == quantity
    assert order.leaves_qty == 0


async def test_what_is_owed_is_written_off_once_the_venues_position_is_taken() -> None:
    """The fills never come (a socket dropped between the status and them): the
    reconcile takes the venue's position, which holds them. Still counted as owed, a
    reduce-only sell was refused "with 2 already working" while nothing worked."""
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 2)
    cid = await engine.submit(sell())
    await bus.publish(
        OrderUpdateEvent.create(
            "v0/main",
            OrderUpdate(client_order_id=cid, status=OrderStatus.FILLED, filled_qty=D(2)),
        )
    )
    del venue.venue_orders[cid]
    await sync(engine)
    assert engine.working_quantity("v0", "main", INSTRUMENT.key, Side.SELL) == 2
    venue.venue_positions[INSTRUMENT.key] = D(0)
    await reconcile_broker(engine, venue)
    await sync(engine)
    assert engine.position("v0", "main", INSTRUMENT.key) == 0
    assert engine.oms.orders[cid].order.owed_qty == 0
    assert engine.working_quantity("v0", "main", INSTRUMENT.key, Side.SELL) == 0
    assert engine.projection.working_quantity("v0", "main", INSTRUMENT.key, Side.SELL) == 0
    await hold(engine, venue, 2)
    reduce = sell().model_copy(update={"reduce_only": True})
    assert engine.gate.check(reduce, engine) == []
