"""A broker's heartbeat that Redis refuses (the health stream's key holds another type)
is logged once while it lasts: it was a traceback every second. Health is no journal:
the bus drops such a write and logs it (`bus.redis.health_not_written`), the broker's
loop goes on, and its heartbeats are written again once the key is a stream."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, create_bus
from tests.support.redis_server import RedisServer, command
from tests.unit.test_paper_reference import paper_config

pytestmark = pytest.mark.redis


async def test_a_refused_heartbeat_is_logged_once_while_it_lasts(
    key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = paper_config(symbols=["BTCUSDT"])
    with RedisServer() as server:
        bus = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=100))
        await bus.start()
        broker = PaperBroker(config, bus)
        try:
            await broker.connect()
            await broker.stop_health_loop()
            health = bus.layout.health
            await asyncio.to_thread(command, server.host, server.port, "SET", health, "x")
            with caplog.at_level("INFO"):
                broker.start_health_loop(interval_s=0.02)
                await asyncio.sleep(0.5)  # about 25 heartbeats refused
                dropped = [r for r in caplog.records if r.msg == "bus.redis.health_not_written"]
                assert len(dropped) == 1
                assert not [r for r in caplog.records if r.msg == "broker.health_publish_failed"]
                assert bus.stats.write_errors > 1
                await asyncio.to_thread(command, server.host, server.port, "DEL", health)
                for _ in range(100):
                    if await bus.read_last(health, 1):
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("its heartbeats were never written again")
        finally:
            await broker.close()
            await bus.close()
