"""An order changed while the desk did not hear it (in TWS's window, or the desk's own
modify whose answer a drop lost, which TWS took) and filled at its new terms: the
catch-up journals the new terms before the fill. It asked the executions first and took
the terms only from an openOrder, never from a completed order, so the fill of the new
size was refused by the OMS as an overfill of the old one: a restart showed FILLED 0/3
with an overfill anomaly, an order 3 -> 10 with 5 filled showed 0/10 (10 to go where IB
has 5), a live desk whose socket dropped meanwhile showed FILLED 0/3."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import EventBase, FillEvent, OrderUpdateEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, fills, new_bus, shown, updates
from tests.unit.test_ib_cancel_everything import engine_for, sync

S = OrderStatus
L = ConnectionState


def journal_of(events: list[EventBase], coid: str) -> list[str]:
    """The order's reports in journal order: "amend <qty>", "fill <qty>", "<STATUS>"."""
    seen: list[str] = []
    for e in events:
        if isinstance(e, FillEvent) and e.payload.client_order_id == coid:
            seen.append(f"fill {e.payload.quantity}")
        elif isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid:
            u = e.payload
            seen.append(f"amend {u.quantity}" if u.quantity is not None else str(u.status))
    return seen


def assert_once(events: list[EventBase], coid: str) -> None:
    """Nothing journaled twice: each execution once, each new size once."""
    exec_ids = [f.exec_id for f in fills(events, coid)]
    assert len(exec_ids) == len(set(exec_ids)), exec_ids
    sizes = [u.quantity for u in updates(events, coid) if u.quantity is not None]
    assert len(sizes) == len(set(sizes)), sizes


async def assert_desk_is_tws(engine: TradingEngine, d: Desk, coid: str, order_id: int) -> None:
    """The engine's order (its OMS, from the journal) is TWS's, and nothing was refused."""
    await d.broker.settle()
    await sync(engine, d.bus)
    at_tws = d.fake.order(order_id)
    view = engine.oms.get(coid)
    assert view is not None
    order = view.order
    expected = S.FILLED if at_tws.filled == at_tws.ticket.quantity else S.PARTIALLY_FILLED
    assert (order.status, order.filled_qty, order.quantity) == (
        expected,
        at_tws.filled,
        at_tws.ticket.quantity,
    ), (
        f"desk shows {order.status} {order.filled_qty}/{order.quantity}; TWS has "
        f"{at_tws.status} {at_tws.filled}/{at_tws.ticket.quantity}; journal: "
        f"{journal_of(await d.events(), coid)}; anomalies: {engine.anomalies.last}"
    )
    assert engine.anomalies.total == 0, engine.anomalies.last
    assert order.leaves_qty == at_tws.ticket.quantity - at_tws.filled
    executions = [e for e in d.fake.executions if e.order is at_tws]
    assert sorted(f.exec_id for f in fills(await d.events(), coid)) == sorted(
        e.exec_id for e in executions
    )


