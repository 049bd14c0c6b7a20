"""An execution event published while the reconnect loop writes its waiting
quote (after the backlog was flushed, before the bus calls itself connected) stays in
the outage backlog for good: the bus says it is connected, nothing flushes it again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from silvertine_tui.bus import BusOptions, BusUnavailableError
from silvertine_tui.bus.redis_streams import RedisBus
from tests.support import fill_event, quote_event
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def _until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_an_event_published_while_the_waiting_quote_is_written_is_journaled(
    key_prefix: str,
) -> None:
    with RedisServer(persistence=True) as server:
        async with RedisRelay(server.host, server.port) as relay:
            bus = RedisBus(
                relay.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1)
            )
            await bus.start()
            try:
                stream = bus.layout.exec("paper", "main")
                md = bus.layout.md("binance")
                first = fill_event(0)
                assert await bus.publish(first)
                await server.akill()
                during = fill_event(1)
                assert await bus.publish(during) is None  # buffered: the bus is down
                await bus.publish(quote_event(bid="101"))  # waits, newest per key
                late = fill_event(2)
                spawned: list[asyncio.Task[Any]] = []
                # The reconnect loop writes one waiting quote before it says the bus is
                # back: a fill the broker publishes in that round trip...
                relay.before(
                    md.encode(), lambda: spawned.append(asyncio.create_task(bus.publish(late)))
                )
                await server.arestart()
                await _until(lambda: bus.stats.connected and spawned and spawned[0].done())
                assert relay.met == 1
                assert spawned[0].result() is None  # ...was buffered meanwhile
                after = fill_event(3)
                await bus.publish(after)  # the next fill, long after the bus is back
                try:
                    await bus.flush(timeout=3.0)
                except BusUnavailableError as exc:
                    pytest.fail(
                        f"connected={bus.stats.connected} exec_buffered="
                        f"{bus.stats.exec_buffered}: {exc}"
                    )
                journal = [e.event.event_id for e in await bus.read(stream)]  # type: ignore[union-attr]
                assert journal == [e.event_id for e in (first, during, late, after)]
            finally:
                await bus.close()
