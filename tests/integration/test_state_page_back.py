"""The risk stream's page-back for the newest entry setting the trading state: one walker
(`bus.base.state_entry_after`, `STATE_PAGE` entries a page) for the start's check
(`recovery.trading_state_deleted`, through `EventBus.read_last`: its `BusError`s, its
counting of what it reads) and for the Redis bus's watcher (`RedisBus._state_deleted`:
Redis's own errors, which the watcher takes, and nothing counted).

Pinned across a page boundary: the entry setting the state on the second page, behind a
full first page that holds an entry this desk cannot read (a KILL of a newer schema
version: no state of ours) and one cut short on the second, on the memory bus and a real
redis-server; and the walker against a plain scan of the stream, whatever its length and
wherever the entries setting the state and `after` fall.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import example, given, settings
from hypothesis import strategies as st
from redis.exceptions import RedisError, ResponseError

from silvertine_tui.bus import BusEntry, BusError, BusOptions, EventBus, MemoryBus, create_bus
from silvertine_tui.bus.base import STATE_PAGE, DataLoss, parse_id, state_entry_after
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.domain import TradingState
from silvertine_tui.engine.recovery import trading_state_deleted
from silvertine_tui.events import Risk, RiskAction, RiskEvent, encode
from silvertine_tui.events.codec import FieldMap
from tests.support.redis_server import RedisServer

NO_STATE = "holds no entry setting the trading state"
REJECTS_BEFORE_NEWER = 300
REJECTS_AFTER_NEWER = STATE_PAGE - REJECTS_BEFORE_NEWER


def risk(action: RiskAction, n: int = 0) -> FieldMap:
    payload = Risk(action=action, trading_state=TradingState.HALTED, message=f"{action} {n}")
    return encode(RiskEvent.create("engine", payload))


# A KILL written by a newer Silvertine (schema v2): an `UnknownEvent` here, never a state.
NEWER_KILL: FieldMap = {**risk(RiskAction.KILL), b"v": b"2"}
# A risk entry cut short: a `DecodeError`.
CUT_SHORT: FieldMap = {**risk(RiskAction.STATE), b"p": b'{"action":"STA'}


@dataclass
class Laid:
    """The risk stream as `lay` wrote it, oldest first: R0 (a reject), KILL, a cut-short
    entry, 300 rejects, a newer version's KILL, 200 rejects. From the end: page one is
    the 500 newest (the newer KILL among them); page two the oldest of the 300 rejects,
    the cut-short entry, the KILL and R0."""

    ids: list[str]

    @property
    def first(self) -> str:
        return self.ids[0]

    @property
    def kill(self) -> str:
        return self.ids[1]

    @property
    def after_cut(self) -> str:
        """The reject after the cut-short entry: newer than the KILL, first on page two."""
        return self.ids[3]

    def back(self, entry_id: str) -> int:
        """How many entries are newer than `entry_id`."""
        return len(self.ids) - 1 - self.ids.index(entry_id)


Write = Callable[[FieldMap], Awaitable[str]]


async def lay(write: Write) -> Laid:
    ids = [await write(risk(RiskAction.REJECT, 0)), await write(risk(RiskAction.KILL))]
    ids.append(await write(CUT_SHORT))
    ids += [await write(risk(RiskAction.REJECT, n)) for n in range(REJECTS_BEFORE_NEWER)]
    ids.append(await write(NEWER_KILL))
    ids += [await write(risk(RiskAction.REJECT, n)) for n in range(REJECTS_AFTER_NEWER)]
    laid = Laid(ids)
    assert laid.back(laid.after_cut) == STATE_PAGE  # the first of page two
    assert STATE_PAGE < laid.back(laid.kill) < 2 * STATE_PAGE  # on page two
    return laid


def redis_writer(client: aioredis.Redis, stream: str) -> Write:
    """Entries XADDed as they are, as another process writes them."""

    async def write(fields: FieldMap) -> str:
        written: Any = await client.xadd(stream, dict(fields))  # type: ignore[arg-type]
        return str(written.decode())

    return write


def counts(bus: EventBus) -> tuple[int, int, int]:
    return bus.stats.decoded, bus.stats.decode_errors, bus.stats.unknown_events


def delta(after: tuple[int, int, int], before: tuple[int, int, int]) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(after, before, strict=True))


# -- the start's check, on both backends -----------------------------------------------


@dataclass
class Backend:
    bus: EventBus
    write: Write
    keep_newest: Callable[[int], Awaitable[object]]


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
async def backend(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[Backend]:
    if request.param == "memory":
        memory = MemoryBus(BusOptions(prefix=key_prefix))
        await memory.start()
        stream = memory.layout.risk

        async def write_memory(fields: FieldMap) -> str:
            return memory.append_raw(stream, fields)

        try:
            yield Backend(memory, write_memory, partial(memory.trim, stream))
        finally:
            await memory.close()
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    bus = create_bus(server.url, BusOptions(prefix=key_prefix, block_ms=100, passive=True))
    await bus.start()
    client = aioredis.Redis.from_url(server.url)
    stream = bus.layout.risk

    async def keep_redis(n: int) -> object:
        return await client.xtrim(stream, maxlen=n, approximate=False)

    try:
        yield Backend(bus, redis_writer(client, stream), keep_redis)
    finally:
        await client.aclose()
        await bus.close()


async def test_the_start_check_finds_the_state_on_the_second_page(backend: Backend) -> None:
    bus = backend.bus
    laid = await lay(backend.write)
    assert await trading_state_deleted(bus) == ""  # nothing deleted: nothing read
    before = counts(bus)

    await backend.keep_newest(len(laid.ids) - 1)  # R0 goes; the KILL stays on page two
    assert await trading_state_deleted(bus) == ""
    # Read through `read_last`: a full page, then the 3 left (503 entries, 2 bad); each
    # bad entry counted.
    assert delta(counts(bus), before) == (501, 1, 1)
    assert await trading_state_deleted(bus) == ""
    # Read again: every entry counted as decoded again, a bad one once (`bad_seen`).
    assert delta(counts(bus), before) == (1002, 1, 1)

    await backend.keep_newest(len(laid.ids) - 3)  # the KILL and the cut-short entry go
    said = await trading_state_deleted(bus)
    assert NO_STATE in said
    assert "(3 so far)" in said
    # A full page (the newer KILL in it, counted before), then the one left.
    assert delta(counts(bus), before) == (1002 + 500, 1, 1)


# -- the Redis bus's watcher and the start's check, after XDELs ----------------------------


@pytest.mark.redis
async def test_the_watcher_and_the_start_check_page_back_alike(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """An XDEL older than the KILL (on page two) loses no state, for the watcher and the
    start's check; the KILL's own XDEL loses it, for both (an XDEL of a reject newer than
    it takes nothing the watcher read: tests/integration/test_risk_xdel_not_state.py).
    The watcher counts nothing it reads; the start's check counts as `read_last` does."""
    bus = create_bus(redis_server.url, BusOptions(prefix=key_prefix, epoch_check_s=0.05))
    found: list[DataLoss] = []

    async def listener(loss: DataLoss) -> None:
        found.append(loss)

    bus.add_data_loss_listener(listener)
    await bus.start()
    client = aioredis.Redis.from_url(redis_server.url)
    stream = bus.layout.risk
    try:
        laid = await lay(redis_writer(client, stream))
        before = counts(bus)
        assert await client.xdel(stream, laid.first) == 1
        await asyncio.sleep(1.5)  # the watcher looked (every 50 ms): the KILL is after it
        assert found == []
        assert counts(bus) == before  # the watcher's page-back counted nothing
        assert await trading_state_deleted(bus) == ""
        assert delta(counts(bus), before) == (501, 1, 1)

        # The KILL itself: nothing setting the state is left after it (page two).
        assert await client.xdel(stream, laid.kill) == 1
        for _ in range(100):
            if found:
                break
            await asyncio.sleep(0.05)
        [loss] = found
        assert stream in loss.trimmed
        # One entry since the watcher's last look: it looked after the first XDEL.
        assert f"{stream} lost 1 entries" in loss, loss
        assert "trading state went with them" in loss
        assert NO_STATE in await trading_state_deleted(bus)
    finally:
        await client.aclose()
        await bus.close()


