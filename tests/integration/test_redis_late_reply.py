"""The restart check counts each XADD of the desk's on top of what XINFO last showed.
An XADD Redis ran before the watcher's XINFO but whose reply was read after it (a
retransmission on that connection, a busy loop) was counted twice, and the next pass
found the stream "had N+1 entries added, now N": a data loss on a healthy Redis (a
DEGRADED health line, the session's resync, the paper venue's journal re-seeded). The
check now reads XINFO under the publishers' lock."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from tests.support import fill_event
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


async def test_a_late_xadd_reply_is_no_data_loss(
    redis_server: RedisServer, key_prefix: str
) -> None:
    async with RedisRelay(redis_server.host, redis_server.port) as relay:
        bus = RedisBus(relay.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.1))
        told: list[str] = []

        async def on_loss(reason: str) -> None:
            told.append(reason)

        await bus.start()
        bus.add_data_loss_listener(on_loss)
        try:
            stream = bus.layout.exec("paper", "main")
            assert await bus.publish(fill_event(0))
            await asyncio.sleep(0.35)  # the watcher has looked at the stream
            # Redis runs the next XADD at once; its reply reaches the desk 0.5 s later,
            # after a watcher pass whose XINFO already counted the entry.
            relay.delay_reply_on(stream.encode(), 0.5)
            assert await bus.publish(fill_event(1))
            assert relay.met == 1
            await asyncio.sleep(0.5)  # further watcher passes
            assert len(await bus.read(stream)) == 2  # nothing was lost
            assert (bus.stats.data_loss_detected, told) == (0, [])
        finally:
            await bus.close()
