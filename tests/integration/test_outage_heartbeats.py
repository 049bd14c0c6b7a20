"""While Redis is down, every broker's heartbeat (one a second) waits in the outage
backlog with the fills and order events. A component's newest health event supersedes
the one still waiting: after hours down the backlog holds the latest state of each
component, once, and a fill is never refused for heartbeats.

Every test starts its own `redis-server` (`RedisServer`) and kills it.
"""

from __future__ import annotations

from typing import Any

import pytest

from silvertine_tui.bus import BusOptions, BusOverflowError
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import EventBase, Health, HealthEvent, Log, LogEvent
from tests.support import fill_event
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def heartbeat(component: str, state: ConnectionState, n: int, message: str = "") -> HealthEvent:
    return HealthEvent.create(
        component,
        Health(component=component, state=state, message=message, metrics={"beat": n}),
    )


def options(prefix: str, **overrides: Any) -> BusOptions:
    values: dict[str, Any] = {"prefix": prefix, "block_ms": 100, "epoch_check_s": 0.1}
    values.update(overrides)
    return BusOptions(**values)


async def test_heartbeats_during_an_outage_keep_the_latest_per_component(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        bus = RedisBus(server.url, options(key_prefix, exec_buffer=6))
        await bus.start()
        try:
            first = fill_event(0)
            assert await bus.publish(first)
            await server.akill()
            note = LogEvent.create("engine", Log(message="a log line is no heartbeat"))
            assert await bus.publish(note) is None
            fills = [fill_event(n) for n in range(1, 6)]
            published: list[EventBase] = []
            for beat in range(200):  # hours of heartbeats, in short
                for component in ("broker:paper/main", "broker:ib/U1"):
                    beat_event = heartbeat(component, ConnectionState.LIVE, beat)
                    assert await bus.publish(beat_event) is None
                    published.append(beat_event)
                if beat % 40 == 0:
                    fill = fills[beat // 40]
                    assert await bus.publish(fill) is None  # never refused for them
                    published.append(fill)
            # A state change, then the beats that follow it: the newest state is kept.
            down = heartbeat("broker:ib/U1", ConnectionState.DISCONNECTED, 999, "order link lost")
            await bus.publish(down)
            assert bus.stats.exec_buffered == 1 + 5 + 2  # the log, the fills, one a component
            with pytest.raises(BusOverflowError):  # the bound still holds for the rest
                await bus.publish(fill_event(6))
            await server.arestart()
            await bus.flush()
            assert [e.event for e in await bus.read(bus.layout.exec("paper", "main"))] == [
                first,
                *fills,
            ]
            waiting = [
                e.event
                for e in await bus.read(bus.layout.health)
                if isinstance(e.event, EventBase) and e.event.source != "bus"
            ]
            latest_paper = [e for e in published if e.source == "broker:paper/main"][-1]
            assert waiting == [note, latest_paper, down]
            assert bus.stats.health_superseded == 199 + 200
        finally:
            await bus.close()
