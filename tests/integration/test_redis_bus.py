"""Redis-only behaviour: outages, restarts with and without persistence, the outage
buffer, connection errors, and the reader's timeouts.

Every test that kills a server starts its own (`RedisServer`), never the session's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any, cast

import pytest

from silvertine_tui.bus import (
    BusEntry,
    BusError,
    BusOptions,
    BusOverflowError,
    BusUnavailableError,
    EventBus,
    create_bus,
    redis_streams,
)
from silvertine_tui.bus.redis_streams import RedisBus, _unreadable_text
from silvertine_tui.domain import ConnectionState
from silvertine_tui.events import EventBase, HealthEvent
from tests.support import fill_event, quote_event, risk_event
from tests.support.redis_relay import RedisRelay
from tests.support.redis_server import RedisServer, command, free_port

pytestmark = pytest.mark.redis

TIMEOUT = 15.0


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


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of this test alone (no persistence): it may be killed."""
    with RedisServer() as srv:
        yield srv


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    """A server of this test alone with `--appendonly yes --appendfsync always`."""
    with RedisServer(persistence=True) as srv:
        yield srv


class Tail:
    """A tail in a task; `wait_until(predicate)` wakes on every delivered entry."""

    def __init__(self, bus: EventBus, streams: dict[str, str]) -> None:
        self.entries: list[BusEntry] = []
        self._grew = asyncio.Condition()
        self._bus = bus
        self.task = asyncio.create_task(self._run(streams))

    async def _run(self, streams: dict[str, str]) -> None:
        tail = cast(AsyncGenerator[BusEntry, None], self._bus.tail(streams))
        async with contextlib.aclosing(tail) as entries:
            async for entry in entries:
                self.entries.append(entry)
                async with self._grew:
                    self._grew.notify_all()

    async def wait_until(self, predicate: Any, timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout), self._grew:
            await self._grew.wait_for(lambda: predicate(self.entries) or self.task.done())
        if self.task.done():
            self.task.result()

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.wait({self.task}, timeout=5)
        assert self.task.done()


def ids_of(entries: list[BusEntry]) -> list[str]:
    return [e.event.event_id for e in entries]  # type: ignore[union-attr]


