"""Two data losses whose resyncs overlap: orders wait for both.

The Redis bus runs each data-loss listener as its own task: Redis losing data again
while the first resync still reconciles starts a second one beside it. The first to
end lifted the refusal (`bus_resync`) while the second still reclaimed, re-seeded and
reconciled: orders went out in the middle of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from silvertine_tui.brokers import BrokerRegistry
from silvertine_tui.brokers.base import ReconcileReport
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, Settings
from silvertine_tui.domain import Fill
from silvertine_tui.engine.session import BUS_RESYNC, Session
from tests.fakes.scripted_venue import ScriptedVenue


class HeldVenue(ScriptedVenue):
    """A venue whose reconciles wait, one gate each, until the test opens them."""

    gates: list[asyncio.Event] = []

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        if HeldVenue.gates:
            await HeldVenue.gates.pop(0).wait()
        return await super().reconcile(since_ns, last_fills)


async def test_orders_wait_until_every_overlapping_resync_is_done() -> None:
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", HeldVenue)
    config = ExternalBrokerConfig(name="scripted", type="scripted", account="main")
    session = Session(Settings(brokers=[config]), bus=MemoryBus(), registry=registry)
    await session.start()
    try:
        engine = session.engine
        assert engine.not_ready == ""
        first, second = asyncio.Event(), asyncio.Event()
        HeldVenue.gates[:] = [first, second]
        # As the bus calls its listeners: each loss its own task.
        one = asyncio.create_task(session._on_data_loss("loss 1"))
        for _ in range(200):
            if HeldVenue.gates == [second]:
                break  # the first resync is reconciling
            await asyncio.sleep(0.005)
        two = asyncio.create_task(session._on_data_loss("loss 2"))
        for _ in range(200):
            if session._reconciling["scripted"]._waiters:
                break  # the second waits for the first's reconcile (one at a time)
            await asyncio.sleep(0.005)
        assert HeldVenue.gates == [second]  # not reconciling beside the first
        first.set()
        await one
        for _ in range(200):
            if not HeldVenue.gates:
                break  # the second is reconciling now
            await asyncio.sleep(0.005)
        assert not HeldVenue.gates
        assert engine.not_ready_rule == BUS_RESYNC, "orders went while a resync ran"
        assert "loss 2" in engine.not_ready
        second.set()
        await two
        assert engine.not_ready == ""
    finally:
        HeldVenue.gates[:] = []
        await session.close()
