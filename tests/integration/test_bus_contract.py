"""The EventBus contract: one suite, run against `memory://` and a real `redis://`.

Written only against the `EventBus` protocol. The one backend-specific piece is how a
foreign, possibly malformed entry gets into a stream (`Backend.append_raw`): a raw
XADD for Redis, `MemoryBus.append_raw` (the same codec path) for memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from silvertine_tui.bus import (
    BusEntry,
    BusOptions,
    EventBus,
    MemoryBus,
    create_bus,
    parse_id,
)
from silvertine_tui.domain import TradingState
from silvertine_tui.events import (
    DecodeError,
    EventBase,
    QuoteEvent,
    Snapshot,
    SnapshotEvent,
    UnknownEvent,
    encode,
)
from tests.support import (
    balance_event,
    fill_event,
    health_event,
    log_event,
    order_update_event,
    quote_event,
    risk_event,
    signal_event,
    trade_event,
)
from tests.support.redis_server import RedisServer

ID_SHAPE = re.compile(r"^\d{13}-\d+$")
TIMEOUT = 10.0


@dataclass
class Backend:
    """Makes buses of one backend under a unique prefix and closes them afterwards."""

    kind: str
    url: str
    prefix: str
    raw: Redis | None = None
    buses: list[EventBus] = field(default_factory=list)

    def options(self, **overrides: Any) -> BusOptions:
        values: dict[str, Any] = {"prefix": self.prefix, "block_ms": 100, "epoch_check_s": 0.2}
        values.update(overrides)
        return BusOptions(**values)

    async def make(self, **overrides: Any) -> EventBus:
        bus = create_bus(self.url, self.options(**overrides))
        self.buses.append(bus)
        await bus.start()
        return bus

    async def append_raw(self, bus: EventBus, stream: str, fields: Mapping[bytes, bytes]) -> None:
        """Write an entry as some other process would (no validation on the way in)."""
        if self.raw is not None:
            await self.raw.xadd(stream, dict(fields))  # type: ignore[arg-type]
        else:
            assert isinstance(bus, MemoryBus)
            bus.append_raw(stream, fields)

    async def aclose(self) -> None:
        for bus in self.buses:
            await bus.close()
        if self.raw is not None:
            await self.raw.aclose()


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def bus_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def backend(bus_url: str, key_prefix: str) -> AsyncIterator[Backend]:
    kind = "memory" if bus_url.startswith("memory") else "redis"
    raw = Redis.from_url(bus_url) if kind == "redis" else None
    made = Backend(kind, bus_url, key_prefix, raw)
    try:
        yield made
    finally:
        await made.aclose()


@pytest.fixture
async def bus(backend: Backend) -> EventBus:
    return await backend.make()


class Collector:
    """Runs one `tail` in a task and lets the test await "n entries received"."""

    def __init__(self, bus: EventBus, streams: Mapping[str, str]) -> None:
        self.bus = bus
        self.streams = dict(streams)
        self.entries: list[BusEntry] = []
        self._grew = asyncio.Condition()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        # Close the tail deterministically: it holds a reader connection.
        tail = cast(AsyncGenerator[BusEntry, None], self.bus.tail(self.streams))
        async with contextlib.aclosing(tail) as entries:
            async for entry in entries:
                self.entries.append(entry)
                async with self._grew:
                    self._grew.notify_all()

    async def wait_for(self, count: int, timeout: float = TIMEOUT) -> list[BusEntry]:
        async with asyncio.timeout(timeout), self._grew:
            await self._grew.wait_for(lambda: len(self.entries) >= count or self.task.done())
        if self.task.done():
            self.task.result()  # re-raise what killed the tail
        assert len(self.entries) >= count
        return self.entries

    async def stop(self, timeout: float = 5.0) -> None:
        """Cancel the tail task and check that it really ended."""
        self.task.cancel()
        await asyncio.wait({self.task}, timeout=timeout)  # never cancels it again
        assert self.task.done(), f"the tail ignored a cancel for {timeout}s"
        if not self.task.cancelled():
            self.task.result()


def event_ids(entries: list[BusEntry]) -> list[str]:
    return [entry.event.event_id for entry in entries]  # type: ignore[union-attr]


async def next_millisecond(entry_id: str) -> None:
    """Wait until the wall clock is past the millisecond of `entry_id` (ids are ms time)."""
    ms = parse_id(entry_id)[0]
    async with asyncio.timeout(1.0):
        while time.time_ns() // 1_000_000 <= ms:  # noqa: ASYNC110 - waiting on the clock
            await asyncio.sleep(0.001)


# -- the protocol --------------------------------------------------------------------


async def test_is_an_event_bus_and_close_disconnects(backend: Backend, bus: EventBus) -> None:
    assert isinstance(bus, EventBus)
    assert bus.backend == backend.kind
    assert bus.stats.connected
    assert bus.layout.prefix == backend.prefix
    await bus.close()
    assert not bus.stats.connected


async def test_publish_returns_increasing_stream_ids(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    ids = [await bus.publish(fill_event(n)) for n in range(50)]
    assert all(entry_id is not None and ID_SHAPE.match(entry_id) for entry_id in ids)
    keys = [parse_id(entry_id) for entry_id in ids if entry_id is not None]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert [entry.id for entry in await bus.read(stream)] == ids
    for event in (health_event(), log_event(), signal_event(), risk_event()):
        assert ID_SHAPE.match(await bus.publish(event) or "")
    assert bus.stats.published == 54


async def test_routes_to_the_layout_streams(backend: Backend, bus: EventBus) -> None:
    p = backend.prefix
    routed: dict[str, list[EventBase]] = {
        f"{p}:exec:paper:main": [fill_event(1), order_update_event(1)],
        f"{p}:exec:paper:alt": [fill_event(2, source="paper/alt")],
        f"{p}:exec:binance:spot": [balance_event("binance/spot")],
        f"{p}:exec:ib:default": [fill_event(3, source="ib")],
        f"{p}:md:binance": [quote_event(source="binance"), trade_event(source="binance")],
        f"{p}:md:ib": [quote_event("AAPL.SMART", source="ib")],
        f"{p}:health": [health_event(), log_event()],
        f"{p}:signal": [signal_event()],
        f"{p}:risk": [risk_event()],
        f"{p}:snap:paper:main": [
            SnapshotEvent.create(
                "paper/main", Snapshot(broker="paper", account="main", covers="1-0")
            )
        ],
    }
    for events in routed.values():
        for event in events:
            await bus.publish(event)
    await bus.flush()
    assert await bus.streams() == sorted(routed)
    for stream, events in routed.items():
        entries = await bus.read(stream)
        assert [e.event for e in entries] == events, stream
        assert all(e.stream == stream for e in entries)


async def test_read_bounds_inclusive_exclusive_and_count(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    ids = [await bus.publish(fill_event(n)) for n in range(10)]
    assert all(ids)

    async def read_ids(start: str, end: str = "+", count: int | None = None) -> list[str | None]:
        return [e.id for e in await bus.read(stream, start, end, count)]

    assert await read_ids("-") == ids
    assert await read_ids(ids[2] or "", ids[5] or "") == ids[2:6]
    assert await read_ids(f"({ids[2]}", ids[5] or "") == ids[3:6]
    assert await read_ids(ids[2] or "", f"({ids[5]}") == ids[2:5]
    assert await read_ids(f"({ids[2]}", f"({ids[5]}") == ids[3:5]
    assert await read_ids("-", "+", 3) == ids[:3]
    assert await read_ids(f"({ids[7]}", "+", 100) == ids[8:]
    assert await read_ids(f"({ids[9]}") == []
    assert await bus.read(bus.layout.exec("paper", "nobody")) == []
    assert await read_ids(ids[4] or "", ids[4] or "") == [ids[4]]


@pytest.mark.parametrize(("total", "batch"), [(25, 4), (24, 8), (3, 1000)])
async def test_replay_pages_through_everything_in_order(
    bus: EventBus, total: int, batch: int
) -> None:
    stream = bus.layout.exec("paper", "main")
    published = [fill_event(n) for n in range(total)]
    ids = [await bus.publish(event) for event in published]
    replayed = [entry async for entry in bus.replay(stream, batch=batch)]
    assert [e.id for e in replayed] == ids
    assert [e.event for e in replayed] == published
    after = [entry async for entry in bus.replay(stream, after=ids[1] or "", batch=batch)]
    assert [e.id for e in after] == ids[2:]
    assert [entry async for entry in bus.replay(bus.layout.exec("x", "y"), batch=batch)] == []


async def test_tail_from_zero_gets_history_then_live_in_order(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    history = [fill_event(n) for n in range(5)]
    await bus.publish_many(history)
    collector = Collector(bus, {stream: "0-0"})
    try:
        await collector.wait_for(5)
        live = [fill_event(n) for n in range(5, 12)]
        for event in live:
            await bus.publish(event)
        entries = await collector.wait_for(12)
        assert [e.event for e in entries] == history + live
        assert [e.id for e in entries] == [e.id for e in await bus.read(stream)]
    finally:
        await collector.stop()


async def test_tail_from_dollar_gets_only_new_events(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    old = [fill_event(n) for n in range(5)]
    await bus.publish_many(old)
    collector = Collector(bus, {stream: "$"})
    try:
        # Nothing tells us when the tail has resolved `$`: publish until it sees one.
        new: list[EventBase] = []
        async with asyncio.timeout(TIMEOUT):
            while not collector.entries:
                new.append(fill_event(100 + len(new)))
                await bus.publish(new[-1])
                with contextlib.suppress(TimeoutError):
                    await collector.wait_for(1, timeout=0.05)
        # The tail starts somewhere in `new` (wherever `$` was resolved), never in `old`.
        first = new.index(collector.entries[0].event)  # type: ignore[arg-type]
        more = [fill_event(n) for n in range(200, 210)]
        await bus.publish_many(more)
        got = await collector.wait_for(len(new) - first + len(more))
        assert [e.event for e in got] == new[first:] + more
        assert not any(e.event in old for e in got)
    finally:
        await collector.stop()


async def test_tail_over_several_streams(bus: EventBus) -> None:
    layout = bus.layout
    main, alt, health = layout.exec("paper", "main"), layout.exec("paper", "alt"), layout.health
    collector = Collector(bus, {main: "0-0", alt: "0-0", health: "0-0"})
    try:
        sent: dict[str, list[EventBase]] = {main: [], alt: [], health: []}
        for n in range(30):
            event: EventBase
            if n % 3 == 0:
                event = fill_event(n)
            elif n % 3 == 1:
                event = fill_event(n, source="paper/alt")
            else:
                event = health_event(f"h{n}")
            sent[bus.layout.route(event)].append(event)
            await bus.publish(event)
        entries = await collector.wait_for(30)
        for stream, events in sent.items():
            assert [e.event for e in entries if e.stream == stream] == events
        assert len(entries) == 30
    finally:
        await collector.stop()


async def test_tail_batches_hand_over_what_is_waiting_at_once_in_order(bus: EventBus) -> None:
    layout = bus.layout
    main, health = layout.exec("paper", "main"), layout.health
    waiting: list[EventBase] = [fill_event(n) for n in range(40)]
    waiting += [health_event(f"h{n}") for n in range(5)]
    await bus.publish_many(waiting)
    batches = cast(
        AsyncGenerator[list[BusEntry], None], bus.tail_batches({main: "0-0", health: "0-0"})
    )
    async with contextlib.aclosing(batches):
        async with asyncio.timeout(TIMEOUT):
            first = await anext(batches)
        # Everything that was waiting comes in one batch, each stream in its order.
        assert len(first) == 45
        for stream in (main, health):
            assert [e.event for e in first if e.stream == stream] == [
                e for e in waiting if layout.route(e) == stream
            ]
        live = [fill_event(n) for n in range(40, 45)]
        await bus.publish_many(live)
        got: list[BusEntry] = []
        async with asyncio.timeout(TIMEOUT):
            while len(got) < len(live):
                got += await anext(batches)
        assert [e.event for e in got] == live
        assert [e.id for e in first + got if e.stream == main] == [
            e.id for e in await bus.read(main)
        ]


async def test_a_tail_behind_the_kept_market_data_reads_on_from_the_oldest_kept(
    backend: Backend,
) -> None:
    """A reader whose last entry was trimmed away (it fell further behind than
    `md_maxlen`: the memory bus keeps 2,000) reads on from the oldest entry kept, in
    order, and then what comes live; nothing fails."""
    bus = await backend.make(md_maxlen=10)
    stream = bus.layout.md("binance")
    await bus.publish(quote_event("S0.X", bid="1"))
    await bus.flush()
    (seen,) = await bus.read(stream)
    await bus.publish_many([quote_event(f"S{n}.X", bid=str(n)) for n in range(1, 300)])
    await bus.flush()
    kept = await bus.read(stream)
    assert kept[0].id != seen.id  # trimmed past the reader
    assert len(kept) < 299
    batches = cast(AsyncGenerator[list[BusEntry], None], bus.tail_batches({stream: seen.id}))
    async with contextlib.aclosing(batches):
        got: list[BusEntry] = []
        async with asyncio.timeout(TIMEOUT):
            while len(got) < len(kept):
                got += await anext(batches)
        assert [e.id for e in got] == [e.id for e in kept]
        assert got[-1].event == kept[-1].event
        live = quote_event("S300.X", bid="300")
        await bus.publish(live)
        async with asyncio.timeout(TIMEOUT):
            (after,) = await anext(batches)
        assert after.event == live


async def test_tail_stops_when_the_bus_closes(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    collector = Collector(bus, {stream: "0-0"})
    await bus.publish(fill_event(1))
    await collector.wait_for(1)
    await bus.close()
    async with asyncio.timeout(5):
        await collector.task  # returns by itself: no cancel
    assert len(collector.entries) == 1


async def test_a_tail_task_can_always_be_cancelled(bus: EventBus) -> None:
    # Regression: on Python 3.11 redis-py sends each command under asyncio.wait_for,
    # which can swallow a cancel that lands as the send completes; the tail then kept
    # reading forever in a task marked "cancelling". Cancel right after each delivery,
    # when the tail is busy sending its next XREAD, many times.
    stream = bus.layout.exec("paper", "main")
    for n in range(16):
        collector = Collector(bus, {stream: "$" if n % 2 else "0-0"})
        await bus.publish(fill_event(n))
        async with asyncio.timeout(TIMEOUT):
            while not collector.entries:  # `$` may resolve after the publish above
                await bus.publish(fill_event(n))
                with contextlib.suppress(TimeoutError):
                    await collector.wait_for(1, timeout=0.05)
        collector.task.cancel()
        await asyncio.wait({collector.task}, timeout=2.0)
        assert collector.task.cancelled(), f"round {n}: the tail ignored the cancel"


async def test_a_blocked_tail_cancelled_as_an_event_arrives_stops(bus: EventBus) -> None:
    # Regression: the memory tail waited with asyncio.wait_for, which on Python 3.11
    # loses a cancel that lands in the same loop turn as the wake-up; a headless
    # session then never shut down. Publish and cancel in the same turn, many times.
    stream = bus.layout.exec("paper", "main")
    for n in range(20):
        collector = Collector(bus, {stream: "$"})
        await asyncio.sleep(0.02)  # the tail is blocked waiting for news
        await bus.publish(fill_event(n))
        collector.task.cancel()
        await asyncio.wait({collector.task}, timeout=3.0)
        assert collector.task.cancelled(), f"round {n}: the tail ignored the cancel"


async def test_publish_many_keeps_order_per_stream(bus: EventBus) -> None:
    events: list[EventBase] = []
    for n in range(20):
        events.append(fill_event(n, source="paper/main" if n % 2 else "paper/alt"))
        if n % 5 == 0:
            events.append(health_event(f"h{n}"))
    await bus.publish_many(events)
    await bus.flush()
    for stream in (bus.layout.exec("paper", "main"), bus.layout.exec("paper", "alt")):
        expected = [e for e in events if bus.layout.route(e) == stream]
        assert [e.event for e in await bus.read(stream)] == expected
    assert [e.event for e in await bus.read(bus.layout.health)] == [
        e for e in events if e.type == "health"
    ]


# -- market data ---------------------------------------------------------------------


async def test_md_latest_quote_per_instrument_is_there_after_flush(bus: EventBus) -> None:
    instruments = [f"I{i}.X" for i in range(5)]
    published = [quote_event(instruments[n % 5], bid=str(n)) for n in range(300)]
    for event in published:
        await bus.publish(event)
    await bus.flush()
    entries = await bus.read(bus.layout.md("binance"))
    stored = [e.event for e in entries if isinstance(e.event, QuoteEvent)]
    assert len(stored) == len(entries)
    assert {q.event_id for q in stored} <= {q.event_id for q in published}
    for instrument in instruments:
        mine = [q for q in stored if q.payload.instrument == instrument]
        latest = [q for q in published if q.payload.instrument == instrument][-1]
        assert mine[-1] == latest, instrument
        bids = [q.payload.bid for q in mine if q.payload.bid is not None]
        assert bids == sorted(bids)  # coalescing never puts an older quote after a newer one


async def test_md_nothing_is_lost_when_every_event_is_distinct(bus: EventBus) -> None:
    quotes = [quote_event(f"S{n}.X", bid=str(n)) for n in range(1500)]
    trades = [trade_event("BTCUSDT.BINANCE", price=str(100 + n)) for n in range(200)]
    for event in [*quotes, *trades]:
        await bus.publish(event)
    await bus.flush()
    entries = await bus.read(bus.layout.md("binance"))
    assert sorted(event_ids(entries)) == sorted(e.event_id for e in [*quotes, *trades])
    # Trades are never coalesced and keep their order.
    assert [e.event for e in entries if e.event.type == "trade"] == trades  # type: ignore[union-attr]


async def test_md_and_health_are_bounded_by_maxlen(backend: Backend) -> None:
    bus = await backend.make(md_maxlen=100, health_maxlen=50)
    quotes = [quote_event(f"S{n}.X", bid=str(n)) for n in range(1000)]
    for event in quotes:
        await bus.publish(event)
    healths = [health_event(f"h{n}") for n in range(400)]
    await bus.publish_many(healths)
    await bus.flush()
    assert bus.stats.published_md == len(quotes)  # the health events are not market data
    for stream, limit, events in (
        (bus.layout.md("binance"), 100, quotes),
        (bus.layout.health, 50, healths),
    ):
        info = await bus.info(stream)
        assert info is not None
        assert info.entries_added == len(events)
        # `~`: at least the limit is kept, trimmed in whole chunks.
        assert limit <= info.length <= limit + 110, (stream, info.length)
        entries = await bus.read(stream)
        assert [e.event for e in entries] == events[-len(entries) :]


async def test_journal_is_never_trimmed_by_length(backend: Backend) -> None:
    bus = await backend.make(md_maxlen=10, health_maxlen=10)
    fills = [fill_event(n) for n in range(300)]
    risks = [risk_event() for _ in range(40)]
    signals = [signal_event() for _ in range(40)]
    await bus.publish_many([*fills, *risks, *signals])
    await bus.flush()
    assert [e.event for e in await bus.read(bus.layout.exec("paper", "main"))] == fills
    assert [e.event for e in await bus.read(bus.layout.risk)] == risks
    assert [e.event for e in await bus.read(bus.layout.signal)] == signals


async def test_snapshot_floor_trims_nothing_younger_than_retention(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    ids = [await bus.publish(fill_event(n)) for n in range(300)]
    await bus.set_snapshot_floor(stream, ids[250] or "")
    assert [e.id for e in await bus.read(stream)] == ids


async def test_snapshot_floor_trims_old_journal_only_behind_the_floor(backend: Backend) -> None:
    bus = await backend.make(journal_retention_s=0)
    stream = bus.layout.exec("paper", "main")
    ids = [await bus.publish(fill_event(n)) for n in range(250)]
    await next_millisecond(ids[-1] or "")
    ids += [await bus.publish(fill_event(n)) for n in range(250, 300)]
    floor = ids[250] or ""
    await next_millisecond(ids[-1] or "")
    await bus.set_snapshot_floor(stream, floor)
    kept = [e.id for e in await bus.read(stream)]
    assert kept == ids[-len(kept) :]  # a suffix: trimmed from the old end only
    assert floor in kept  # nothing at or after the floor goes
    assert len(kept) < len(ids)  # old entries behind the floor did go


def snapshot_event(n: int) -> SnapshotEvent:
    return SnapshotEvent.create(
        "paper/main", Snapshot(broker="paper", account="main", covers=f"{n + 1}-0")
    )


async def test_signals_are_capped_and_snapshots_keep_the_last_few(backend: Backend) -> None:
    bus = await backend.make(signal_maxlen=50, snapshot_keep=3)
    signals = [signal_event() for _ in range(400)]
    await bus.publish_many(signals)
    snapshots = [snapshot_event(n) for n in range(12)]
    for event in snapshots:
        await bus.publish(event)
    info = await bus.info(bus.layout.signal)
    assert info is not None
    assert info.entries_added == len(signals)
    # `~`: at least the limit is kept, trimmed in whole chunks.
    assert 50 <= info.length <= 50 + 110, info.length
    kept = await bus.read(bus.layout.signal)
    assert [e.event for e in kept] == signals[-len(kept) :]
    # Snapshots are few and large: exactly the last `snapshot_keep`.
    assert [e.event for e in await bus.read(bus.layout.snap("paper", "main"))] == snapshots[-3:]


async def test_read_last_gives_the_newest_entries_newest_first(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    assert await bus.read_last(stream) == []
    fills = [fill_event(n) for n in range(20)]
    ids = [await bus.publish(event) for event in fills]
    last = await bus.read_last(stream)
    assert [(e.stream, e.id, e.event) for e in last] == [(stream, ids[-1], fills[-1])]
    three = await bus.read_last(stream, 3)
    assert [e.id for e in three] == ids[:-4:-1]
    assert [e.event for e in three] == fills[:-4:-1]
    assert [e.id for e in await bus.read_last(stream, 100)] == ids[::-1]
    assert await bus.read_last(stream, 0) == []


async def test_read_last_returns_bad_entries_as_values(backend: Backend, bus: EventBus) -> None:
    stream = bus.layout.snap("paper", "main")
    await bus.publish(snapshot_event(1))
    await backend.append_raw(bus, stream, {b"t": b"snapshot", b"v": b"1"})
    before = bus.stats.decode_errors
    newest, older = await bus.read_last(stream, 2)
    assert isinstance(newest.event, DecodeError)
    assert not newest.ok
    assert isinstance(older.event, SnapshotEvent)
    assert bus.stats.decode_errors == before + 1


async def test_trim_keeps_the_newest_entries(bus: EventBus) -> None:
    stream = bus.layout.risk
    assert await bus.trim(stream, 10) == 0  # no such stream: nothing to do
    risks = [risk_event() for _ in range(400)]
    await bus.publish_many(risks)
    removed = await bus.trim(stream, 50)
    kept = await bus.read(stream)
    # At least `keep` stay (Redis trims whole nodes with `~`), always the newest.
    assert 50 <= len(kept) <= 50 + 110, len(kept)
    assert [e.event for e in kept] == risks[-len(kept) :]
    assert removed == len(risks) - len(kept)
    info = await bus.info(stream)
    assert info is not None
    assert info.entries_added == len(risks)


async def test_publish_if_newest_writes_only_after_the_entry_named(bus: EventBus) -> None:
    """One step on the server: a state restated after an entry its writer had not
    read would undo that entry (engine/recovery.py `trim_risk_stream`)."""
    stream = bus.layout.risk
    first = risk_event()
    assert await bus.publish_if_newest(first, "0-1") is None  # no stream yet
    first_id = await bus.publish(first)
    assert first_id is not None
    second = await bus.publish(risk_event(TradingState.ACTIVE))  # another desk's
    assert second is not None
    stale = risk_event(TradingState.HALTED)
    assert await bus.publish_if_newest(stale, first_id) is None
    carried = risk_event(TradingState.ACTIVE)
    written = await bus.publish_if_newest(carried, second)
    assert written is not None
    assert parse_id(written) > parse_id(second)
    kept = await bus.read(stream)
    assert [e.id for e in kept] == [first_id, second, written]
    assert [e.event for e in kept][-1] == carried
    assert stale not in [e.event for e in kept]


async def test_publish_now_writes_in_order_and_returns_the_entry(bus: EventBus) -> None:
    """What must not land late (a resume) is written now or raises; while Redis is
    down it raises and keeps nothing (tests/integration/test_redis_bus.py)."""
    first = await bus.publish(risk_event())
    resumed = risk_event(TradingState.ACTIVE)
    written = await bus.publish_now(resumed)
    assert first is not None
    assert parse_id(written) > parse_id(first)
    kept = await bus.read(bus.layout.risk)
    assert [e.id for e in kept] == [first, written]
    assert kept[-1].event == resumed


# -- bad data ------------------------------------------------------------------------


def bad_entries() -> list[tuple[str, dict[bytes, bytes]]]:
    good = encode(fill_event(1))
    return [
        ("missing fields", {b"t": b"fill", b"v": b"1"}),
        ("bad json", {**good, b"p": b"{not json"}),
        ("schema", {**good, b"p": b'{"exec_id": ""}'}),
        ("bad version", {**good, b"v": b"one"}),
        ("unknown type", {**good, b"t": b"teleport"}),
        ("newer version", {**good, b"v": b"99"}),
    ]


async def test_bad_entries_come_back_as_values_and_are_counted(
    backend: Backend, bus: EventBus
) -> None:
    stream = bus.layout.exec("paper", "main")
    first, last = fill_event(1), fill_event(2)
    await backend.append_raw(bus, stream, encode(first))
    for _, fields in bad_entries():
        await backend.append_raw(bus, stream, fields)
    await backend.append_raw(bus, stream, encode(last))
    expected_kinds = [DecodeError] * 4 + [UnknownEvent] * 2

    def check(entries: list[BusEntry]) -> None:
        assert len(entries) == 8
        assert entries[0].event == first
        assert entries[-1].event == last
        assert entries[0].ok
        assert entries[-1].ok
        assert [type(e.event) for e in entries[1:-1]] == expected_kinds
        assert not any(e.ok for e in entries[1:-1])
        reasons = [e.event.reason for e in entries[1:5]]  # type: ignore[union-attr]
        assert "missing field" in reasons[0]

    before = (bus.stats.decoded, bus.stats.decode_errors, bus.stats.unknown_events)
    check(await bus.read(stream))
    check([entry async for entry in bus.replay(stream, batch=3)])
    collector = Collector(bus, {stream: "0-0"})
    try:
        check((await collector.wait_for(8))[:8])
    finally:
        await collector.stop()
    after = (bus.stats.decoded, bus.stats.decode_errors, bus.stats.unknown_events)
    # Good entries count at each read (the events/s figure); a bad one once, however
    # many readers met it (the engine's, the desk's, a recovery's): one bad entry.
    assert [b - a for a, b in zip(before, after, strict=True)] == [6, 4, 2]
    unknown = [e.event for e in await bus.read(stream) if isinstance(e.event, UnknownEvent)]
    assert [(u.type, u.v) for u in unknown] == [("teleport", 1), ("fill", 99)]


# -- listing and info ----------------------------------------------------------------


async def test_streams_lists_by_pattern(backend: Backend, bus: EventBus) -> None:
    p = backend.prefix
    await bus.publish_many(
        [
            fill_event(1),
            fill_event(2, source="paper/alt"),
            balance_event("binance/spot"),
            health_event(),
            quote_event(source="binance"),
        ]
    )
    await bus.flush()
    assert await bus.streams("exec:*") == [
        f"{p}:exec:binance:spot",
        f"{p}:exec:paper:alt",
        f"{p}:exec:paper:main",
    ]
    assert await bus.streams("exec:paper:*") == [f"{p}:exec:paper:alt", f"{p}:exec:paper:main"]
    assert await bus.streams("md:*") == [f"{p}:md:binance"]
    everything = await bus.streams()
    assert f"{p}:health" in everything
    assert len(everything) == 5
    assert bus.layout.epoch_key not in everything
    assert await bus.streams("nothing*") == []
    other = await backend.make(prefix=f"{p}-other")
    assert await other.streams() == []


async def test_info_describes_a_stream(bus: EventBus) -> None:
    stream = bus.layout.exec("paper", "main")
    assert await bus.info(stream) is None
    ids = [await bus.publish(fill_event(n)) for n in range(3)]
    info = await bus.info(stream)
    assert info is not None
    assert (info.length, info.first_id, info.last_id) == (3, ids[0], ids[2])
    assert info.last_generated_id == ids[2]
    assert info.entries_added == 3


# -- property: any sequence of execution events round-trips in order ----------------

EXEC_EVENTS: dict[str, Callable[[int, str], EventBase]] = {
    "fill": lambda n, src: fill_event(n, source=src),
    "update": lambda n, src: order_update_event(n, source=src),
    "balance": lambda n, src: balance_event(src, total=str(n)),
}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(
        st.tuples(
            st.sampled_from(sorted(EXEC_EVENTS)),
            st.sampled_from(["paper/main", "paper/alt", "binance/spot"]),
            st.integers(min_value=0, max_value=10_000),
        ),
        max_size=40,
    )
)
async def test_any_exec_sequence_round_trips_in_order(
    backend: Backend, plan: list[tuple[str, str, int]]
) -> None:
    # A fresh bus and prefix per example: nothing carries over between examples.
    bus = await backend.make(prefix=f"{backend.prefix}-{uuid.uuid4().hex[:8]}")
    events = [EXEC_EVENTS[kind](n, source) for kind, source, n in plan]
    ids = [await bus.publish(event) for event in events]
    by_stream: dict[str, list[tuple[str | None, EventBase]]] = {}
    for entry_id, event in zip(ids, events, strict=True):
        by_stream.setdefault(bus.layout.route(event), []).append((entry_id, event))
    assert await bus.streams() == sorted(by_stream)
    for stream, sent in by_stream.items():
        entries = await bus.read(stream)
        assert [(e.id, e.event) for e in entries] == sent
    await bus.close()


# -- claims: one holder at a time -----------------------------------------------------


async def test_a_claim_has_one_holder_until_it_is_released_or_lapses(bus: EventBus) -> None:
    key = bus.layout.claim("paper")
    assert key == f"{bus.layout.prefix}:claim:paper"
    assert await bus.claim(key, "desk-a", 5_000) == ("desk-a", 5_000)
    held = await bus.claim(key, "desk-b", 5_000)
    assert held.holder == "desk-a"
    assert 0 < held.ttl_ms <= 5_000
    assert (await bus.claim(key, "desk-a", 5_000)).holder == "desk-a"  # renewed
    assert not await bus.release(key, "desk-b")  # not its claim: nothing happens
    assert (await bus.claim(key, "desk-b", 5_000)).holder == "desk-a"
    assert await bus.release(key, "desk-a")
    assert not await bus.release(key, "desk-a")
    assert (await bus.claim(key, "desk-b", 5_000)).holder == "desk-b"
    # Replacing names the holder it may replace, and only that one.
    assert (await bus.claim(key, "desk-c", 5_000, replacing="desk-a")).holder == "desk-b"
    assert (await bus.claim(key, "desk-c", 5_000, replacing="desk-b")).holder == "desk-c"
    # A claim not renewed lapses after its ttl.
    other = bus.layout.claim("binance")
    assert (await bus.claim(other, "desk-a", 150)).holder == "desk-a"
    assert (await bus.claim(other, "desk-b", 150)).holder == "desk-a"
    await asyncio.sleep(0.3)
    assert (await bus.claim(other, "desk-b", 5_000)).holder == "desk-b"
    # Claims are not streams.
    assert await bus.streams() == []


CLAIM_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["claim", "release"]),
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["", "a", "b", "c"]),
    ),
    max_size=30,
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=CLAIM_STEPS)
async def test_any_sequence_of_claims_and_releases_keeps_one_holder(
    backend: Backend, steps: list[tuple[str, str, str]]
) -> None:
    """Against a model of the rule: a free key, the holder's own, or the named one to
    replace goes to the claimant; anything else stays with its holder."""
    bus = await backend.make(prefix=f"{backend.prefix}-{uuid.uuid4().hex[:8]}")
    key = bus.layout.claim("paper")
    holder: str | None = None
    for step, who, replacing in steps:
        if step == "claim":
            if holder is None or holder == who or (replacing and holder == replacing):
                holder = who
            claim = await bus.claim(key, who, 60_000, replacing=replacing)
            assert claim.holder == holder
            assert 0 < claim.ttl_ms <= 60_000
        else:
            released = holder == who
            if released:
                holder = None
            assert await bus.release(key, who) is released
    await bus.close()