def first_occurrences(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def bus_health(entries: list[BusEntry]) -> list[HealthEvent]:
    return [
        e.event for e in entries if isinstance(e.event, HealthEvent) and e.event.source == "bus"
    ]


async def wait_for_condition(check: Any, timeout: float = TIMEOUT) -> None:
    """For state with no event to await (a bus counter): poll at 5 ms, bounded."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 - a counter has no event to await
            await asyncio.sleep(0.005)


# -- (1) kill -9 with AOF while a producer publishes ----------------------------------


async def test_kill_and_restart_with_aof_loses_no_execution_event(
    aof_server: RedisServer, key_prefix: str
) -> None:
    async with running_bus(aof_server.url, options(key_prefix)) as bus:
        stream = bus.layout.exec("paper", "main")
        tail = Tail(bus, {stream: "0-0"})
        published: list[str] = []
        outcome: list[str | None] = []
        warm, buffered, recovered, stop = (asyncio.Event() for _ in range(4))

        async def produce() -> None:
            n = 0
            while not stop.is_set():
                event = fill_event(n)
                n += 1
                entry_id = await bus.publish(event)
                published.append(event.event_id)
                outcome.append(entry_id)
                if len(published) >= 100:
                    warm.set()
                if entry_id is None and outcome.count(None) >= 30:
                    buffered.set()
                if buffered.is_set() and sum(1 for i in outcome[-100:] if i) == 100:
                    recovered.set()  # 100 direct writes in a row after the outage
                await asyncio.sleep(0.001)  # a broker's pace, so the outage spans events

        producer = asyncio.create_task(produce())
        try:
            async with asyncio.timeout(TIMEOUT):
                await warm.wait()
                await aof_server.akill()
                await buffered.wait()  # the bus took events while Redis was dead
                await aof_server.arestart()
                await recovered.wait()
        finally:
            stop.set()
            await producer
        await bus.flush()
        await tail.wait_until(lambda got: set(ids_of(got)) >= set(published))
        await tail.stop()

        stored = ids_of(await bus.read(stream))
        assert set(stored) == set(published)
        # Exactly publish order, none lost, none twice: the XADD in flight at the kill
        # (applied, its reply lost) is found in the stream and not re-sent.
        assert stored == published
        # The tailing reader got every event, in order.
        assert first_occurrences(ids_of(tail.entries)) == published

        assert outcome.count(None) >= 30
        # One outage, one reconnect: stale pooled sockets must not cause a second one.
        assert bus.stats.reconnects == 1
        assert bus.stats.server_restarts == 1
        assert bus.stats.data_loss_detected == 0  # AOF kept everything: no false alarm
        assert bus.stats.exec_overflow == 0
        assert bus.stats.exec_buffered == 0
        health = bus_health(await bus.read(bus.layout.health))
        restarts = [h for h in health if "server restart" in h.payload.message]
        assert restarts, [h.payload.message for h in health]
        assert restarts[-1].payload.state is ConnectionState.LIVE
        assert "no journaled data was lost" in restarts[-1].payload.message
        assert restarts[-1].payload.metrics["server_restarts"] == 1
        assert len([h for h in health if "restored" in h.payload.message]) == 1


# -- (2) restart without persistence: data loss is detected and reported -------------


async def test_restart_without_persistence_reports_data_loss(
    server: RedisServer, key_prefix: str
) -> None:
    async with running_bus(server.url, options(key_prefix)) as bus:
        stream = bus.layout.exec("paper", "main")
        reasons: list[str] = []
        told = asyncio.Event()

        async def on_loss(reason: str) -> None:
            reasons.append(reason)
            told.set()

        bus.add_data_loss_listener(on_loss)
        before = [fill_event(n) for n in range(20)]
        assert all([await bus.publish(e) for e in before])
        await server.akill()
        during = [fill_event(n) for n in range(20, 30)]
        assert [await bus.publish(e) for e in during] == [None] * 10  # buffered
        assert bus.stats.exec_buffered == 10
        await server.arestart()  # empty: everything before the kill is gone
        async with asyncio.timeout(TIMEOUT):
            await told.wait()
        await bus.flush()

        assert bus.stats.data_loss_detected == 1
        assert bus.stats.server_restarts == 1
        assert len(reasons) == 1
        assert "epoch" in reasons[0]
        assert stream in reasons[0]
        # The outage events are in the new stream, in order; the old ones are gone.
        assert [e.event for e in await bus.read(stream)] == during
        health = bus_health(await bus.read(bus.layout.health))
        degraded = [h for h in health if h.payload.state is ConnectionState.DEGRADED]
        assert len(degraded) == 1
        assert "lost data" in degraded[0].payload.message
        assert degraded[0].payload.metrics["data_loss_detected"] == 1
        # Then the bus says it is back.
        assert health[-1].payload.state is ConnectionState.LIVE
        assert "data was lost" in health[-1].payload.message


@pytest.mark.parametrize("persistence", [False, True], ids=["empty", "aof"])
async def test_a_restart_no_command_noticed_is_found_by_the_watcher(
    persistence: bool, key_prefix: str
) -> None:
    # redis-py silently reopens a socket the server closed: an idle bus may see no
    # error at all. The epoch/run_id/XINFO watcher must find the restart anyway, and
    # tell a restart that lost data from one that did not.
    with RedisServer(persistence=persistence) as server:
        async with running_bus(server.url, options(key_prefix)) as bus:
            told = asyncio.Event()

            async def on_loss(reason: str) -> None:
                told.set()

            bus.add_data_loss_listener(on_loss)
            before = fill_event(1)
            assert await bus.publish(before)
            await server.akill()
            await server.arestart()
            if persistence:  # the restart report is the bus's next write
                await wait_for_condition(lambda: bus.stats.published == 2)
            else:
                async with asyncio.timeout(TIMEOUT):
                    await told.wait()
            assert bus.stats.server_restarts == 1
            after = fill_event(2)
            await bus.publish(after)
            await bus.flush()
            journal = [e.event for e in await bus.read(bus.layout.exec("paper", "main"))]
            health = bus_health(await bus.read(bus.layout.health))
            degraded = [h for h in health if h.payload.state is ConnectionState.DEGRADED]
            if persistence:
                assert journal == [before, after]
                assert bus.stats.data_loss_detected == 0
                assert not told.is_set()
                assert degraded == []
                assert "no journaled data was lost" in health[-1].payload.message
            else:
                assert journal == [after]
                assert bus.stats.data_loss_detected == 1
                assert len(degraded) == 1
                # Its end is said once the resync is done: the Health pane shows the
                # last word, not the loss's DEGRADED for good.
                async with asyncio.timeout(TIMEOUT):
                    while not health or health[-1].payload.state is not ConnectionState.LIVE:
                        await asyncio.sleep(0.05)
                        health = bus_health(await bus.read(bus.layout.health))
                assert "data was lost" in health[-1].payload.message
                assert "resynced from the brokers" in health[-1].payload.message


# -- (3) the outage buffer is bounded, and says so ----------------------------------


async def test_outage_buffer_overflow_raises_and_keeps_what_it_buffered(
    aof_server: RedisServer, key_prefix: str
) -> None:
    async with running_bus(aof_server.url, options(key_prefix, exec_buffer=5)) as bus:
        stream = bus.layout.exec("paper", "main")
        before = [fill_event(n) for n in range(3)]
        assert all([await bus.publish(e) for e in before])
        await aof_server.akill()
        buffered = [fill_event(n) for n in range(3, 8)]
        assert [await bus.publish(e) for e in buffered] == [None] * 5
        refused = [fill_event(n) for n in range(8, 10)]
        for event in refused:
            with pytest.raises(BusOverflowError, match=r"buffer is full \(5 events\)") as err:
                await bus.publish(event)
            assert "not journaled" in str(err.value)
            assert bus.url in str(err.value)
        assert bus.stats.exec_overflow == 2
        assert bus.stats.exec_buffered == 5
        await aof_server.arestart()
        await bus.flush()
        stored = ids_of(await bus.read(stream))
        assert first_occurrences(stored) == [e.event_id for e in [*before, *buffered]]
        assert not {e.event_id for e in refused} & set(stored)
        assert bus.stats.exec_buffered == 0


async def test_a_redis_out_of_memory_is_an_outage_that_says_why(
    server: RedisServer, key_prefix: str
) -> None:
    """`maxmemory` reached (`OOM` on every write): a fill was refused "not journaled".
    Now events wait as in an outage, the overflow says what Redis answered, and the
    buffer is written once memory is freed."""
    async with running_bus(server.url, options(key_prefix, exec_buffer=3)) as bus:
        stream = bus.layout.exec("paper", "main")
        for args in (("maxmemory-policy", "noeviction"), ("maxmemory", "1")):
            await asyncio.to_thread(command, server.host, server.port, "CONFIG", "SET", *args)
        waiting = [fill_event(n) for n in range(3)]
        assert [await bus.publish(e) for e in waiting] == [None] * 3
        with pytest.raises(BusOverflowError, match=r"takes no write \(OutOfMemoryError") as err:
            await bus.publish(fill_event(3))
        assert "not journaled" in str(err.value)
        await asyncio.sleep(0.5)  # the reconnect loop meets OOM meanwhile
        assert bus.stats.exec_buffered == 3
        assert bus.stats.dead_lettered == 0
        await asyncio.to_thread(
            command, server.host, server.port, "CONFIG", "SET", "maxmemory", "0"
        )
        await bus.flush()
        assert ids_of(await bus.read(stream)) == [e.event_id for e in waiting]


async def test_a_buffered_publish_lets_other_tasks_run(
    server: RedisServer, key_prefix: str
) -> None:
    # Buffering needs no I/O; without a yield, a producer looping on publish during an
    # outage would starve the reconnect loop and everything else until it overflowed.
    async with running_bus(server.url, options(key_prefix)) as bus:
        await server.akill()
        assert await bus.publish(fill_event(0)) is None  # the bus now knows it is down
        ran = asyncio.Event()

        async def other() -> None:
            ran.set()

        task = asyncio.create_task(other())
        for n in range(1, 20):
            assert await bus.publish(fill_event(n)) is None
        assert ran.is_set()
        await task
        assert bus.stats.exec_buffered == 20
        await server.arestart()
        await bus.flush()
        assert len(await bus.read(bus.layout.exec("paper", "main"))) == 20


async def test_publish_now_never_keeps_an_event_for_later(
    server: RedisServer, key_prefix: str
) -> None:
    """Down, out of memory, or with events still waiting: publish_now raises and keeps
    nothing, so nothing it was asked to write lands whenever Redis is back."""
    async with running_bus(server.url, options(key_prefix)) as bus:
        risk = bus.layout.risk
        for args in (("maxmemory-policy", "noeviction"), ("maxmemory", "1")):
            await asyncio.to_thread(command, server.host, server.port, "CONFIG", "SET", *args)
        with pytest.raises(BusUnavailableError, match=r"takes no write now \(OutOfMemory"):
            await bus.publish_now(risk_event())
        assert bus.stats.exec_buffered == 0
        await asyncio.to_thread(
            command, server.host, server.port, "CONFIG", "SET", "maxmemory", "0"
        )
        await server.akill()
        assert await bus.publish(fill_event(0)) is None  # one waits to be written
        # (beside it, maybe, the bus's own health event saying Redis is lost)
        waiting = bus.stats.exec_buffered
        assert waiting >= 1
        with pytest.raises(BusUnavailableError, match="is unreachable"):
            await bus.publish_now(risk_event())
        assert bus.stats.exec_buffered == waiting
        await server.arestart()
        await bus.flush()
        assert await bus.read(risk) == []
        assert await bus.publish_now(risk_event())


# -- (4) nothing listening: a clear error, no secret ----------------------------------


async def test_start_with_nothing_listening_says_what_to_do_without_the_password() -> None:
    port = free_port()
    for url, password in (
        (f"redis://:sekret-pass@127.0.0.1:{port}/0", None),
        (f"redis://127.0.0.1:{port}/0?password=sekret-pass", None),
        (f"redis://127.0.0.1:{port}/0", "sekret-pass"),
    ):
        bus = create_bus(url, password=password)
        with pytest.raises(BusUnavailableError) as err:
            async with asyncio.timeout(TIMEOUT):
                await bus.start()
        message = str(err.value)
        assert f"127.0.0.1:{port}" in message
        assert "redis-server" in message  # what to do
        assert "bus.url" in message
        for text in (message, repr(err.value), str(bus.stats.as_metrics())):
            assert "sekret-pass" not in text
        assert err.value.__cause__ is None
        assert err.value.__suppress_context__  # the driver's exception is not chained
        await bus.close()


async def test_wrong_password_is_named_as_such_and_not_shown(key_prefix: str) -> None:
    with RedisServer(password="right-pass") as srv:
        bus = create_bus(f"redis://:wrong-pass@127.0.0.1:{srv.port}/0", options(key_prefix))
        with pytest.raises(BusUnavailableError, match="credentials") as err:
            await bus.start()
        assert "wrong-pass" not in str(err.value)
        assert "right-pass" not in str(err.value)
        await bus.close()


# -- (5) a reader survives a restart ---------------------------------------------------


async def test_tail_keeps_yielding_after_a_restart(server: RedisServer, key_prefix: str) -> None:
    async with running_bus(server.url, options(key_prefix)) as bus:
        stream = bus.layout.exec("paper", "main")
        tail = Tail(bus, {stream: "0-0"})
        first = [fill_event(n) for n in range(5)]
        await bus.publish_many(first)
        await tail.wait_until(lambda got: len(got) == 5)
        await server.akill()
        await wait_for_condition(lambda: bus.stats.read_errors > 0)  # the reader saw it
        await server.arestart()
        second = [fill_event(n) for n in range(5, 10)]
        await bus.publish_many(second)
        await bus.flush()
        await tail.wait_until(lambda got: len(got) >= 10)
        assert [e.event for e in tail.entries] == first + second
        assert not tail.task.done()  # still tailing
        await tail.stop()


# -- (6) BLOCK and socket timeouts -----------------------------------------------------


@pytest.mark.parametrize("block_ms", [0, -5, 2001, 60_000])
def test_block_ms_outside_1_to_2000_is_refused(block_ms: int) -> None:
    with pytest.raises(ValueError, match="block_ms must be between 1 and 2000"):
        RedisBus("redis://127.0.0.1:1/0", BusOptions(block_ms=block_ms))


async def test_each_tail_has_its_own_reader_with_a_timeout_above_block(
    redis_server: RedisServer, key_prefix: str
) -> None:
    for block_ms in (1, 2000):
        RedisBus(redis_server.url, BusOptions(block_ms=block_ms))  # the bounds are allowed
    async with running_bus(redis_server.url, options(key_prefix, block_ms=2000)) as bus:
        stream = bus.layout.exec("paper", "main")
        tails = [Tail(bus, {stream: "0-0"}), Tail(bus, {stream: "0-0"})]
        await bus.publish(fill_event(1))
        for tail in tails:
            await tail.wait_until(lambda got: len(got) == 1)
        readers = bus.reader_clients
        assert len(readers) == 2  # one dedicated client per tail
        for reader in readers:
            kwargs = reader.connection_pool.connection_kwargs
            assert kwargs["socket_timeout"] > 2.0  # BLOCK 2 s returns before the socket gives up
            assert kwargs["retry"].get_retries() == 0  # no silent re-send of a command
            # Off, so that the pool drops sockets of a dead server (redis-py 8.1 skips
            # that check while maintenance notifications are on).
            assert not reader.connection_pool.maint_notifications_enabled()  # type: ignore[no-untyped-call]
        writer_kwargs = bus._writer.connection_pool.connection_kwargs
        assert writer_kwargs["retry"].get_retries() == 0
        assert not any(reader is bus._writer for reader in readers)
        for tail in tails:
            await tail.stop()
        assert bus.reader_clients == frozenset()


# -- market data during an outage -----------------------------------------------------


async def test_market_data_does_not_stall_the_producer_during_an_outage(
    server: RedisServer, key_prefix: str
) -> None:
    async with running_bus(server.url, options(key_prefix, md_max_pending=10)) as bus:
        await server.akill()
        quotes: list[EventBase] = [quote_event(f"S{n}.X", bid=str(n)) for n in range(100)]
        async with asyncio.timeout(5):  # before the fix this waited for Redis to return
            for event in quotes:
                await bus.publish(event)
        assert bus.stats.md_dropped >= 1
        await server.arestart()
        await bus.flush()
        stored = await bus.read(bus.layout.md("binance"))
        assert stored[-1].event == quotes[-1]  # the newest survives
        # Every quote was either written or counted as dropped: nothing vanished.
        assert len(stored) + bus.stats.md_dropped == len(quotes)
        assert bus.stats.published_md == len(stored)


async def test_replay_reads_one_page_ahead_and_leaves_nothing_behind_when_stopped(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """Replay requests the next page while the consumer works through this one; a
    consumer that stops early leaves no request running, and the next replay reads
    every entry, in order, from the same reader."""
    async with running_bus(redis_server.url, options(key_prefix)) as bus:
        stream = bus.layout.exec("paper", "main")
        published = [fill_event(n) for n in range(23)]
        ids = [await bus.publish(event) for event in published]
        before = asyncio.all_tasks()
        replay = cast(AsyncGenerator[BusEntry, None], bus.replay(stream, batch=5))
        async with contextlib.aclosing(replay) as entries:
            first = await anext(entries)
            # The first page is in hand: the request for the second one is out already.
            ahead = asyncio.all_tasks() - before
            assert len(ahead) == 1
            assert first.event == published[0]
        await asyncio.sleep(0.05)
        assert all(task.done() for task in ahead)
        assert asyncio.all_tasks() == before
        replayed = [entry async for entry in bus.replay(stream, batch=5)]
        assert [e.id for e in replayed] == ids
        assert [e.event for e in replayed] == published
        # A last page that is exactly full asks once more and finds nothing.
        assert len([e async for e in bus.replay(stream, after=ids[2] or "", batch=5)]) == 20


async def test_replay_while_redis_is_down_says_so(server: RedisServer, key_prefix: str) -> None:
    async with running_bus(server.url, options(key_prefix)) as bus:
        stream = bus.layout.exec("paper", "main")
        for n in range(12):
            await bus.publish(fill_event(n))
        replay = cast(AsyncGenerator[BusEntry, None], bus.replay(stream, batch=5))
        async with contextlib.aclosing(replay) as entries:
            await anext(entries)
            server.kill()
            with pytest.raises(BusUnavailableError, match="replaying"):
                async for _ in entries:
                    pass


# -- a stream's key holding another type ---------------------------------------------


async def test_a_key_of_another_type_is_set_aside_and_the_rest_read_on(
    server: RedisServer, key_prefix: str
) -> None:
    """A program SET a stream's name: XREAD of all the reader's streams was refused
    (`WRONGTYPE`) and the tail ended. Now that stream is set aside and said once, the
    others are read on, and it is read again once it is a stream again."""
    opts = options(key_prefix, unreadable_recheck_s=0.1)
    async with running_bus(server.url, opts) as bus:
        journal = bus.layout.exec("paper", "main")
        signal = bus.layout.signal
        await asyncio.to_thread(command, server.host, server.port, "SET", signal, "x")
        tail = Tail(bus, {journal: "0-0", signal: "0-0", bus.layout.health: "0-0"})
        first, second_fill = fill_event(1), fill_event(2)
        await bus.publish(first)
        await tail.wait_until(lambda got: first in [e.event for e in got])
        await tail.wait_until(lambda got: bus_health(got))
        [said] = bus_health(tail.entries)
        assert said.payload.state is ConnectionState.DEGRADED
        assert f"{signal} holds a string, not a stream" in said.payload.message
        assert said.payload.metrics["unreadable"] == f"{signal} (a string)"
        assert bus.stats.unreadable == f"{signal} (a string)"
        # A second reader meeting it says nothing more.
        second = Tail(bus, {signal: "$"})
        await bus.publish(second_fill)
        await tail.wait_until(lambda got: second_fill in [e.event for e in got])
        assert len(bus_health(tail.entries)) == 1
        assert not second.task.done()

        await asyncio.to_thread(command, server.host, server.port, "DEL", signal)
        await tail.wait_until(lambda got: len(bus_health(got)) == 2)
        again = bus_health(tail.entries)[-1]
        assert again.payload.state is ConnectionState.LIVE
        assert f"{signal} is a stream again" in again.payload.message
        assert bus.stats.unreadable == ""
        assert not tail.task.done()
        await tail.stop()
        await second.stop()


async def test_reading_a_key_of_another_type_names_it_and_what_to_do(
    server: RedisServer, key_prefix: str
) -> None:
    """At start a desk reads its journals: a refusal was a bare `ResponseError:
    WRONGTYPE ...` that named no key."""
    async with running_bus(server.url, options(key_prefix)) as bus:
        journal = bus.layout.exec("paper", "main")
        await asyncio.to_thread(command, server.host, server.port, "SET", journal, "x")
        expected = rf"{journal} holds another type than a stream.*DEL {journal}"
        with pytest.raises(BusError, match=expected):
            await bus.read(journal)
        with pytest.raises(BusError, match=expected):
            await bus.read_last(journal)
        with pytest.raises(BusError, match=expected):
            async for _ in bus.replay(journal):
                pass


async def test_a_journal_of_another_type_ends_the_reader_naming_it(
    server: RedisServer, key_prefix: str
) -> None:
    """A journal is what the desk trades on: not set aside. The reader ends with the key
    named (the session then stops the desk: tests/integration/test_desk_stopped.py)."""
    async with running_bus(server.url, options(key_prefix)) as bus:
        journal = bus.layout.exec("paper", "main")
        await bus.publish(fill_event(1))
        tail = Tail(bus, {journal: "0-0", bus.layout.signal: "0-0"})
        await tail.wait_until(lambda got: len(got) == 1)
        await asyncio.to_thread(command, server.host, server.port, "DEL", journal)
        await asyncio.to_thread(command, server.host, server.port, "SET", journal, "x")
        await asyncio.wait({tail.task}, timeout=TIMEOUT)
        with pytest.raises(BusError, match=rf"{journal} holds a string.*DEL {journal}"):
            tail.task.result()


@pytest.mark.parametrize(
    ("taken", "said"),
    [
        # An ACL taking XREAD away: a reader retrying it for ever would leave the desk
        # trading on a journal it no longer reads.
        ("-xread", r"refused reading {journal} .*no permissions.*ACL GETUSER"),
        # XREAD refused `WRONGTYPE` (the journal SET) and TYPE refused too: which key is
        # not a stream, a journal maybe, cannot be known. The reader retried for ever
        # with no word, the desk trading on a journal it no longer read.
        ("-type", r"asking which key is not a stream.*XREAD and TYPE"),
    ],
    ids=["xread-taken", "type-taken-then-wrongtype"],
)
async def test_reads_refused_for_good_end_the_reader_saying_what_to_check(
    server: RedisServer, key_prefix: str, taken: str, said: str
) -> None:
    async with running_bus(server.url, options(key_prefix)) as bus:
        journal = bus.layout.exec("paper", "main")
        await bus.publish(fill_event(1))
        tail = Tail(bus, {journal: "0-0"})
        await tail.wait_until(lambda got: len(got) == 1)
        reply = await asyncio.to_thread(
            command, server.host, server.port, "ACL", "SETUSER", "default", taken
        )
        assert reply.startswith(b"+OK")
        if taken == "-type":
            for args in (("DEL", journal), ("SET", journal, "x")):
                await asyncio.to_thread(command, server.host, server.port, *args)
        await asyncio.wait({tail.task}, timeout=TIMEOUT)
        with pytest.raises(BusError, match=said.format(journal=journal)):
            tail.task.result()


# -- a failover: the server turns replica, then primary again -------------------------


async def test_a_failover_neither_ends_a_reader_nor_loses_a_write(
    server: RedisServer, key_prefix: str
) -> None:
    """During a failover Redis answers `UNBLOCKED`, `MASTERDOWN` and `READONLY`: refusals
    that pass by themselves. The reader ended on them (the desk stopped) and a fill
    published meanwhile raised `BusError` ("it was not journaled"). Now the reader waits
    and the write waits in the outage backlog, journaled once the server takes writes."""
    async with running_bus(server.url, options(key_prefix)) as bus:
        journal = bus.layout.exec("paper", "main")
        tail = Tail(bus, {journal: "0-0"})
        first, second = fill_event(1), fill_event(2)
        await bus.publish(first)
        await tail.wait_until(lambda got: len(got) == 1)
        await asyncio.to_thread(server.turn_replica)
        await asyncio.sleep(0.3)  # the blocked XREAD answered UNBLOCKED, then MASTERDOWN
        assert await bus.publish(second) is None  # READONLY: it waits, it is not lost
        assert not bus.stats.connected
        assert "ReadOnlyError" in bus.stats.last_error
        await asyncio.sleep(0.5)
        assert not tail.task.done()
        assert bus.stats.exec_buffered == 1

        await asyncio.to_thread(server.turn_primary)
        await tail.wait_until(lambda got: len(got) == 2)
        assert ids_of(tail.entries) == [first.event_id, second.event_id]
        await wait_for_condition(lambda: bus.stats.connected)
        assert bus.stats.exec_buffered == 0
        assert bus.stats.dead_lettered == 0
        assert await bus.dead_letters() == []
        await tail.stop()


async def test_a_backlog_refused_readonly_is_retried_not_dead_lettered(
    server: RedisServer, key_prefix: str
) -> None:
    """The backlog is written once Redis answers PING; a replica serving stale data
    answers it and refuses the writes `READONLY` (as `OOM` would). That was taken for a
    refusal for good: every event went to the dead-letter stream. Now it is retried."""
    async with running_bus(server.url, options(key_prefix)) as bus:
        journal = bus.layout.exec("paper", "main")
        events = [fill_event(i) for i in range(3)]
        await asyncio.to_thread(server.turn_replica, serve_stale=True)
        for event in events:
            assert await bus.publish(event) is None
        await asyncio.sleep(1.0)  # the reconnect loop tried the backlog meanwhile
        assert bus.stats.exec_buffered == 3
        assert bus.stats.dead_lettered == 0
        await asyncio.to_thread(server.turn_primary)
        await wait_for_condition(lambda: bus.stats.connected)
        written = [e.event.event_id for e in await bus.read(journal)]  # type: ignore[union-attr]
        assert written == [e.event_id for e in events]
        assert bus.stats.dead_lettered == 0


async def signal_set_aside(server: RedisServer, bus: RedisBus, start: str) -> Tail:
    """The signal stream's key SET to a string and tailed from `start`, with the health
    stream: returned once the bus has said it set the key aside."""
    signal = bus.layout.signal
    await asyncio.to_thread(command, server.host, server.port, "SET", signal, "x")
    tail = Tail(bus, {signal: start, bus.layout.health: "0-0"})
    await tail.wait_until(lambda got: bus_health(got))
    return tail


async def test_a_restart_found_by_the_watcher_says_a_key_still_set_aside(
    key_prefix: str,
) -> None:
    """The watcher's "Redis server restarted ...; no journaled data was lost" (a restart
    no command noticed) says DEGRADED and names a key still set aside, as the
    reconnect's "Redis connection restored" does: LIVE, it read as all being well."""
    with RedisServer(persistence=True) as server:
        async with running_bus(server.url, options(key_prefix)) as bus:
            tail = await signal_set_aside(server, bus, "$")
            await server.akill()
            await server.arestart()  # AOF: the string is still there

            def restart_said(got: list[BusEntry]) -> bool:
                return any("Redis server restarted" in h.payload.message for h in bus_health(got))

            await tail.wait_until(restart_said)
            assert bus.stats.reconnects == 0  # found by the watcher, not a reconnect
            [said] = [h for h in bus_health(tail.entries) if "restarted" in h.payload.message]
            assert said.payload.state is ConnectionState.DEGRADED
            assert "no journaled data was lost" in said.payload.message
            assert f"not read, not a stream: {bus.layout.signal} (a string)" in said.payload.message
            await tail.stop()


