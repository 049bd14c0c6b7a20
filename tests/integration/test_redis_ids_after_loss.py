"""Redis restarts and loses its data on a server whose clock is behind the ids the
desks read (a restart on another host, a failover with skew: entry ids are ms
timestamps). The new entries must still come after every reader's cursor: the bus
raises the ids of the streams it knew before anything is written, and a reader that
finds a stream below its cursor all the same says so and reads it again.

Every test starts its own `redis-server` (`RedisServer`) and kills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.bus import BusEntry, BusOptions, EventBus
from silvertine_tui.bus.base import parse_id
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import ConnectionState, OrderType, Side
from silvertine_tui.engine import Session
from silvertine_tui.events import HealthEvent
from tests.integration.test_paper_data_loss import order, paper, trade, written_back
from tests.support import fill_event
from tests.support.redis_server import RedisServer, command
from tests.support.session_child import SYMBOL, applied_all, settings, until

pytestmark = pytest.mark.redis

TIMEOUT = 15.0
AHEAD_MS = 3_600_000  # the old server's clock: an hour ahead of the new one's


def options(prefix: str, **overrides: Any) -> BusOptions:
    values: dict[str, Any] = {"prefix": prefix, "block_ms": 100, "epoch_check_s": 0.1}
    values.update(overrides)
    return BusOptions(**values)


@contextlib.asynccontextmanager
async def running_bus(url: str, opts: BusOptions) -> AsyncIterator[RedisBus]:
    bus = RedisBus(url, opts)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


def ahead(server: RedisServer, *streams: str) -> int:
    """Streams whose ids start an hour ahead (their server's clock was): returns it."""
    future = int(time.time() * 1000) + AHEAD_MS
    for stream in streams:
        command(server.host, server.port, "XADD", stream, f"{future}-0", "x", "y")
        command(server.host, server.port, "XDEL", stream, f"{future}-0")
    return future


class Tail:
    """A tail in a task, its entries kept."""

    def __init__(self, bus: EventBus, streams: dict[str, str]) -> None:
        self.entries: list[BusEntry] = []
        self._bus = bus
        self.task = asyncio.create_task(self._run(streams))

    async def _run(self, streams: dict[str, str]) -> None:
        async for entry in self._bus.tail(streams):
            self.entries.append(entry)

    async def until(self, check: Any) -> None:
        async with asyncio.timeout(TIMEOUT):
            while not check(self.entries):  # noqa: ASYNC110 - polled, bounded
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def bus_health(entries: list[BusEntry]) -> list[HealthEvent]:
    return [
        e.event for e in entries if isinstance(e.event, HealthEvent) and e.event.source == "bus"
    ]


@pytest.mark.parametrize("found_by", ["watcher", "reconnect"])
async def test_new_entries_come_after_the_readers_cursor_after_a_loss_on_a_clock_behind(
    found_by: str, key_prefix: str
) -> None:
    with RedisServer() as server:
        async with running_bus(server.url, options(key_prefix)) as bus:
            stream = bus.layout.exec("paper", "main")
            future = ahead(server, stream, bus.layout.health)
            before = fill_event(1)
            written = await bus.publish(before)
            assert written is not None
            assert parse_id(written)[0] >= future
            tail = Tail(bus, {stream: "0-0", bus.layout.health: "0-0"})
            try:
                await tail.until(lambda seen: [e.event for e in seen] == [before])
                await server.akill()
                during = fill_event(2)
                if found_by == "reconnect":  # a write fails: the reconnect loop finds it
                    assert await bus.publish(during) is None
                await server.arestart()  # empty, and its clock an hour behind those ids
                async with asyncio.timeout(TIMEOUT):
                    while not bus.stats.data_loss_detected:  # noqa: ASYNC110 - a counter
                        await asyncio.sleep(0.01)
                after = fill_event(3)
                await bus.publish(after)
                await bus.flush()
                expected = [before, during, after] if found_by == "reconnect" else [before, after]
                # The reader, whose cursor is an hour ahead of the new server's clock,
                # sees every new fill.
                await tail.until(
                    lambda seen: [e.event for e in seen if e.stream == stream] == expected
                )
                ids = [parse_id(e.id) for e in tail.entries if e.stream == stream]
                assert ids == sorted(ids)
                assert len(set(ids)) == len(ids)
                assert bus.stats.ids_raised >= 1
                # The loss is said, on the health stream the reader reads too.
                await tail.until(
                    lambda seen: any(
                        h.payload.state is ConnectionState.DEGRADED for h in bus_health(seen)
                    )
                )
            finally:
                await tail.stop()


async def test_a_watching_desk_that_reads_further_than_any_writer_says_so_and_reads_again(
    key_prefix: str,
) -> None:
    # A watching desk writes nothing: it cannot raise the ids. Here it alone had read
    # as far (the desk that wrote there is gone; a new one knows nothing of it): its
    # reader says the stream restarted below its cursor and reads it from the start.
    with RedisServer() as server:
        async with running_bus(server.url, options(key_prefix)) as writer:
            stream = writer.layout.exec("paper", "main")
            ahead(server, stream)
            before = fill_event(1)
            assert await writer.publish(before)
        async with running_bus(server.url, options(key_prefix, passive=True)) as watcher:
            tail = Tail(watcher, {stream: "0-0"})
            try:
                await tail.until(lambda seen: [e.event for e in seen] == [before])
                await server.akill()
                await server.arestart()
                async with running_bus(server.url, options(key_prefix)) as new_desk:
                    after = fill_event(2)
                    assert await new_desk.publish(after)
                    await tail.until(lambda seen: [e.event for e in seen] == [before, after])
                assert f"{stream} " in watcher.stats.last_error
                assert "below" in watcher.stats.last_error
            finally:
                await tail.stop()


async def test_a_desk_shows_the_fills_after_a_loss_on_a_server_clock_behind(
    key_prefix: str,
) -> None:
    # The reviewer's case: the paper desk re-seeds its journal after the loss, and
    # trades on; its engine, whose cursors are an hour ahead of the new server's
    # clock, must apply the re-seed and every later fill.
    with RedisServer() as server:
        prefix = key_prefix
        ahead(
            server,
            f"{prefix}:exec:paper:main",
            f"{prefix}:risk",
            f"{prefix}:health",
            f"{prefix}:md:paper",
        )
        session = Session(settings(server.url, prefix))
        await session.start()
        try:
            await trade(session)
            await paper(session).settle()
            await applied_all(session)
            engine = session.engine
            stream = session.bus.layout.exec("paper", "main")
            applied = engine.applied[stream]
            await server.akill()
            await server.arestart()
            await written_back(session)
            last = await session.bus.read_last(stream)
            assert parse_id(last[0].id) > parse_id(applied)
            await engine.submit(order(Side.BUY, OrderType.MARKET, "0.01"))
            await until(engine, lambda: engine.position("paper", "main", SYMBOL) == Decimal("0.02"))
            await applied_all(session)
            assert parse_id(engine.applied[stream]) > parse_id(applied)
        finally:
            await session.close()
