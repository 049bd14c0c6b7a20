"""A data loss whose resync fails leaves the bus DEGRADED, with words, where the desk
shows it.

- A journal key replaced by a string stops the desk (documented), and the resync of the
  loss the bus then finds fails in its listener. The desk's feed stopped first, so the
  Health pane reads the bus from this process: its stats must say the journal is not a
  stream (the pane then shows DEGRADED and the key). Before, the pane showed the bus
  LIVE.
- A resync that failed is not undone by the next LIVE the bus says (a reconnect, a
  restart with no loss): the journal is still not mended, and the bus stays DEGRADED
  with the failure's words.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.bus.base import DataLoss
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import Health, HealthEvent
from tests.support import fill_event
from tests.support.desks import desk, resting_buy, status, until
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def test_a_journal_replaced_by_a_string_leaves_the_bus_degraded_in_its_stats(
    redis_server: RedisServer, key_prefix: str
) -> None:
    session = desk(redis_server.url, key_prefix, "paper")
    await session.start()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        cid = await resting_buy(session, "paper")
        await until(lambda: status(session, cid) is OrderStatus.NEW)
        journal = session.bus.layout.exec("paper", "main")
        await client.delete(journal)
        await client.set(journal, "x")
        await until(lambda: session.bus.stats.data_loss_detected == 1)
        # What this process's Health pane reads with the feed stopped: the journal named.
        await until(lambda: f"{journal} (a string" in session.bus.stats.unreadable)

        async def last_bus_health() -> Health:
            events = [
                e.event.payload
                for e in await session.bus.read(session.bus.layout.health)
                if isinstance(e.event, HealthEvent) and e.event.payload.component == "bus"
            ]
            return events[-1]

        for _ in range(200):
            health = await last_bus_health()
            if "failed" in health.message:
                break
            await asyncio.sleep(0.05)
        assert health.state is ConnectionState.DEGRADED
        assert f"{journal} holds a string" in health.message, health.message
    finally:
        await client.aclose()
        await session.close()


async def test_a_failed_resync_is_not_undone_by_the_next_live() -> None:
    with RedisServer(persistence=True) as server:
        bus = create_bus(server.url, BusOptions(prefix="t-failed", block_ms=100))

        async def failing(loss: DataLoss) -> None:
            raise RuntimeError("the venue cannot be asked")

        bus.add_data_loss_listener(failing)
        await bus.start()
        client = aioredis.Redis.from_url(server.url)
        journal = bus.layout.exec("paper", "main")
        try:
            await bus.publish(fill_event(1))
            await client.delete(journal)
            for _ in range(60):
                if bus.stats.data_loss_detected:
                    break
                await asyncio.sleep(0.1)
            assert bus.stats.data_loss_detected == 1

            async def bus_health() -> list[Health]:
                return [
                    e.event.payload
                    for e in await bus.read(bus.layout.health)
                    if isinstance(e.event, HealthEvent)
                ]

            for _ in range(200):
                if any("failed" in h.message for h in await bus_health()):
                    break
                await asyncio.sleep(0.05)
            said = len(await bus_health())
            assert said, "the failed resync was not said"
            # Redis restarts with everything (AOF): no loss, and the bus says it is back.
            await client.aclose()
            await server.akill()
            await server.arestart()
            client = aioredis.Redis.from_url(server.url)
            await bus.publish(fill_event(2))  # the write finds the restart
            for _ in range(150):
                if (await bus_health())[said:]:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # whatever else the bus says of the restart
            after = (await bus_health())[said:]
            assert after, "the bus said nothing after the restart"
            last = after[-1]
            assert last.state is ConnectionState.DEGRADED, last
            assert "the venue cannot be asked" in last.message, last.message
        finally:
            await client.aclose()
            await bus.close()
