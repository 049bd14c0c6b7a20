"""`PaperBroker` report delivery: an acknowledgement that finds the outbox busy waits
its turn in the queue (iteratively), it never recurses.

With a 0 ms acknowledgement an order reaches the venue at once; when a fill made by a
market move is still queued, its acknowledgement must go out behind that fill. It used to
call itself until `RecursionError`, leaving the order live at the venue and PENDING_NEW in
the journal.
"""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from tests.unit.test_paper_broker import eth_book, exec_events, order, paper_config

S = OrderStatus
ZERO_ACK = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0}


def last_status(events: list[object]) -> dict[str, OrderStatus]:
    out: dict[str, OrderStatus] = {}
    for event in events:
        if isinstance(event, OrderUpdateEvent):
            out[event.payload.client_order_id] = event.payload.status
    return out


async def test_an_ack_behind_a_queued_fill_is_published_after_it() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(latency=ZERO_ACK), bus)
    await broker.connect()
    price = D("3000")
    calm = eth_book([(price - D("0.01"), "50")], [(price + D("0.01"), "50")])
    await broker.on_market_data(calm)
    await broker.place(order("r1", Side.BUY, "1", price - 1))
    # The market trades through r1: its fill is queued, not yet published ...
    await broker.on_market_data(eth_book([(price - 2, "50")], [(price - D("1.5"), "50")]))
    assert broker._outbox
    # ... when the next order is acknowledged.
    await broker.place(order("r2", Side.BUY, "1", price - 10))
    events = await exec_events(bus)
    assert last_status(events) == {"r1": S.FILLED, "r2": S.NEW}
    reports = [
        (e.payload.client_order_id, "fill" if isinstance(e, FillEvent) else e.payload.status)
        for e in events
        if isinstance(e, FillEvent | OrderUpdateEvent)
    ]
    # Reports never overtake each other: r1's fill (queued first) precedes r2's ack.
    assert reports.index(("r1", "fill")) < reports.index(("r2", S.NEW))
    await broker.close()
    await bus.close()


async def test_ten_thousand_places_with_a_zero_ms_ack_are_all_acknowledged() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(
        paper_config(
            latency=ZERO_ACK,
            starting_cash={"USDT": "1000000000", "USD": "1000"},
            checks={"max_open_orders": 20_000},
        ),
        bus,
    )
    await broker.connect()
    price = D("3000")
    calm = eth_book([(price - D("0.01"), "500")], [(price + D("0.01"), "500")])
    through = eth_book([(price - 2, "500")], [(price - D("1.5"), "500")])
    await broker.on_market_data(calm)
    n = 10_000
    for i in range(n):
        # Every place finds the previous order's fill still queued in the outbox.
        await broker.place(order(f"z{i}", Side.BUY, "0.01", price - 1))
        await broker.on_market_data(through)
        await broker.on_market_data(calm)
    await broker.settle()
    final = last_status(await exec_events(bus))
    assert len(final) == n
    assert all(status is S.FILLED for status in final.values())
    assert not broker.venue.open_orders()
    await broker.close()
    await bus.close()
