"""An order that left memory before the snapshot a desk restarted from is found by the
id the desk shows, and its history is read back from the journal.

Snapshots do not hold what stays of evicted orders (`Retired`, with their journal
spans): they name the last of them (`Snapshot.evicted_ids`) only so that a late report
is known. After a restart the command palette (`DeskProjection.orders_ending`) and the
history view (`history_span`) knew only the orders evicted since: an order filled an
hour before the restart was "No matches found" by the id in the Log, its history not
readable although the journal held every event of it."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.order_history import order_from_events, read_order_history
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.events import EventBase
from tests.integration.test_restart_divergences import ACCOUNT, fill, req, upd

A, B, C, D_ = (f"st00000000000000{n}a1x" for n in "1234")


async def test_an_order_evicted_before_the_snapshot_is_found_and_read_back() -> None:
    bus = MemoryBus()
    await bus.start()
    stream = bus.layout.exec(*ACCOUNT)
    window = FinishedWindow(orders=1, histories=1)
    engine = TradingEngine(bus, [], RiskConfig(), window=window)

    async def publish(*events: EventBase) -> None:
        for event in events:
            await bus.publish(event)
        await replay_stream(engine, stream)

    await publish(req(A, "2"), upd(OrderStatus.NEW, A), fill("eA", A, qty="2"))
    await publish(upd(OrderStatus.FILLED, A))
    # B fills after it (A no longer holds the instrument's last fill), C ends: A leaves.
    await publish(req(B), upd(OrderStatus.NEW, B), fill("eB", B), upd(OrderStatus.FILLED, B))
    await publish(req(C), upd(OrderStatus.NEW, C), upd(OrderStatus.CANCELED, C))
    assert engine.oms.get(A) is None
    assert A in engine.oms.retired
    assert await write_snapshot(engine, *ACCOUNT)
    # Written after the snapshot: a later order the restart replays.
    await publish(req(D_), upd(OrderStatus.NEW, D_), upd(OrderStatus.CANCELED, D_))

    restarted = TradingEngine(bus, [], RiskConfig(), window=window)
    await recover(restarted, [ACCOUNT])
    view = restarted.projection
    assert view.order(A) is None
    assert view.retired(A) is None
    assert view.orders_ending("1a1x") == [A]
    assert view.orders_ending(A) == [A]
    span = view.history_span(A)
    assert span is not None
    assert (span.broker, span.account) == ACCOUNT
    events = await read_order_history(bus, A, span)
    assert [e.type for e in events] == ["order.request", "order.update", "fill", "order.update"]
    found = order_from_events(A, events)
    assert found is not None
    assert found.order.status is OrderStatus.FILLED
    assert found.order.filled_qty == D(2)
    # An id no order of this journal had is still none.
    assert view.orders_ending("9a1x") == []
    assert view.history_span("st0000000000000009a1x") is None
    await bus.close()