@pytest.mark.redis
async def test_each_page_reader_keeps_its_own_errors(
    redis_server: RedisServer, key_prefix: str
) -> None:
    """A key of another type where the risk stream goes: the start's check gets the
    bus's `BusError` naming it; the watcher's reader Redis's own error, which the
    watcher's loop takes (a `BusError` would end the watcher)."""
    bus = create_bus(redis_server.url, BusOptions(prefix=key_prefix, passive=True))
    await bus.start()
    client = aioredis.Redis.from_url(redis_server.url)
    stream = bus.layout.risk
    try:
        await client.set(stream, "not a stream")
        with pytest.raises(BusError, match="holds another type") as refused:
            await state_entry_after(partial(bus.read_last, stream))
        assert not isinstance(refused.value, RedisError)
        assert isinstance(bus, RedisBus)
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await state_entry_after(partial(bus._watcher_last, stream))
    finally:
        await client.delete(stream)
        await client.aclose()
        await bus.close()


# -- the walker against a plain scan -------------------------------------------------------

KINDS = st.sampled_from(["state", "kill", "resume", "cut", "newer"])


ACTIONS = {
    "reject": RiskAction.REJECT,
    "state": RiskAction.STATE,
    "kill": RiskAction.KILL,
    "resume": RiskAction.RESUME,
}
BAD = {"cut": CUT_SHORT, "newer": NEWER_KILL}


