"""An order's history read back after the journal's trim by age took its first events
(a GTC order placed more than `journal_retention_s` ago that filled and finished
since): the journal still holds its fill and its FILLED, and the order is rebuilt from
them (`order_from_events`), not said to have no events. A fresh OMS parked every
report for the request the trim took, and `order_from_events` answered None: the app
told the trader "the journal holds no events for order A any more"."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, OrderUpdate, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.order_history import order_from_events, read_order_history
from silvertine_tui.engine.recovery import replay_stream, write_snapshot
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.integration.test_restart_divergences import ACCOUNT, SRC, fill, req, upd

DAY_MS = 86_400_000


async def test_an_evicted_order_whose_request_was_trimmed_is_rebuilt_from_what_is_left() -> None:
    now = [1_700_000_000_000]
    bus = MemoryBus(clock_ms=lambda: now[0])
    await bus.start()
    stream = bus.layout.exec(*ACCOUNT)
    engine = TradingEngine(bus, [], RiskConfig(), window=FinishedWindow(orders=1, histories=1))

    async def publish(*events: EventBase) -> None:
        for event in events:
            await bus.publish(event)
            now[0] += 1
        await replay_stream(engine, stream)

    # Day 0: a GTC buy of 2 rests.
    await publish(req("A", "2"), upd(OrderStatus.NEW, "A"))
    # Day 8: it fills in two; two more orders finish after it, so A leaves memory.
    now[0] += 8 * DAY_MS
    await publish(fill("eA1", "A"), fill("eA2", "A", price="11"), upd(OrderStatus.FILLED, "A"))
    await publish(
        req("B"), upd(OrderStatus.NEW, "B"), fill("eB", "B"), upd(OrderStatus.FILLED, "B")
    )
    await publish(req("C"), upd(OrderStatus.NEW, "C"), upd(OrderStatus.CANCELED, "C"))
    assert engine.oms.get("A") is None
    assert "A" in engine.oms.retired
    # The desk snapshots; with no broker object here (a venue keeping its own
    # state), the journal is trimmed by age (7 days) behind it.
    assert await write_snapshot(engine, *ACCOUNT)

    span = engine.projection.history_span("A")
    assert span is not None
    events = await read_order_history(bus, "A", span)
    assert [e.type for e in events] == ["fill", "fill", "order.update"]
    found = order_from_events("A", events)
    assert found is not None
    assert found.order.status is OrderStatus.FILLED
    assert found.order.filled_qty == D(2)
    assert found.order.avg_price == D("10.5")
    assert found.order.request.side is Side.BUY
    assert found.order.request.instrument == "X.PAPER"
    assert (found.broker, found.account) == ACCOUNT
    # Its history is what the journal holds: no stand-in request among it.
    assert found.history == events
    from silvertine_tui.engine.order_history import first_events_trimmed  # (new)

    assert first_events_trimmed("A", events)
    await bus.close()


def test_a_whole_history_is_not_said_trimmed_and_is_rebuilt_as_before() -> None:
    from silvertine_tui.engine.order_history import first_events_trimmed  # (new)

    events: list[EventBase] = [req("A"), upd(OrderStatus.NEW, "A"), fill("e1", "A")]
    assert not first_events_trimmed("A", events)
    found = order_from_events("A", events)
    assert found is not None
    assert found.history == events
    assert found.order.request == events[0].payload
    assert order_from_events("A", []) is None
    assert not first_events_trimmed("A", [])


def test_only_an_end_left_still_makes_the_order() -> None:
    """Its request, NEW and fills trimmed, only its CANCELED left (no side, no
    instrument known): the order is still shown, CANCELED, with that one event."""
    events: list[EventBase] = [upd(OrderStatus.CANCELED, "A")]
    found = order_from_events("A", events)
    assert found is not None
    assert found.order.status is OrderStatus.CANCELED
    assert found.history == events


STATUSES = [OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELED]


@st.composite
def order_events(draw: st.DrawFn) -> list[EventBase]:
    """An order's journal events: its request and NEW, then fills and statuses in any
    order (some with a replace's new quantity), duplicates included."""
    events: list[EventBase] = [req("A", "5"), upd(OrderStatus.NEW, "A")]
    for n in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["fill", "status", "replace", "again"]))
        if kind == "fill":
            qty = draw(st.sampled_from(["0.5", "1", "2"]))
            price = draw(st.sampled_from(["9", "10", "10.25"]))
            events.append(fill(f"e{n}", "A", qty=qty, price=price, side=Side.BUY))
        elif kind == "status":
            events.append(upd(draw(st.sampled_from(STATUSES)), "A"))
        elif kind == "replace":
            events.append(
                OrderUpdateEvent.create(
                    SRC,
                    OrderUpdate(
                        client_order_id="A",
                        status=OrderStatus.NEW,
                        quantity=D(draw(st.sampled_from(["3", "6", "8"]))),
                    ),
                )
            )
        else:  # a report journaled twice (the same event id)
            events.append(draw(st.sampled_from(events[1:])))
    return events


@given(order_events(), st.integers(1, 12))
def test_what_the_trim_left_is_all_shown_and_keeps_every_fill(
    events: list[EventBase], cut: int
) -> None:
    """Whatever the trim took of an order's first events, what is left is the order's
    history, in order, and each fill left is in it once (the filled quantity never
    goes past what those fills hold)."""
    left = events[min(cut, len(events)) :]
    found = order_from_events("A", left)
    if not left:
        assert found is None
        return
    assert found is not None
    assert [e.event_id for e in found.history] == list(dict.fromkeys(e.event_id for e in left))
    fills = {e.payload.exec_id: e.payload.quantity for e in left if e.type == "fill"}
    assert found.order.filled_qty <= sum(fills.values(), D(0))
    assert found.order.exec_ids <= set(fills)
