"""A snapshot the bus refuses (Redis refusing the write, the outage buffer full) leaves
the desk trading. Taken from the engine's reader (`snapshot_every_events`), it ended
the reader: the desk stopped, every order refused "desk stopped", for a snapshot (which
only shortens the next start) that could not be written."""

from __future__ import annotations

import asyncio

from silvertine_tui.bus import BusError, MemoryBus
from silvertine_tui.engine.commands import Accepted, PlaceOrder
from silvertine_tui.events import EventBase
from tests.support.paper_session import paper_session, resting_buy


class SnapshotRefusingBus(MemoryBus):
    """Redis refusing the snapshot stream's writes (a key of another type there)."""

    refused = 0

    async def publish(self, event: EventBase) -> str | None:
        if event.type == "snapshot":
            self.refused += 1
            raise BusError("Redis refused the event for snap: it was not journaled.")
        return await super().publish(event)


async def test_a_refused_snapshot_leaves_the_desk_trading() -> None:
    bus = SnapshotRefusingBus()
    async with paper_session(bus, ack_s=0.0, engine={"snapshot_every_events": 5}) as session:
        gateway = session.command_gateway()
        for _ in range(4):
            sent = await gateway.send(PlaceOrder(request=resting_buy(session)))
            assert isinstance(sent, Accepted), sent
            await asyncio.sleep(0.05)
        assert bus.refused >= 1  # a snapshot was due and refused
        [reader] = [t for t in session._tasks if t.get_name() == "engine-reader"]
        assert not reader.done()
        assert not session.not_ready
        after = await gateway.send(PlaceOrder(request=resting_buy(session)))
        assert isinstance(after, Accepted), after