async def restarted_after(new_qty: str, filled: str | None) -> None:
    """Placed 3, the desk stops, the order is changed to `new_qty` at TWS and fills
    (`filled`, or whole), the desk starts again on the same journal."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                coid = await before.broker.place(before.request(qty="3", limit="149.50"))
                await before.broker.settle()
            [order] = fake.orders
            await fake.modify_in_tws(order.order_id, quantity=new_qty)
            await fake.fill(order.order_id, filled)
            async with desk(fake, bus) as d:
                await d.broker.settle()
                events = await d.events()
                assert_once(events, coid)
                # the new terms are journaled before the fill made at them
                seq = journal_of(events, coid)
                if new_qty != "3":
                    assert f"amend {new_qty}" in seq, seq
                    assert seq.index(f"amend {new_qty}") < seq.index(f"fill {order.filled}"), seq
                assert shown(events, coid).filled_qty == order.filled, seq
                engine = await engine_for(d)
                await assert_desk_is_tws(engine, d, coid, order.order_id)
        finally:
            await bus.close()


async def test_a_restart_takes_the_terms_changed_while_down_before_their_fill() -> None:
    await restarted_after("5", None)  # 3 -> 5, filled whole: FILLED 5/5 (was FILLED 0/3)


async def test_a_restart_shows_what_is_left_of_an_order_enlarged_and_partly_filled() -> None:
    await restarted_after("10", "5")  # 3 -> 10, 5 filled: 5/10, 5 to go (was 0/10)


async def dropped_while(d: Desk, change: object) -> None:
    """The socket drops (the desk cannot get back in for a moment); `change` runs
    meanwhile; then the desk reconnects and rebuilds."""
    fake = d.fake
    fake.reserve_client_id(1)
    await fake.drop_connections()
    await d.wait(lambda: not d.broker._up, "the drop seen")
    await change()  # type: ignore[operator]
    fake.release_client_id(1)
    await d.wait(
        lambda: d.broker._up and d.broker.health_state.links["api"].state is L.LIVE,
        "the api link LIVE again",
        8,
    )
    await d.broker.settle()


async def test_a_live_desk_takes_terms_changed_during_a_drop_before_their_fill() -> None:
    """No restart: the order is enlarged at TWS and fills whole while the socket is
    down. After the reconnect TWS lists it only among the completed orders."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        await d.broker.settle()
        engine = await engine_for(d)
        [order] = fake.orders

        async def change() -> None:
            await fake.modify_in_tws(order.order_id, quantity="5")
            await fake.fill(order.order_id)

        await dropped_while(d, change)
        events = await d.events()
        assert_once(events, coid)
        seq = journal_of(events, coid)
        assert seq.index("amend 5") < seq.index("fill 5"), seq
        await assert_desk_is_tws(engine, d, coid, order.order_id)


async def test_the_desk_s_own_modify_taken_by_tws_after_a_drop_lost_its_answer() -> None:
    """The desk's modify 3 -> 5 reaches TWS, which takes it only after the socket
    dropped (its answer is lost); the order fills at 5 before the desk is back."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=5) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        await d.broker.settle()
        engine = await engine_for(d)
        [order] = fake.orders
        fake.delay_next_modify(0.2)
        modify = asyncio.ensure_future(d.broker.modify(coid, quantity=Decimal(5)))
        await fake.wait_for(lambda: len(fake.requests_of(m.PLACE_ORDER)) == 2)  # the modify is in

        async def change() -> None:
            await fake.wait_for(lambda: order.ticket.quantity == 5, 2.0)  # TWS took it
            await fake.fill(order.order_id)

        await dropped_while(d, change)
        with pytest.raises(BrokerTimeout):
            await modify  # the drop ended its wait: "asked of TWS after the reconnect"
        events = await d.events()
        assert_once(events, coid)
        seq = journal_of(events, coid)
        assert seq.index("amend 5") < seq.index("fill 5"), seq
        await assert_desk_is_tws(engine, d, coid, order.order_id)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    new_qty=st.integers(1, 12),
    share=st.fractions(0, 1),
    restart=st.booleans(),
)
def test_after_a_change_and_a_fill_unheard_the_desk_holds_the_order_as_tws_does(
    new_qty: int, share: object, restart: bool
) -> None:
    """Whatever the new size (smaller or larger) and however much of it filled, the
    desk's order after the catch-up (a restart, or a reconnect) is TWS's."""
    filled = max(1, int(new_qty * share))  # type: ignore[operator]

    async def run() -> None:
        if restart:
            await restarted_after(str(new_qty), str(filled))
            return
        async with FakeTws() as fake, desk(fake) as d:
            coid = await d.broker.place(d.request(qty="3", limit="149.50"))
            await d.broker.settle()
            engine = await engine_for(d)
            [order] = fake.orders

            async def change() -> None:
                await fake.modify_in_tws(order.order_id, quantity=str(new_qty))
                await fake.fill(order.order_id, str(filled))

            await dropped_while(d, change)
            assert_once(await d.events(), coid)
            await assert_desk_is_tws(engine, d, coid, order.order_id)

    asyncio.run(run())
