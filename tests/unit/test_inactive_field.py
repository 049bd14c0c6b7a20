"""An order the venue holds without working it (TWS's status Inactive) as a field of
the order (`OrderUpdate.inactive`, `Order.inactive`), not only words in a report's
reason: the IB adapter said "inactive at IB (...)" in a report of the status the order
already had (NEW), so the order took nothing from it (a duplicate) and the desk showed
it as working. The report of each turn (Inactive, working again) carries the field; the
order keeps it; the engine's flat path applies it as `apply` does; old journals decode
as before and every other report's wire is unchanged (None is left out). The IB
adapter, restarted, knows from its journal which orders TWS held Inactive: one IB works
again while the desk was down is journaled "working again" (it read Inactive for good).
The real ib_async client against the fake TWS."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ApplyResult, Order, OrderStatus, OrderUpdate, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.events import (
    EventBase,
    OrderRequestEvent,
    OrderUpdateEvent,
    decode,
    encode,
)
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, new_bus, shown, updates

from .test_engine_apply_paths import _journal, journals, live_state
from .test_paper_venue import req

S = OrderStatus
HELD = "Order held while securities are located."


def working() -> Order:
    order = Order.from_request(req(Side.BUY, "3", "149.50"))
    accepted = OrderUpdate(client_order_id=order.client_order_id, status=S.NEW)
    assert order.apply_update(accepted) is ApplyResult.APPLIED
    return order


def test_an_inactive_report_of_the_status_the_order_has_marks_it_and_its_end_clears_it() -> None:
    order = working()
    coid = order.client_order_id
    held = OrderUpdate(
        client_order_id=coid, status=S.NEW, reason="inactive at IB (held)", inactive=True
    )
    assert order.apply_update(held) is ApplyResult.APPLIED
    assert (order.status, order.inactive, order.reason) == (
        S.NEW,
        True,
        "inactive at IB (held)",
    )
    assert order.apply_update(held) is ApplyResult.DUPLICATE  # the same again
    # A report that does not say it leaves it as it is.
    assert order.apply_update(OrderUpdate(client_order_id=coid, status=S.NEW)) is (
        ApplyResult.DUPLICATE
    )
    assert order.inactive is True
    again = OrderUpdate(
        client_order_id=coid, status=S.NEW, reason="working again at IB", inactive=False
    )
    assert order.apply_update(again) is ApplyResult.APPLIED
    assert (order.inactive, order.reason) == (False, "working again at IB")


def test_only_a_turn_carries_the_field_on_the_wire_and_old_entries_decode() -> None:
    plain = OrderUpdate(client_order_id="c1", status=S.NEW, venue_order_id="7")
    wire = encode(OrderUpdateEvent.create("ib/DU1", plain, ts=1))
    assert b"inactive" not in wire[b"p"]
    held = plain.model_copy(update={"inactive": True})
    wire = encode(OrderUpdateEvent.create("ib/DU1", held, ts=1))
    assert b'"inactive":true' in wire[b"p"]
    decoded = decode(wire)
    assert isinstance(decoded, OrderUpdateEvent)
    assert decoded.payload.inactive is True
    # An entry written before the field: None, the order untouched by it.
    old = dict(wire)
    old[b"p"] = b'{"client_order_id":"c1","status":"NEW","reason":"inactive at IB (x)"}'
    decoded = decode(old)
    assert isinstance(decoded, OrderUpdateEvent)
    assert decoded.payload.inactive is None
    # A snapshot's order written before the field reads not inactive.
    snap = working().model_dump(mode="json", exclude={"inactive"})
    assert Order.model_validate(snap).inactive is False


@st.composite
def with_turns(draw: st.DrawFn) -> list[EventBase]:
    """`journals()` with some reports saying the order turned inactive or working."""
    events = draw(journals())
    said: dict[str, bool | None] = {}
    out = []
    for event in events:
        if isinstance(event, OrderUpdateEvent):
            if event.event_id not in said:
                said[event.event_id] = draw(st.sampled_from([None, None, True, False]))
            turn = said[event.event_id]
            if turn is not None:
                payload = event.payload.model_copy(update={"inactive": turn})
                event = event.model_copy(update={"payload": payload})
        out.append(event)
    return out


def _flat_and_careful(events: list[EventBase]) -> None:
    async def run() -> None:
        bus, entries = await _journal(events)
        window = FinishedWindow(orders=2, minutes=0.0, histories=2)
        careful = TradingEngine(bus, [], RiskConfig(), window=window)
        flat = TradingEngine(bus, [], RiskConfig(), window=window)
        for entry in entries:
            careful._apply_entry(entry)
        flat.apply_entries(entries)
        assert live_state(flat) == live_state(careful)
        await bus.close()

    asyncio.run(run())


def _turn_without_venue_id() -> list[EventBase]:
    """A report of the status the order has, with no venue id (TWS had not given the
    order a permId yet), that says it is inactive: the flat path took it for a
    duplicate."""
    request = req(Side.BUY, "3", "149.50").model_copy(
        update={"client_order_id": "c0", "broker": "paper", "account": "main"}
    )
    source = "paper/main"
    return [
        OrderRequestEvent.create(source, request, ts=1),
        OrderUpdateEvent.create(source, OrderUpdate(client_order_id="c0", status=S.NEW), ts=2),
        OrderUpdateEvent.create(
            source, OrderUpdate(client_order_id="c0", status=S.NEW, inactive=True), ts=3
        ),
    ]


@settings(max_examples=150, deadline=None)
@given(events=with_turns())
@example(events=_turn_without_venue_id())
def test_the_flat_path_applies_a_turn_as_the_careful_path_does(events: list[EventBase]) -> None:
    _flat_and_careful(events)


def test_a_turn_without_a_venue_id_marks_the_order_on_the_flat_path() -> None:
    async def run() -> None:
        bus, entries = await _journal(_turn_without_venue_id())
        engine = TradingEngine(bus, [], RiskConfig())
        engine.apply_entries(entries)
        view = engine.oms.get("c0")
        assert view is not None
        assert view.order.inactive is True
        await bus.close()

    asyncio.run(run())


async def test_the_ib_adapter_says_each_turn_in_the_field() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.deactivate(order.order_id, code=404, message=HELD)
        await d.broker.settle()
        await fake.reactivate(order.order_id)
        await d.broker.settle()
        said = [
            (u.status, u.inactive, u.reason.split(" (")[0]) for u in updates(await d.events(), coid)
        ]
        assert said[-2:] == [
            (S.NEW, True, "inactive at IB"),
            (S.NEW, False, "working again at IB"),
        ], said
        assert all(u.inactive is None for u in updates(await d.events(), coid)[:-2])
        assert shown(await d.events(), coid).inactive is False


async def test_an_order_ib_works_again_while_the_desk_was_down_is_journaled_working() -> None:
    bus = new_bus()
    await bus.start()
    try:
        async with FakeTws() as fake:
            async with desk(fake, bus) as d:
                coid = await d.broker.place(d.request(qty="3", limit="149.50"))
                [order] = fake.orders
                await fake.deactivate(order.order_id, code=404, message=HELD)
                await d.broker.settle()
                assert shown(await d.events(), coid).inactive is True
            await fake.reactivate(order.order_id)  # while the desk is down
            async with desk(fake, bus) as d:
                await d.broker.settle()
                events = await d.wait_journal(
                    lambda ev: updates(ev, coid)[-1].inactive is False, "working again"
                )
                last = updates(events, coid)[-1]
                assert (last.status, last.reason) == (
                    S.NEW,
                    "working again at IB (no longer inactive)",
                )
                assert shown(events, coid).inactive is False
                assert shown(events, coid).filled_qty == Decimal(0)
    finally:
        await bus.close()
