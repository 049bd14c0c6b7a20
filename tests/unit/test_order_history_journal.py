"""An order whose events left memory is read back from the journal (memory://), and its
id is still refused by the engine."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import EventBus, MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import DuplicateOrderId, TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.order_history import JournalSpan, read_order_history
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.recovery import replay_stream
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.order_journal import write_interleaved

ORDERS = 40


def seen_by(seen: list[tuple[int, int]]) -> Callable[[int, int], None]:
    return lambda read, total: seen.append((read, total))


async def check_history_from_the_journal(bus: EventBus) -> None:
    """Shared by memory:// (here) and a real redis-server (tests/integration)."""
    ids = await write_interleaved(bus, ORDERS)
    projection = DeskProjection(window=FinishedWindow(orders=10, histories=3))
    async for entry in bus.replay(bus.layout.exec("paper", "main")):
        projection.apply_entry(entry)
    # The window's 10, and beside it the order of the instrument's last fill.
    assert projection.oms.finished_count() == 10
    assert len(projection.orders) == 11
    assert len(projection.oms.retired) == ORDERS - 11
    # Evicted: only a compact record stays.
    for cid in ("h0000000000", "h0000000007", "h0000000021"):
        assert projection.order(cid) is None
        span = projection.history_span(cid)
        assert span is not None
        assert span.known
        seen: list[tuple[int, int]] = []
        events = await read_order_history(bus, cid, span, progress=seen_by(seen), page=3)
        assert [e.event_id for e in events] == ids[cid]
        assert seen
        assert seen[-1][0] >= len(ids[cid])
        # Only the span is read, not the journal: its interleaved neighbours at most.
        assert seen[-1][0] <= 2 * len(ids[cid])
    # Held, with its history dropped: read back the same way.
    dropped = next(v for v in projection.orders.values() if v.history_dropped)
    span = projection.history_span(dropped.client_order_id)
    assert span is not None
    events = await read_order_history(bus, dropped.client_order_id, span)
    assert [e.event_id for e in events] == ids[dropped.client_order_id]
    # Held with its history: nothing to read.
    kept = next(v for v in projection.orders.values() if not v.history_dropped)
    assert projection.history_span(kept.client_order_id) is None
    assert [e.event_id for e in kept.history] == ids[kept.client_order_id]
    # No span known (an order loaded from a snapshot): the whole journal is scanned.
    whole: list[tuple[int, int]] = []
    events = await read_order_history(
        bus, "h0000000007", JournalSpan("paper", "main"), progress=lambda r, t: whole.append((r, t))
    )
    assert [e.event_id for e in events] == ids["h0000000007"]
    total = sum(len(v) for v in ids.values())
    assert whole[-1] == (total, total)
    # An order the journal does not hold: nothing, no error.
    assert await read_order_history(bus, "nope", JournalSpan("paper", "main")) == []


async def test_an_evicted_orders_history_is_read_from_a_memory_journal() -> None:
    bus = MemoryBus()
    await bus.start()
    await check_history_from_the_journal(bus)


async def test_an_evicted_id_is_refused_by_the_engine() -> None:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue(ExternalBrokerConfig(name="scripted", type="scripted"), bus)
    engine = TradingEngine(bus, [venue], RiskConfig(), window=FinishedWindow(orders=0))
    await venue.connect()
    await engine.load_instruments()
    request = OrderRequest(
        client_order_id="c-1",
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("2"),
        limit_price=D("10.00"),
    )
    await engine.submit(request)
    await replay_stream(engine, bus.layout.exec("scripted", "main"))
    view = engine.oms.get("c-1")
    assert view is not None
    assert view.order.status is OrderStatus.NEW
    await engine.cancel("c-1")
    await replay_stream(engine, bus.layout.exec("scripted", "main"))
    assert engine.oms.get("c-1") is None  # finished: evicted at once (window 0)
    assert "c-1" in engine.oms.retired
    with pytest.raises(DuplicateOrderId):
        await engine.submit(request)