async def test_a_stream_set_aside_is_read_from_its_first_entry_once_a_stream_again(
    server: RedisServer, key_prefix: str
) -> None:
    """A key set aside held no stream meanwhile, so a stream there now is all new. It
    was read on from the reader's old cursor: from `$` (a tail of what comes next) the
    entries written before the reader looked again were skipped."""
    opts = options(key_prefix, unreadable_recheck_s=0.5)
    async with running_bus(server.url, opts) as bus:
        signal = bus.layout.signal
        tail = await signal_set_aside(server, bus, "$")
        # Made a stream again, and written to, before the reader looks again.
        await asyncio.to_thread(command, server.host, server.port, "DEL", signal)
        await asyncio.to_thread(
            command, server.host, server.port, "XADD", signal, "1-1", "not", "an event"
        )
        await tail.wait_until(lambda got: any(e.stream == signal for e in got))
        [entry] = [e for e in tail.entries if e.stream == signal]
        assert entry.id == "1-1"  # below any cursor a reader had: ids of its own
        await tail.stop()


async def test_a_key_that_is_a_stream_again_before_the_reader_looks_is_read_on(
    server: RedisServer, key_prefix: str
) -> None:
    """XREAD refused (`WRONGTYPE`) and the key deleted before the reader asked its
    type: nothing to set aside. The reader ended as for a refusal for good ("check
    ACL GETUSER"); now it reads again. The relay deletes the key just before the
    reader's TYPE reaches the server."""
    signal = f"{key_prefix}:signal"

    def deleted_now() -> None:
        command(server.host, server.port, "DEL", signal)

    async with (
        RedisRelay(server.host, server.port) as relay,
        running_bus(relay.url, options(key_prefix)) as bus,
    ):
        relay.before(b"TYPE", deleted_now)
        journal = bus.layout.exec("paper", "main")
        assert bus.layout.signal == signal
        await asyncio.to_thread(command, server.host, server.port, "SET", signal, "x")
        tail = Tail(bus, {journal: "0-0", signal: "0-0"})
        await wait_for_condition(lambda: relay.met == 1)
        first = fill_event(1)
        await bus.publish(first)
        await tail.wait_until(lambda got: first in [e.event for e in got])
        assert bus.stats.unreadable == ""  # never set aside: it was a stream again
        await tail.stop()


