"""The memory bus keeps a journal's older entries in wire form: the same reads, less memory."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.bus.memory import JOURNAL_OBJECTS
from silvertine_tui.events import DecodeError, EventBase, encode
from tests.support import (
    balance_event,
    fill_event,
    health_event,
    order_update_event,
    quote_event,
    risk_event,
)

JOURNAL_EVENTS: dict[str, Callable[[int, str], EventBase]] = {
    "fill": lambda n, src: fill_event(n, source=src),
    "update": lambda n, src: order_update_event(n, source=src),
    "balance": lambda n, src: balance_event(src, total=str(n)),
    "risk": lambda n, src: risk_event(),
}


class Clock:
    """Milliseconds that move only when told (several entries share one)."""

    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


def seen(entries: list[BusEntry]) -> list[tuple[str, str, object]]:
    return [(e.stream, e.id, e.event) for e in entries]


async def everything(bus: MemoryBus) -> dict[str, object]:
    """What every read of the bus gives, stream by stream."""
    out: dict[str, object] = {}
    for stream in await bus.streams():
        entries = await bus.read(stream)
        ids = [e.id for e in entries]
        out[stream] = {
            "read": seen(entries),
            "read_last": [seen(await bus.read_last(stream, n)) for n in (1, 3, len(ids) + 1)],
            "ranges": [
                seen(await bus.read(stream, f"({a}", ids[i + 2] if i + 2 < len(ids) else "+", 4))
                for i, a in enumerate(ids)
            ],
            "replay": [(e.id, e.event) async for e in bus.replay(stream, batch=3)],
            "info": await bus.info(stream),
        }
    return out


Step = tuple[str, str, int]
steps = st.lists(
    st.one_of(
        st.tuples(
            st.sampled_from(sorted(JOURNAL_EVENTS)),
            st.sampled_from(["paper/main", "paper/alt"]),
            st.integers(min_value=0, max_value=10_000),
        ),
        st.tuples(st.just("tick"), st.just(""), st.integers(0, 3)),
        st.tuples(st.just("trim"), st.sampled_from(["paper/main", "paper/alt"]), st.integers(0, 8)),
        st.tuples(st.just("raw"), st.just("paper/main"), st.just(0)),
    ),
    max_size=40,
)


def made(plan: list[Step]) -> list[tuple[str, str, int, EventBase | None]]:
    """The plan with its events made once (each `create` draws a fresh id)."""
    return [
        (kind, source, n, JOURNAL_EVENTS[kind](n, source) if kind in JOURNAL_EVENTS else None)
        for kind, source, n in plan
    ]


async def play(
    bus: MemoryBus, clock: Clock, plan: list[tuple[str, str, int, EventBase | None]]
) -> list[str | None]:
    ids: list[str | None] = []
    for kind, source, n, event in plan:
        if event is not None:
            ids.append(await bus.publish(event))
        elif kind == "tick":
            clock.ms += n
        elif kind == "trim":
            broker, _, account = source.partition("/")
            await bus.trim(bus.layout.exec(broker, account), n)
        else:  # an entry that does not decode stays one, packed or not
            ids.append(bus.append_raw(bus.layout.exec("paper", "main"), {b"t": b"fill"}))
    return ids


@settings(max_examples=60, deadline=None)
@given(plan=steps, kept=st.integers(min_value=0, max_value=4))
async def test_packed_journal_reads_the_same_as_objects(plan: list[Step], kept: int) -> None:
    """Every read of a bus that packs all but `kept` entries of each journal equals the
    reads of one that keeps every entry as the published object."""
    clocks = Clock(), Clock()
    packed = MemoryBus(clock_ms=clocks[0], journal_objects=kept)
    objects = MemoryBus(clock_ms=clocks[1], journal_objects=10**9)
    events = made(plan)
    assert await play(packed, clocks[0], events) == await play(objects, clocks[1], events)
    assert await everything(packed) == await everything(objects)


async def test_tail_reads_packed_entries_too() -> None:
    bus = MemoryBus(journal_objects=2)
    events = [fill_event(n) for n in range(6)]
    for event in events:
        await bus.publish(event)
    stream = bus.layout.exec("paper", "main")
    got = []
    async for entry in bus.tail({stream: "0-0"}):
        got.append(entry.event)
        if len(got) == len(events):
            break
    assert got == events
    assert [type(e) for e in got] == [type(e) for e in events]


async def test_only_journals_are_packed() -> None:
    bus = MemoryBus(journal_objects=0)
    event = fill_event(1)
    await bus.publish(event)
    await bus.publish(risk_event())
    (entry,) = await bus.read(bus.layout.exec("paper", "main"))
    assert entry.event == event
    assert entry.event is not event  # decoded from its wire form
    quote_bus = MemoryBus(journal_objects=0)
    quote, health = quote_event(), health_event()
    await quote_bus.publish(quote)
    await quote_bus.publish(health)
    assert (await quote_bus.read(quote_bus.layout.md("binance")))[0].event is quote
    assert (await quote_bus.read(quote_bus.layout.health))[0].event is health


async def test_the_newest_entries_stay_the_published_objects() -> None:
    bus = MemoryBus(journal_objects=3)
    events = [fill_event(n) for n in range(5)]
    for event in events:
        await bus.publish(event)
    entries = await bus.read(bus.layout.exec("paper", "main"))
    assert [e.event is sent for e, sent in zip(entries, events, strict=True)] == [
        False,
        False,
        True,
        True,
        True,
    ]
    raw = MemoryBus(journal_objects=0)
    wired = fill_event(1)
    raw.append_raw(raw.layout.exec("paper", "main"), {b"t": b"fill"})
    raw.append_raw(raw.layout.exec("paper", "main"), encode(wired))
    first, second = await raw.read(raw.layout.exec("paper", "main"))
    assert isinstance(first.event, DecodeError)
    assert second.event == wired


async def test_a_long_journal_holds_its_events_in_wire_form() -> None:
    """10,000 execution events on the default memory bus: the newest `JOURNAL_OBJECTS`
    as objects (about 2.6 KB an event: two pydantic models, their dicts and fields-set
    sets, Decimals), the rest in wire form (about 0.45 KB). Held as objects, they took
    2.6 KB an event on average; now about 0.7."""
    pairs = 5_000
    bus = MemoryBus()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(pairs):  # made while traced: the bus holds the only references
            await bus.publish(fill_event(n))
            await bus.publish(order_update_event(n))
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(await bus.read(bus.layout.exec("paper", "main"))) == 2 * pairs
    assert pairs >= JOURNAL_OBJECTS
    per_event = held / (2 * pairs)
    assert per_event < 1_200, f"{per_event:.0f} bytes an event"
