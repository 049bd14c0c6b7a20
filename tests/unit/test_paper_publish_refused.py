"""A batch of the paper venue's reports the bus refuses is kept and written again.

The venue applies a fill before the adapter publishes it. A refused batch was logged
(`paper.publish_failed`) and dropped: the journal never had the fill the venue (and so
a restart's view, and the next reconcile) disagreed with, nothing in health said so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from decimal import Decimal as D

from silvertine_tui.bus import BusError, MemoryBus
from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.events import EventBase, FillEvent
from tests.unit.test_paper_balances import started
from tests.unit.test_paper_broker import eth_book, exec_events, order, statuses


class Refusing:
    """Makes the bus refuse its next `publish_many` with a fill in it (Redis READONLY in
    a failover)."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.armed = False
        self.refused = 0
        self._publish_many = bus.publish_many

    async def publish_many(self, events: Iterable[EventBase]) -> None:
        events = list(events)
        if self.armed and any(isinstance(e, FillEvent) for e in events):
            self.armed = False
            self.refused += 1
            raise BusError("READONLY You can't write against a read only replica.")
        await self._publish_many(events)


async def test_a_refused_fill_is_kept_counted_and_written_again() -> None:
    bus, broker = await started()
    refusing = Refusing(bus)
    bus.publish_many = refusing.publish_many  # type: ignore[method-assign]
    await broker.place(order("b", Side.BUY, "1", D("3050")))
    refusing.armed = True
    await broker.on_market_data(eth_book([(D("2990"), "5")], [(D("3000"), "5")]))
    await broker.settle()  # the batch is not lost: settling raises nothing
    assert refusing.refused == 1
    assert broker.health_state.errors["publish"] == 1
    # Written again in the background (0.2 s first), in order.
    for _ in range(50):
        if not broker.unjournaled:
            break
        await asyncio.sleep(0.05)
    assert broker.unjournaled == 0
    events = await exec_events(bus)
    assert [e.payload.client_order_id for e in events if isinstance(e, FillEvent)] == ["b"]
    assert statuses(events, "b")[-1] is OrderStatus.FILLED
    await broker.close()