async def test_a_key_set_aside_by_a_reader_that_ended_is_not_listed_unread(
    server: RedisServer, key_prefix: str
) -> None:
    """Health's `not read, not a stream` line stayed after the only reader that set the
    key aside had ended: nothing reads it, so nothing can say when it is a stream."""
    opts = options(key_prefix, unreadable_recheck_s=60)
    async with running_bus(server.url, opts) as bus:
        signal = bus.layout.signal
        await asyncio.to_thread(command, server.host, server.port, "SET", signal, "x")
        first, second = Tail(bus, {signal: "0-0"}), Tail(bus, {signal: "0-0"})
        await wait_for_condition(lambda: bus.stats.unreadable == f"{signal} (a string)")
        # Each reader's refused XREAD counts, and the key said once; both set it aside
        # (a reader's XREAD counted, it sets the key aside only once TYPE answered).
        await wait_for_condition(lambda: bus.stats.read_errors >= 3)
        await wait_for_condition(lambda: bus._parking[signal] == 2)
        await first.stop()
        assert bus.stats.unreadable == f"{signal} (a string)"  # the other still has it
        await second.stop()
        assert bus.stats.unreadable == ""


async def test_redis_back_with_a_key_still_set_aside_is_not_said_live(
    server: RedisServer, key_prefix: str
) -> None:
    """The "Redis connection restored" health message said LIVE while a key was still
    set aside: Health showed the bus well and the key's line under it."""
    opts = options(key_prefix, unreadable_recheck_s=60)
    async with running_bus(server.url, opts) as bus:
        signal = bus.layout.signal
        tail = await signal_set_aside(server, bus, "0-0")
        await server.akill()
        with contextlib.suppress(BusError):
            await bus.publish(fill_event(1))  # finds the outage
        await server.arestart()
        await asyncio.to_thread(command, server.host, server.port, "SET", signal, "x")

        def back(got: list[BusEntry]) -> list[HealthEvent]:
            """What the bus said once Redis was back: its connection restored, and the
            end of the data loss the restart was (in either order)."""
            return [
                h
                for h in bus_health(got)
                if "restored" in h.payload.message or "resynced" in h.payload.message
            ]

        await tail.wait_until(lambda got: len(back(got)) >= 2)
        for said in back(tail.entries):
            assert said.payload.state is ConnectionState.DEGRADED
            assert f"not read, not a stream: {signal} (a string)" in said.payload.message
        await tail.stop()


