"""A data loss the bus's watcher finds (no command failed: redis-py reopened the
socket silently) is said DEGRADED, "resyncing from the brokers", and its end is said
too, once the resync is done: LIVE, data lost and resynced. A resync that failed
leaves the bus DEGRADED, saying so. The Health pane shows the last word.

Every test starts its own `redis-server` (`RedisServer`) and kills it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from silvertine_tui.bus import BusEntry, BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import HealthEvent
from tests.support import fill_event
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis

TIMEOUT = 15.0


def bus_health(entries: list[BusEntry]) -> list[HealthEvent]:
    return [
        e.event for e in entries if isinstance(e.event, HealthEvent) and e.event.source == "bus"
    ]


async def last_bus_health(bus: RedisBus, check: Any) -> HealthEvent:
    """The bus's last health event, once `check` holds for it (bounded)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            health = bus_health(await bus.read(bus.layout.health))
            if health and check(health[-1]):
                return health[-1]
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("resync", ["done", "failed"])
async def test_a_loss_the_watcher_found_ends_once_the_resync_is_done(
    resync: str, key_prefix: str
) -> None:
    with RedisServer() as server:
        bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
        await bus.start()
        try:
            release = asyncio.Event()
            resyncing = asyncio.Event()

            async def on_loss(reason: str) -> None:
                resyncing.set()
                await release.wait()  # the brokers' resync takes its time
                if resync == "failed":
                    raise RuntimeError("the venue did not answer")

            bus.add_data_loss_listener(on_loss)
            assert await bus.publish(fill_event(1))
            await server.akill()
            await server.arestart()  # empty; no command of the bus fails
            async with asyncio.timeout(TIMEOUT):
                await resyncing.wait()
            assert bus.stats.reconnects == 0  # found by the watcher, not a reconnect
            # While the resync runs: DEGRADED, resyncing.
            during = await last_bus_health(bus, lambda h: True)
            assert during.payload.state is ConnectionState.DEGRADED
            assert "resyncing from the brokers" in during.payload.message
            release.set()
            if resync == "done":
                end = await last_bus_health(bus, lambda h: h.payload.state is ConnectionState.LIVE)
                assert "data was lost" in end.payload.message
                assert "resynced from the brokers" in end.payload.message
            else:
                end = await last_bus_health(bus, lambda h: "failed" in h.payload.message)
                assert end.payload.state is ConnectionState.DEGRADED
                assert "the venue did not answer" in end.payload.message
                assert "check orders and positions at the venues" in end.payload.message
        finally:
            await bus.close()


async def test_a_loss_found_on_reconnect_ends_with_the_resync_after_the_reconnect(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
        await bus.start()
        try:
            done = asyncio.Event()

            async def on_loss(reason: str) -> None:
                await bus.publish(fill_event(9))  # the resync writes
                done.set()

            bus.add_data_loss_listener(on_loss)
            assert await bus.publish(fill_event(1))
            await server.akill()
            assert await bus.publish(fill_event(2)) is None  # buffered: a reconnect
            await server.arestart()
            async with asyncio.timeout(TIMEOUT):
                await done.wait()
            await bus.flush()
            end = await last_bus_health(bus, lambda h: "resynced" in h.payload.message)
            assert end.payload.state is ConnectionState.LIVE
            health = bus_health(await bus.read(bus.layout.health))
            # The reconnect's own LIVE came before: the end of the loss is the last word.
            assert any("Redis connection restored" in h.payload.message for h in health)
            assert health[-1] == end
        finally:
            await bus.close()


async def test_the_end_of_a_loss_keeps_what_the_reconnect_moved_to_the_dead_letters(
    key_prefix: str,
) -> None:
    """A loss found on reconnect whose backlog held an event Redis refused (its key a
    string now): the reconnect says DEGRADED, naming the dead-letter stream; the loss's
    end, which comes after it, said LIVE and the Health pane lost the warning."""
    with RedisServer() as server:
        bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
        await bus.start()
        try:
            resynced = asyncio.Event()

            async def on_loss(reason: str) -> None:
                resynced.set()

            bus.add_data_loss_listener(on_loss)
            assert await bus.publish(fill_event(1))
            await server.akill()
            assert await bus.publish(fill_event(2)) is None
            assert await bus.publish(fill_event(100, source="bad/main")) is None
            await server.arestart()  # empty: the data is lost
            await asyncio.to_thread(
                command, server.host, server.port, "SET", bus.layout.exec("bad", "main"), "x"
            )
            last = await last_bus_health(bus, lambda h: "resynced" in h.payload.message)
            assert bus.stats.dead_lettered == 1
            assert last.payload.state is ConnectionState.DEGRADED
            assert f"dead-letter stream {bus.layout.dead_letter}" in last.payload.message
        finally:
            await bus.close()
