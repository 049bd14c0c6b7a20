"""A reconcile that fails on an answer the adapter cannot read is said, not only logged.

A venue listing with a row the adapter could not read raised a `ValueError` out of the
reconcile after a reconnect: only the broker's listener log line said it, the broker
stayed LIVE with no word, and the desk's orders and positions were not reconciled.
"""

from __future__ import annotations

from collections.abc import Mapping

from silvertine_tui.brokers import BrokerRegistry
from silvertine_tui.brokers.base import ReconcileReport
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, Settings
from silvertine_tui.domain import Fill
from silvertine_tui.engine.session import Session
from silvertine_tui.events import HealthEvent
from tests.fakes.scripted_venue import ScriptedVenue


class GarbledVenue(ScriptedVenue):
    """A venue whose listing, once `garbled`, holds a row the adapter cannot read."""

    garbled = False

    async def reconcile(
        self, since_ns: int = 0, last_fills: Mapping[str, Fill] | None = None
    ) -> ReconcileReport:
        if self.garbled:
            raise ValueError("'SOMETHING_NEW' is not a valid OrderStatus")
        return await super().reconcile(since_ns, last_fills)


async def test_a_reconcile_that_cannot_read_the_venue_is_said_on_the_broker() -> None:
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", GarbledVenue)
    config = ExternalBrokerConfig(name="scripted", type="scripted", account="main")
    session = Session(Settings(brokers=[config]), bus=MemoryBus(), registry=registry)
    await session.start()
    try:
        venue = session.brokers[0]
        assert isinstance(venue, GarbledVenue)
        venue.garbled = True
        await venue.come_back()  # a reconnect: the session reconciles
        assert venue.health_state.errors["reconcile_failed"] == 1
        said = [
            entry.event.payload.message
            for entry in await session.bus.read(session.bus.layout.health)
            if isinstance(entry.event, HealthEvent)
            and entry.event.payload.component == f"broker:{venue.source}"
        ]
        assert said[-1].startswith("reconcile after reconnect failed: ValueError: 'SOMETHING_NEW'")
    finally:
        await session.close()
