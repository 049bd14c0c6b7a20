"""The outage backlog against a real redis-server: an entry Redis refuses is
quarantined in the dead-letter stream (the rest are written once, in order, and the bus
reconnects), and an XADD whose reply was lost is not written a second time.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import ConnectionState, TradingState
from silvertine_tui.events import Risk, RiskAction, RiskEvent
from tests.integration.test_redis_bus import bus_health, ids_of, options, running_bus
from tests.support import fill_event
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer, command

pytestmark = pytest.mark.redis

TIMEOUT = 15.0


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    """A server of this test alone with an AOF: a key survives its restart."""
    with RedisServer(persistence=True) as srv:
        yield srv


async def wait_connected(bus: RedisBus) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not (bus.stats.connected and bus.stats.exec_buffered == 0):  # noqa: ASYNC110
            await asyncio.sleep(0.005)


# -- a refused entry does not block the backlog ---------------------------------------


async def test_an_entry_redis_refuses_goes_to_the_dead_letter_stream_and_the_rest_land_once(
    aof_server: RedisServer, key_prefix: str
) -> None:
    async with running_bus(aof_server.url, options(key_prefix)) as bus:
        good = bus.layout.exec("paper", "main")
        bad = bus.layout.exec("bad", "main")
        # A key of the wrong type where the `bad/main` journal should be.
        reply = command(aof_server.host, aof_server.port, "SET", bad, "not a stream")
        assert reply.startswith(b"+OK")
        before = [fill_event(n) for n in range(3)]
        for event in before:
            assert await bus.publish(event) is not None
        await aof_server.akill()
        outage = [fill_event(n) for n in range(3, 8)]
        refused = fill_event(100, source="bad/main")
        after = [fill_event(n) for n in range(8, 13)]
        for event in [*outage, refused, *after]:
            assert await bus.publish(event) is None  # buffered
        assert bus.stats.exec_buffered == 11
        await aof_server.arestart()
        await wait_connected(bus)
        await asyncio.sleep(0.3)  # a retry loop would rewrite entries meanwhile

        stored = ids_of(await bus.read(good))
        assert stored == [e.event_id for e in [*before, *outage, *after]]  # once, in order
        dead = await bus.dead_letters()
        assert len(dead) == 1
        assert dead[0].stream == bad
        assert dead[0].event_id == refused.event_id
        assert "WRONGTYPE" in dead[0].error
        assert dead[0].fields[b"id"] == refused.event_id.encode()
        assert bus.stats.dead_lettered == 1
        assert bus.stats.connected
        assert bus.stats.reconnects == 1
        health = bus_health(await bus.read(bus.layout.health))
        assert health[-1].payload.metrics["dead_lettered"] == 1
        assert health[-1].payload.state is ConnectionState.DEGRADED
        assert "dead-letter" in health[-1].payload.message
        assert "WRONGTYPE" in health[-1].payload.message


# -- a lost reply is not written twice -------------------------------------------------


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as srv:
        yield srv


async def test_an_xadd_whose_reply_was_lost_is_not_journaled_twice(
    server: RedisServer, key_prefix: str
) -> None:
    async with (
        RedisRelay(server.host, server.port) as proxy,
        # No watcher round trip may notice the cut first: the publish must.
        running_bus(proxy.url, options(key_prefix, epoch_check_s=60.0)) as bus,
    ):
        stream = bus.layout.exec("paper", "main")
        events = [fill_event(n) for n in range(6)]
        for event in events[:2]:
            assert await bus.publish(event) is not None
        proxy.cut = True
        # Executed by Redis, but the bus never hears back: it buffers the event.
        assert await bus.publish(events[2]) is None
        assert proxy.cuts >= 1
        for event in events[3:]:
            assert await bus.publish(event) is None
        proxy.cut = False
        await wait_connected(bus)
        stored = ids_of(await bus.read(stream))
        assert stored == [e.event_id for e in events]
        assert bus.stats.exec_buffered == 0
        assert bus.stats.duplicates_skipped == 1


async def test_what_the_backlog_wrote_is_said_waiting_until_the_desk_has_read_it_back(
    server: RedisServer, key_prefix: str
) -> None:
    """Once Redis took the backlog nothing waited, and until the desk's reader came to
    those entries its rows lacked them unsaid. `waiting(read_to)` gives them, with their
    entry ids, up to where the desk has read (the one whose reply was lost, found in its
    journal, as well)."""
    async with (
        RedisRelay(server.host, server.port) as proxy,
        running_bus(proxy.url, options(key_prefix, epoch_check_s=60.0)) as bus,
    ):
        stream = bus.layout.exec("paper", "main")
        events = [fill_event(n) for n in range(6)]
        for event in events[:2]:
            assert await bus.publish(event) is not None
        proxy.cut = True
        assert await bus.publish(events[2]) is None  # landed, its reply lost
        for event in events[3:]:
            assert await bus.publish(event) is None
        assert [w.entry_id for w in bus.waiting({})] == ["", "", "", ""]
        proxy.cut = False
        await wait_connected(bus)
        entries = await bus.read(stream)
        assert ids_of(entries) == [e.event_id for e in events]
        read_to = {stream: entries[1].id}  # the desk read the two before the outage
        back = bus.waiting(read_to)
        assert [(w.stream, w.entry_id) for w in back] == [(stream, e.id) for e in entries[2:]]
        assert [w.event.event_id for w in back] == [e.event_id for e in events[2:]]  # type: ignore[union-attr]
        assert [w.source for w in back] == ["paper/main"] * 4
        assert bus.waiting(read_to) is back  # the same while nothing moved
        assert bus.waiting() == ()  # not waiting in memory: Redis has them
        read_to[stream] = entries[3].id
        assert [w.entry_id for w in bus.waiting(read_to)] == [e.id for e in entries[4:]]
        read_to[stream] = entries[-1].id
        assert bus.waiting(read_to) == ()
        assert bus.waiting({}) == ()  # read back: forgotten


def risk(action: RiskAction, state: TradingState, message: str) -> RiskEvent:
    return RiskEvent.create("engine", Risk(action=action, trading_state=state, message=message))


@pytest.mark.parametrize("written_before", [True, False], ids=["after-own-entry", "first-write"])
async def test_a_lost_kill_behind_other_desks_entries_is_not_written_again(
    server: RedisServer, key_prefix: str, written_before: bool
) -> None:
    """The risk stream is every desk's. This desk's KILL lands but its reply is lost;
    another desk had written more risk entries since this desk's last one than the
    check for landed entries read (one page: 1,100 by default), and as many again
    after the KILL (the newest page, read when this desk had written none), then
    resumes. The KILL
    was written again after that RESUME: every desk read HALTED again (and cancelled
    its orders) and a restart came up HALTED. The check now reads to the stream's end
    (from this desk's last entry there, or from a little before the KILL's own time
    when it wrote none)."""
    pipeline = 50  # a page of 200 entries: the test writes more than one page
    async with (
        RedisRelay(server.host, server.port) as proxy,
        running_bus(
            proxy.url, options(key_prefix, epoch_check_s=60.0, pipeline_size=pipeline)
        ) as desk,
        running_bus(server.url, options(key_prefix, epoch_check_s=60.0)) as other,
    ):
        stream = desk.layout.risk
        if written_before:
            assert await desk.publish(risk(RiskAction.STATE, TradingState.ACTIVE, "A")) is not None
        for n in range(3 * (2 * pipeline + 100)):
            await other.publish(risk(RiskAction.REJECT, TradingState.ACTIVE, f"B {n}"))
        kill = risk(RiskAction.KILL, TradingState.HALTED, "kill switch by A")
        proxy.cut = True
        assert await desk.publish(kill) is None  # Redis ran it; the reply never came
        assert proxy.cuts >= 1
        for n in range(3 * (2 * pipeline + 100)):  # more than a page after it too
            await other.publish(risk(RiskAction.REJECT, TradingState.ACTIVE, f"B late {n}"))
        resume = risk(RiskAction.RESUME, TradingState.ACTIVE, "resume by B")
        assert await other.publish(resume) is not None
        proxy.cut = False
        await wait_connected(desk)
        ids = ids_of(await other.read(stream))
        assert ids.count(kill.event_id) == 1
        assert ids[-1] == resume.event_id  # the RESUME is the newest state: ACTIVE
        assert desk.stats.duplicates_skipped == 1


async def test_a_dead_letter_write_whose_reply_was_lost_is_kept_once(
    server: RedisServer, key_prefix: str
) -> None:
    async with (
        RedisRelay(server.host, server.port) as proxy,
        running_bus(proxy.url, options(key_prefix, epoch_check_s=60.0)) as bus,
    ):
        good = bus.layout.exec("paper", "main")
        bad = bus.layout.exec("bad", "main")
        assert command(server.host, server.port, "SET", bad, "x").startswith(b"+OK")
        refused = fill_event(100, source="bad/main")
        events = [fill_event(n) for n in range(3)]
        proxy.cut = True
        assert await bus.publish(events[0]) is None  # the outage starts (reply lost)
        assert await bus.publish(refused) is None
        for event in events[1:]:
            assert await bus.publish(event) is None
        # Back, but the connection drops again right as the refused entry is quarantined.
        proxy.cut_reply_on(bus.layout.dead_letter.encode())
        proxy.cut = False
        await wait_connected(bus)
        async with asyncio.timeout(TIMEOUT):
            while bus.stats.dead_lettered < 1:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
        assert not proxy.armed  # the dead-letter write did lose its reply
        assert ids_of(await bus.read(good)) == [e.event_id for e in events]
        assert [d.event_id for d in await bus.dead_letters()] == [refused.event_id]
        assert bus.stats.dead_lettered == 1


# -- a graceful restart under load journals every event once --------------------------


async def test_a_graceful_restart_under_load_journals_every_event_exactly_once(
    aof_server: RedisServer, key_prefix: str
) -> None:
    """SIGTERM while a producer publishes: what was in flight is either in the AOF (and
    found in the stream, not re-sent) or in the backlog (sent once)."""
    async with running_bus(aof_server.url, options(key_prefix)) as bus:
        stream = bus.layout.exec("paper", "main")
        published: list[str] = []
        buffered = 0
        stop = asyncio.Event()

        async def produce() -> None:
            nonlocal buffered
            n = 0
            while not stop.is_set():
                event = fill_event(n)
                n += 1
                if await bus.publish(event) is None:
                    buffered += 1
                published.append(event.event_id)
                await asyncio.sleep(0.0005)

        producer = asyncio.create_task(produce())
        try:
            async with asyncio.timeout(TIMEOUT):
                while len(published) < 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                assert aof_server.pid is not None
                os.kill(aof_server.pid, signal.SIGTERM)
                while aof_server.running:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                while buffered < 20:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                await aof_server.arestart()
                await wait_connected(bus)
                mark = len(published)
                while len(published) < mark + 100:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
        finally:
            stop.set()
            await producer
        await bus.flush()
        stored = ids_of(await bus.read(stream))
        assert stored == published
        assert bus.stats.data_loss_detected == 0
