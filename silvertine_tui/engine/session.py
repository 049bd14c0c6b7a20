"""A trading session: config -> bus -> (brokers, OMS, portfolio, risk) -> the UI's feed.

This first cut wires the bus and announces the session; brokers and the engine
components join in their own issues.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from ..bus import BusEntry, EventBus
from ..config import Settings
from ..domain import ConnectionState
from ..events import Health, HealthEvent, Log, LogEvent
from .wiring import open_bus

log = logging.getLogger(__name__)

FeedEntry = BusEntry


class Session:
    def __init__(self, settings: Settings, *, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus if bus is not None else open_bus(settings.bus)
        self.started = False

    @property
    def live(self) -> bool:
        """True if any enabled broker trades real money (drives the PAPER/LIVE marker)."""
        return any(b.live for b in self.settings.enabled_brokers)

    @property
    def bus_url(self) -> str:
        return self.settings.bus.redacted_url()

    def feed_streams(self) -> dict[str, str]:
        """Streams the UI follows, with where to start: journals and health from the
        beginning (state is rebuilt from them), market data from now."""
        layout = self.bus.layout
        streams: dict[str, str] = {layout.health: "0-0", layout.risk: "0-0", layout.signal: "0-0"}
        for broker in self.settings.enabled_brokers:
            streams[layout.exec(broker.name, broker.account)] = "0-0"
            streams[layout.md(broker.name)] = "$"
        return streams

    async def start(self) -> None:
        await self.bus.start()
        self.started = True
        names = ", ".join(b.name for b in self.settings.enabled_brokers)
        log.info("session.started", extra={"bus": self.bus_url, "brokers": names})
        await self.bus.publish(
            HealthEvent.create(
                "bus",
                Health(
                    component="bus",
                    state=ConnectionState.LIVE,
                    message=f"{self.bus.backend} bus ready at {self.bus_url}",
                ),
            )
        )
        await self.bus.publish(
            LogEvent.create("engine", Log(message=f"session started; brokers: {names}"))
        )

    def feed(self) -> AsyncIterator[FeedEntry]:
        return self.bus.tail(self.feed_streams())

    async def close(self) -> None:
        if self.started:
            self.started = False
            await self.bus.close()
            log.info("session.closed")