def entry_fields(kind: str, n: int) -> FieldMap:
    return BAD[kind] if kind in BAD else risk(ACTIONS[kind], n)


SETS_STATE = {"state", "kill", "resume"}


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(min_value=0, max_value=2 * STATE_PAGE + 20),
    placed=st.dictionaries(
        st.integers(min_value=0, max_value=2 * STATE_PAGE + 19), KINDS, max_size=6
    ),
    after_at=st.integers(min_value=-1, max_value=2 * STATE_PAGE + 19),
)
# `after` is no answer, even when it sets the state: on page two, or opening it.
@example(length=STATE_PAGE + 1, placed={0: "kill"}, after_at=0)
@example(length=STATE_PAGE + 3, placed={2: "state", 1: "resume"}, after_at=2)
# Nothing sets the state: every page read, the last one empty.
@example(length=2 * STATE_PAGE, placed={}, after_at=-1)
def test_the_walker_finds_what_a_scan_finds_reading_no_page_more(
    length: int, placed: dict[int, str], after_at: int
) -> None:
    """Whatever the stream's length and wherever entries setting the state (or that
    cannot be read) and `after` fall, around the page boundaries: the walker answers
    as a scan from the newest entry does, asking for `STATE_PAGE` entries before the
    last one it was given, and reads no page past the one that answers."""
    asyncio.run(walk_and_scan(length, placed, after_at))


async def walk_and_scan(length: int, placed: dict[int, str], after_at: int) -> None:
    bus = MemoryBus()
    stream = bus.layout.risk
    kinds = [placed.get(i, "reject") for i in range(length)]
    ids = [bus.append_raw(stream, entry_fields(kind, i)) for i, kind in enumerate(kinds)]
    after = ids[after_at] if 0 <= after_at < length else "0-0"

    # The scan: newest first, stopping at `after` or at an entry setting the state.
    expected: str | None = None
    stop = length  # how many entries from the end the walk ends on (the answer's place)
    for back, (entry_id, kind) in enumerate(zip(reversed(ids), reversed(kinds), strict=True)):
        if parse_id(entry_id) <= parse_id(after):
            stop = back
            break
        if kind in SETS_STATE:
            expected, stop = entry_id, back
            break

    asked: list[tuple[int, str]] = []

    async def read_last(count: int, before: str) -> list[BusEntry]:
        asked.append((count, before))
        return await bus.read_last(stream, count, before)

    assert await state_entry_after(read_last, after) == expected
    assert len(asked) == stop // STATE_PAGE + 1
    pages_before = ["+"] + [ids[length - STATE_PAGE * k] for k in range(1, len(asked))]
    assert asked == [(STATE_PAGE, before) for before in pages_before]
