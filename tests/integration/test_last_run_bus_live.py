"""The bus reads LIVE again once a start that found the last desk run's journal lost is
done (`Session._bus_live_after_loss_said`), but only as the bus itself would say it:
a key the bus set aside as the desk started (the signal stream's key holding a hash,
not a stream, met by a reader: `RedisBus.with_unreadable`) keeps it DEGRADED, in the
bus's own words. Before, the session's LIVE ("bus ready ...") covered it for the
session (review H).

Real `redis-server`, restarted without persistence; nothing of ours is mocked."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from silvertine_tui.bus import BusEntry
from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.events import Health, HealthEvent
from tests.integration.test_last_run import leave, waiting_briefly
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


async def bus_said(session: Session) -> list[Health]:
    return [
        e.event.payload
        for e in await session.bus.read(session.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == "bus"
    ]


async def first_entry(entries: AsyncIterator[BusEntry]) -> object:
    return await anext(entries)


async def test_a_key_set_aside_during_the_start_is_not_covered_by_its_live(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        await leave(server, key_prefix, TradingState.ACTIVE)
        await server.akill()
        await server.arestart()  # no persistence: the journal and the epoch are gone
        signal = f"{key_prefix}:signal"
        client = aioredis.Redis.from_url(server.url)
        try:
            await client.hset(signal, mapping={"a": "b"})
        finally:
            await client.aclose()

        session = Session(waiting_briefly(server.url, key_prefix))
        await session.open()
        reader: asyncio.Task[object] | None = None
        try:
            # A reader of the desk's (the UI's feed does this as the desk starts) meets
            # the key: the bus sets it aside, DEGRADED in its own words.
            reader = asyncio.create_task(first_entry(session.bus.tail({signal: "0-0"})))
            await until(lambda: signal in session.bus.stats.unreadable, 10, "set aside")
            await asyncio.wait_for(session.start(), 30)
            assert [a for a in session.alerts if a.title == "Journal lost while no desk ran"]
            health = await bus_said(session)
            assert [h.state for h in health if "last desk run lost" in h.message] == [
                ConnectionState.DEGRADED
            ]
            last = health[-1]
            assert last.state is ConnectionState.DEGRADED, last
            assert signal in last.message, last
            assert "was found lost at start" in last.message, last
        finally:
            if reader is not None:  # (the bus says it aside while a reader holds it)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
            await session.close()