def test_the_unreadable_metric_names_five_keys_and_counts_the_rest() -> None:
    keys = {f"k{i}": "string" for i in range(7)}
    assert _unreadable_text(keys) == (
        "k0 (a string); k1 (a string); k2 (a string); k3 (a string); k4 (a string); and 2 more"
    )


async def test_a_snapshot_floor_set_during_a_failover_does_not_fail_the_snapshot(
    server: RedisServer, key_prefix: str
) -> None:
    """Setting the floor trims at once; a replica refused it `READONLY` and the raw
    redis-py error reached the snapshot's writer. Now the floor is kept: the bus's
    watcher trims behind it once Redis takes writes."""
    async with running_bus(server.url, options(key_prefix)) as bus:
        journal = bus.layout.exec("paper", "main")
        entry_id = await bus.publish(fill_event(1))
        assert entry_id is not None
        await asyncio.to_thread(server.turn_replica, serve_stale=True)
        await bus.set_snapshot_floor(journal, entry_id)  # raises nothing


async def test_market_data_refused_on_write_is_logged_once_a_while_and_every_one_counted(
    server: RedisServer,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A market-data key of another type refuses every quote: one line per batch was
    hundreds a second. At most one line a period (`MD_REFUSED_LOG_EVERY_S`, shortened
    here) with a count, also while batches of a good stream alternate with refused ones;
    once they go through, the refusals since the last line are said (they were lost
    from the count before)."""
    period = 0.3
    monkeypatch.setattr(redis_streams, "MD_REFUSED_LOG_EVERY_S", period)
    async with running_bus(server.url, options(key_prefix, md_flush_interval_ms=0)) as bus:
        bad, good = bus.layout.md("binance"), bus.layout.md("ib")
        await asyncio.to_thread(command, server.host, server.port, "SET", bad, "x")
        loop = asyncio.get_running_loop()
        with caplog.at_level("WARNING", logger=redis_streams.__name__):
            started = loop.time()
            for round_ in range(200):
                await bus.publish(quote_event(f"S{round_ % 5}.BINANCE", str(100 + round_)))
                await bus.flush()
                await bus.publish(quote_event("AAPL.IB", str(100 + round_), source="ib"))
                await bus.flush()
            elapsed = loop.time() - started
            # One more refusal that cannot be said yet (the loop's last refusal may have
            # been said on the dot, leaving none): it is said once a write goes through.
            monkeypatch.setattr(redis_streams, "MD_REFUSED_LOG_EVERY_S", 60.0)
            await bus.publish(quote_event("S0.BINANCE", "499"))
            await bus.flush()
            monkeypatch.setattr(redis_streams, "MD_REFUSED_LOG_EVERY_S", period)
            await asyncio.to_thread(command, server.host, server.port, "DEL", bad)
            await asyncio.sleep(period)
            await bus.publish(quote_event("S0.BINANCE", "500"))
            await bus.flush()
        lines = [r for r in caplog.records if r.msg.startswith("bus.redis.md_refused")]
        assert 2 <= len(lines) <= elapsed / period + 3  # not one per batch (400 of them)
        assert lines[0].msg == "bus.redis.md_refused"
        assert lines[-1].msg == "bus.redis.md_refused_since"
        assert sum(r.refused for r in lines) == bus.stats.md_dropped == 201  # type: ignore[attr-defined]
        assert len(await bus.read(bad)) == 1
        assert len(await bus.read(good)) == 200


async def test_a_connection_lost_while_a_reader_asks_the_types_is_retried(
    server: RedisServer, key_prefix: str
) -> None:
    """After a refused XREAD the reader asks each key's `TYPE`. A connection lost right
    then was taken for Redis refusing to say: the reader ended ("check ACL GETUSER")
    and the desk stopped. Now it is retried as for a read, and the key is set aside."""
    async with (
        RedisRelay(server.host, server.port) as relay,
        running_bus(relay.url, options(key_prefix)) as bus,
    ):
        relay.cut_request_on(b"TYPE")
        journal, signal = bus.layout.exec("paper", "main"), bus.layout.signal
        await asyncio.to_thread(command, server.host, server.port, "SET", signal, "x")
        tail = Tail(bus, {journal: "0-0", signal: "0-0"})
        first = fill_event(1)
        await bus.publish(first)
        await tail.wait_until(lambda got: first in [e.event for e in got])
        assert relay.cuts == 1
        assert bus.stats.unreadable == f"{signal} (a string)"
        await tail.stop()


async def test_a_dead_letter_refused_during_a_failover_is_kept_until_written(
    server: RedisServer, key_prefix: str
) -> None:
    """An event refused for good (its journal's key is a string) goes to the
    dead-letter stream. That write refused `READONLY` (a failover right then) dropped
    it: in neither stream, yet counted as dead-lettered. Now it waits, as the backlog
    does, and is written once Redis takes writes."""
    dead_letter = f"{key_prefix}:deadletter"

    def failover_now() -> None:  # the dead-letter write was on its way: cut, then this
        server.turn_replica(serve_stale=True)

    async with (
        RedisRelay(server.host, server.port) as relay,
        running_bus(relay.url, options(key_prefix)) as bus,
    ):
        relay.cut_request_on(dead_letter.encode(), then=failover_now)
        refused = fill_event(1, source="bad/main")
        await asyncio.to_thread(
            command, server.host, server.port, "SET", bus.layout.exec("bad", "main"), "x"
        )
        await asyncio.to_thread(server.turn_replica, serve_stale=True)
        assert await bus.publish(refused) is None  # READONLY: it waits
        await asyncio.to_thread(server.turn_primary)
        # XADD refused WRONGTYPE, its dead letter cut and the server a replica again.
        await wait_for_condition(lambda: relay.cuts == 1)
        await asyncio.sleep(1.0)  # the reconnect loop meets READONLY meanwhile
        assert bus.stats.dead_lettered == 0
        await asyncio.to_thread(server.turn_primary)
        await wait_for_condition(lambda: bus.stats.connected)
        assert [d.event_id for d in await bus.dead_letters()] == [refused.event_id]
        assert bus.stats.dead_lettered == 1


async def test_a_watching_desk_s_bus_is_down_through_a_failover(
    server: RedisServer, key_prefix: str
) -> None:
    """A passive bus (`silvertine watch`) writes nothing, and INFO (its watcher's one
    command) is answered by a replica without a primary: a failover was not found, the
    watching desk told nothing while its readers met `MASTERDOWN`. Its reader finds it
    now: the bus is down until the server is primary again, and read on."""
    async with (
        running_bus(server.url, options(key_prefix)) as writer,
        running_bus(server.url, options(key_prefix, passive=True)) as watcher,
    ):
        journal = writer.layout.exec("paper", "main")
        tail = Tail(watcher, {journal: "0-0"})
        await writer.publish(fill_event(1))
        await tail.wait_until(lambda got: len(got) == 1)
        await asyncio.to_thread(server.turn_replica)
        await wait_for_condition(lambda: not watcher.stats.connected)
        assert watcher.stats.last_error.startswith(("MasterDownError", "ResponseError: UNBLOCKED"))
        assert not watcher.stats.writes_refused  # it writes nothing: reads were refused
        assert watcher.stats.write_errors == 0
        await asyncio.to_thread(server.turn_primary)
        await wait_for_condition(lambda: watcher.stats.connected)
        await writer.flush()
        await writer.publish(fill_event(2))
        await tail.wait_until(lambda got: len(got) == 2)
        await tail.stop()


def failover_and_back(server: RedisServer) -> tuple[object, object]:
    return (lambda: server.turn_replica(serve_stale=True), server.turn_primary)


def out_of_memory_and_back(server: RedisServer) -> tuple[object, object]:
    def full() -> None:
        for args in (("maxmemory-policy", "noeviction"), ("maxmemory", "1")):
            command(server.host, server.port, "CONFIG", "SET", *args)

    return (full, lambda: command(server.host, server.port, "CONFIG", "SET", "maxmemory", "0"))


@pytest.mark.parametrize("refusal", [failover_and_back, out_of_memory_and_back])
async def test_market_data_refused_by_a_redis_taking_no_write_is_an_outage(
    server: RedisServer, key_prefix: str, refusal: Any
) -> None:
    """A desk writing only market data (its brokers' heartbeats and orders go through
    the outage backlog, which says the bus is down) had each quote refused `READONLY` or
    `OOM` counted and dropped: the bus said LIVE while nothing it was given was
    written. Such a refusal is an outage now: the bus is down ("refusing writes"), the
    newest quote per key waits, and is written once Redis takes writes again."""
    start, end = refusal(server)
    async with running_bus(server.url, options(key_prefix, md_flush_interval_ms=0)) as bus:
        stream = bus.layout.md("paper")
        await bus.publish(quote_event("AAPL.PAPER", "100", source="paper"))
        await bus.flush()
        reconnects = bus.stats.reconnects
        await asyncio.to_thread(start)
        for bid in ("101", "102"):
            await bus.publish(quote_event("AAPL.PAPER", bid, source="paper"))
            await asyncio.sleep(0.05)
        await wait_for_condition(lambda: not bus.stats.connected)
        assert bus.stats.writes_refused
        assert bus.stats.last_error.startswith(("ReadOnlyError", "OutOfMemoryError"))
        await asyncio.sleep(0.5)  # the reconnect loop meets the refusal meanwhile
        assert not bus.stats.connected
        # Not said back ("Redis connection restored") while Redis refused every write.
        assert bus.stats.reconnects == reconnects
        await asyncio.to_thread(end)
        await wait_for_condition(lambda: bus.stats.connected)
        await bus.flush()
        bids = [cast(Any, e.event).payload.bid for e in await bus.read(stream)]
        assert [str(b) for b in bids] == ["100", "102"]  # the newest, not lost


async def test_redis_lost_again_as_the_reconnect_says_it_is_back(
    server: RedisServer, key_prefix: str
) -> None:
    """Redis went away again just as the reconnect said it was back (its last health
    message, written after it marked the bus connected): the outage found then started
    no reconnect (the one running had not ended), and the bus stayed down for good:
    nothing written again until a restart, its flush timing out. Seen once in about 30
    runs of the test above; here the server is killed at that moment."""
    killed: list[bool] = []

    class KillWhenBack(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "bus.redis.reconnected" and not killed:
                killed.append(True)
                server.kill()

    handler = KillWhenBack()
    logger = logging.getLogger(redis_streams.__name__)
    level = logger.level
    logger.setLevel(logging.INFO)  # "reconnected" is an INFO line
    logger.addHandler(handler)
    try:
        async with running_bus(server.url, options(key_prefix)) as bus:
            await server.akill()
            assert await bus.publish(fill_event(0)) is None
            await server.arestart()
            await wait_for_condition(lambda: bool(killed))
            await server.arestart()
            await bus.flush()  # raised: still unwritten after 10 s
            assert bus.stats.connected
            assert await bus.publish(fill_event(1)) is not None  # written, not kept
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
