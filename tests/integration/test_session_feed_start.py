"""Where the desk's feed starts each stream (`Session.feed_backlog`, `stream_end`) when
Redis is out of reach or refuses the key. The UI's log started a stream from now (`$`)
on any error: after an outage it missed what the backlog then wrote, silently."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.engine import Session
from tests.support import fill_event
from tests.support.redis_server import RedisServer, command
from tests.support.session_child import settings

pytestmark = pytest.mark.redis


async def _kill(server: RedisServer) -> None:
    await server.akill()


async def _failover(server: RedisServer) -> None:
    await asyncio.to_thread(server.turn_replica)


async def _failover_over(server: RedisServer) -> None:
    await asyncio.to_thread(server.turn_primary)


@pytest.mark.parametrize(
    ("fault", "mend"),
    [
        (_kill, RedisServer.arestart),
        # `MASTERDOWN` on every read: an outage too. Taken for a key Redis refuses, the
        # log started every journal from its first entry.
        (_failover, _failover_over),
    ],
    ids=["killed", "failover"],
)
async def test_the_feed_waits_for_redis_to_read_a_stream_s_backlog(
    key_prefix: str,
    fault: Callable[[RedisServer], Awaitable[None]],
    mend: Callable[[RedisServer], Awaitable[None]],
) -> None:
    with RedisServer(persistence=True) as server:
        bus = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=100))
        session = Session(settings(server.url, key_prefix), bus=bus)
        await bus.start()
        try:
            journal = bus.layout.exec("paper", "main")
            events = [fill_event(i) for i in range(3)]
            for event in events:
                await bus.publish(event)
            await fault(server)
            backlog = asyncio.create_task(session.feed_backlog(journal, 2))
            end = asyncio.create_task(session.stream_end(journal))
            await asyncio.sleep(0.5)
            assert not backlog.done()
            assert not end.done()
            await mend(server)
            newest = await asyncio.wait_for(backlog, 10)
            assert [e.event.event_id for e in newest] == [  # type: ignore[union-attr]
                events[2].event_id,
                events[1].event_id,
            ]
            assert await asyncio.wait_for(end, 10) == newest[0].id
        finally:
            await bus.close()


async def test_a_key_of_another_type_is_read_from_its_start(key_prefix: str) -> None:
    """Its key holds no stream: the feed's reader sets it aside and the bus says so; a
    stream made there later is new, all of it."""
    with RedisServer() as server:
        bus = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=100))
        session = Session(settings(server.url, key_prefix), bus=bus)
        await bus.start()
        try:
            signal = bus.layout.signal
            command(server.host, server.port, "SET", signal, "x")
            assert await session.feed_backlog(signal, 10) == []
            assert await session.stream_end(signal) == "0-0"
        finally:
            await bus.close()
