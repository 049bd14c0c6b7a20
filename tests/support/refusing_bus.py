"""Redis refusing some writes (READONLY in a failover, out of memory), put in front of
a test's bus: the tests of what an adapter does with a report the journal refuses."""

from __future__ import annotations

from collections.abc import Callable

from silvertine_tui.bus import BusError, EventBus
from silvertine_tui.events import EventBase


class RefusedWrites:
    """While `refusing`, the bus refuses each event `picked` takes (they are listed in
    `refused`); the others, and all once `refusing` is False, are written."""

    def __init__(self, bus: EventBus, picked: Callable[[EventBase], bool]) -> None:
        self.refusing = True
        self.refused: list[EventBase] = []
        self._picked = picked
        self._publish = bus.publish
        bus.publish = self._write  # type: ignore[method-assign]

    async def _write(self, event: EventBase) -> str | None:
        if self.refusing and self._picked(event):
            self.refused.append(event)
            raise BusError("Redis refused the write (READONLY): it was not journaled")
        return await self._publish(event)
