"""Redis restarted from an older RDB (its default persistence: the writes since the
last save are gone, the epoch key stays). The desk's next XADD goes, through redis-py's
silent reconnect, to the restarted server; the gap check compared the stream's end with
that new entry and found nothing missing. It now counts the desk's own XADDs: the
stream must have had at least what XINFO last showed plus those."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.bus import BusOptions
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import HealthEvent
from tests.support import fill_event
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis


async def test_a_restart_from_an_older_rdb_that_lost_journal_entries_is_reported(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        bus = RedisBus(server.url, BusOptions(prefix=key_prefix, block_ms=100, epoch_check_s=0.3))
        await bus.start()
        told: list[str] = []

        async def on_loss(reason: str) -> None:
            told.append(reason)

        bus.add_data_loss_listener(on_loss)
        try:
            stream = bus.layout.exec("paper", "main")
            kept = [fill_event(n) for n in range(5)]
            for event in kept:
                assert await bus.publish(event)
            await asyncio.sleep(0.8)  # the watcher has looked (entries-added noted)
            assert command(server.host, server.port, "SAVE").startswith(b"+OK")
            lost = [fill_event(n) for n in range(5, 10)]
            for event in lost:
                assert await bus.publish(event)  # journaled, acknowledged
            await server.akill()
            await server.arestart()  # loads the RDB: the 5 fills after SAVE are gone
            after = fill_event(10)
            entry = await bus.publish(after)  # the desk's next fill
            await asyncio.sleep(2.0)  # several watcher passes
            await bus.flush()

            journal = [e.event.event_id for e in await bus.read(stream)]  # type: ignore[union-attr]
            assert journal == [e.event_id for e in (*kept, after)]  # 5 fills lost
            health = [
                e.event
                for e in await bus.read(bus.layout.health)
                if isinstance(e.event, HealthEvent)
            ]
            said = [(h.payload.state, h.payload.message) for h in health]
            assert bus.stats.server_restarts == 1, said
            assert (bus.stats.data_loss_detected, told) != (0, []), (
                f"publish after restart -> {entry!r}; data_loss_detected="
                f"{bus.stats.data_loss_detected}; health said {said}"
            )
            assert any(state is ConnectionState.DEGRADED for state, _ in said), said
        finally:
            await bus.close()
