"""Redis out of memory silences the desks a watching desk follows: it refuses their
heartbeats (every write), while the watching desk, which only reads, reads on. Its
bus sees nothing wrong (it writes nothing to be refused), so it cannot tell this from
a desk that died: it said only "the desk driving it may be down (killed, or its host
or network lost)", the one cause that was not so. It says both now. On a real Redis,
its memory limit set and lifted."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine.watch import WatchSession
from tests.support.desks import desk, until
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis


def limit(server: RedisServer, maxmemory: str) -> None:
    for args in (
        ("CONFIG", "SET", "maxmemory-policy", "noeviction"),
        ("CONFIG", "SET", "maxmemory", maxmemory),
    ):
        reply = command(server.host, server.port, *args)
        assert reply.startswith(b"+OK"), reply


async def test_a_desk_silenced_by_redis_out_of_memory_is_not_only_said_down(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        driver = desk(server.url, key_prefix, "paper")
        await driver.start()
        settings = Settings.model_validate({"bus": {"url": server.url, "prefix": key_prefix}})
        bus = create_bus(
            server.url, BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1, passive=True)
        )
        watch = WatchSession(settings, bus=bus, stale_after_s=2.0, stale_check_s=0.1)
        try:
            await watch.start()
            view = watch.projection
            await until(lambda: view.broker_state("paper") is ConnectionState.LIVE)
            await asyncio.sleep(1.5)  # past the first look (half the 2 s)
            assert view.silent == {}

            await asyncio.to_thread(limit, server, "1")
            await until(lambda: "paper" in view.silent, timeout=15)
            # The watching desk's own bus is fine: it reads, and writes nothing.
            assert watch.bus.stats.connected
            assert not watch.bus.stats.writes_refused
            (said,) = [a for a in watch.alerts if a.title == "paper/main not heard from"]
            assert "the desk driving it may be down" in said.message
            assert "or Redis may be refusing its writes while this desk still reads" in (
                said.message
            )
            assert "out of memory" in said.message

            await asyncio.to_thread(limit, server, "0")
            await until(lambda: "paper" not in view.silent, timeout=15)
        finally:
            await asyncio.to_thread(limit, server, "0")
            await watch.close()
            await driver.close()
