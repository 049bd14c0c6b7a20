"""A broker's heartbeat that Redis refuses (the health stream's key holds another type)
is logged once while it lasts: it was a traceback every second."""

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
            with caplog.at_level("INFO", logger="silvertine_tui.brokers.base"):
                broker.start_health_loop(interval_s=0.02)
                await asyncio.sleep(0.5)  # about 25 heartbeats refused
                failed = [r for r in caplog.records if r.msg == "broker.health_publish_failed"]
                assert len(failed) == 1
                assert failed[0].exc_info is not None  # what Redis answered, once
                await asyncio.to_thread(command, server.host, server.port, "DEL", health)
                for _ in range(100):
                    if any(r.msg == "broker.health_published_again" for r in caplog.records):
                        break
                    await asyncio.sleep(0.02)
                else:
                    raise AssertionError("never said it published again")
        finally:
            await broker.close()
            await bus.close()
