"""Streams with an end: the risk stream is trimmed without losing the trading state
(HALTED survives trimming and a restart), and start-up reads only the newest snapshot.

Run against `memory://` (one bus object shared by the two sessions: what a restart
in the same process would see) and a real Redis (a bus per session, as a restarted
process has).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.bus import EventBus, MemoryBus, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderType, Side, TradingState
from silvertine_tui.engine import Session
from silvertine_tui.engine.recovery import trim_risk_stream
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.engine.wiring import bus_options
from silvertine_tui.events import Risk, RiskAction, RiskEvent, Snapshot, SnapshotEvent, encode
from tests.support.redis_server import RedisServer

KEEP = 100
OVER = KEEP + 200  # trimmed once over `keep` by 10%, and by at least 200


def settings(url: str, prefix: str, **bus: object) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix, "risk_keep": KEEP, **bus},
            "brokers": [{"name": "paper", "type": "paper", "symbols": ["BTCUSDT"]}],
        }
    )


@pytest.fixture(
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


class Buses:
    """`bus`: the one the test reads with; `for_session()`: the one a session runs on."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.options = bus_options(settings(url, prefix).bus)
        self.made: list[EventBus] = []
        self.bus = self.for_session()

    def for_session(self) -> EventBus:
        if self.made and isinstance(self.made[0], MemoryBus):
            return self.made[0]
        made = create_bus(self.url, self.options)
        self.made.append(made)
        return made

    async def aclose(self) -> None:
        for made in self.made:
            await made.close()


@pytest.fixture
async def buses(url: str, key_prefix: str) -> AsyncIterator[Buses]:
    made = Buses(url, key_prefix)
    await made.bus.start()
    yield made
    await made.aclose()


@pytest.fixture
def bus(buses: Buses) -> EventBus:
    return buses.bus


def order(n: int) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"refused{n:05d}",
        broker="paper",
        account="main",
        instrument="BTCUSDT.PAPER",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        limit_price=Decimal("100"),
    )


async def risk_entries(bus: EventBus) -> list[RiskEvent]:
    return [e.event for e in await bus.read(bus.layout.risk) if isinstance(e.event, RiskEvent)]


async def test_halted_survives_trimming_and_a_restart(
    buses: Buses, bus: EventBus, url: str, key_prefix: str
) -> None:
    config = settings(url, key_prefix)
    first = Session(config, bus=buses.for_session())
    await first.start()
    try:
        await first.engine.kill("drill")
        # A burst of refused orders pushes the KILL far out of the last `KEEP` entries.
        for n in range(OVER + 50):
            with pytest.raises(RiskRejected, match="HALTED"):
                await first.engine.submit(order(n))
        before = await risk_entries(bus)
        assert len(before) == OVER + 51
        await applied_to_end(first)  # (the trim waits until it is: see below)
        await first.snapshot()
        trimmed = await risk_entries(bus)
    finally:
        await first.close()

    # The stream has an end: at least `KEEP` stay (Redis trims whole nodes with `~`)...
    assert KEEP <= len(trimmed) <= KEEP + 110, len(trimmed)
    old = [e.event_id for e in trimmed[:-1]]
    assert old == [e.event_id for e in before[-len(old) :]]  # the newest of them
    # ...the KILL itself is gone, and the newest entry carries the state forward.
    assert all(e.payload.action is not RiskAction.KILL for e in trimmed)
    newest = trimmed[-1].payload
    assert (newest.action, newest.trading_state) == (RiskAction.STATE, TradingState.HALTED)
    assert await risk_entries(bus) == trimmed  # within its end: closing trimmed nothing

    second = Session(config, bus=buses.for_session())
    await second.start()
    try:
        assert second.engine.gate.state is TradingState.HALTED
        with pytest.raises(RiskRejected, match="HALTED"):
            await second.engine.submit(order(99_999))
    finally:
        await second.close()


async def applied_to_end(session: Session) -> None:
    """Until the engine applied the risk stream's newest entry."""
    risk = session.bus.layout.risk
    for _ in range(500):
        info = await session.bus.info(risk)
        if info is not None and session.engine.applied.get(risk) == info.last_id:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the engine never applied the risk stream to its end")


async def test_a_state_set_elsewhere_not_read_yet_is_not_carried_over(
    buses: Buses, bus: EventBus, url: str, key_prefix: str
) -> None:
    """Another desk resumes (its RESUME in the stream) before this desk's reader has
    applied it, and this desk trims the risk stream then: it carried its own HALTED
    after the RESUME, which every desk (and every restart) then read as the newest
    state, undoing the RESUME. The trim now waits until the stream is read to its end;
    the other way round, a KILL would have been lifted. On `memory://` the RESUME is
    certainly not applied when the trim runs (nothing yields in between)."""
    config = settings(url, key_prefix)
    desk = Session(config, bus=buses.for_session())
    await desk.start()
    try:
        await desk.engine.kill("drill")
        for n in range(OVER):
            with pytest.raises(RiskRejected):
                await desk.engine.submit(order(n))
        await applied_to_end(desk)
        resume = RiskEvent.create(
            "engine",
            Risk(action=RiskAction.RESUME, trading_state=TradingState.ACTIVE, message="by B"),
        )
        await bus.publish(resume)  # another desk's: `bus` is the test's own
        await trim_risk_stream(desk.engine, KEEP)
        await applied_to_end(desk)
        assert desk.engine.gate.state is TradingState.ACTIVE
        entries = await risk_entries(bus)
        states = [e.payload.trading_state for e in entries if e.payload.trading_state]
        assert states[-1] is TradingState.ACTIVE, [e.payload.message for e in entries[-3:]]
        assert [e.event_id for e in entries].index(resume.event_id) >= 0
    finally:
        await desk.close()
    again = Session(config, bus=buses.for_session())
    await again.start()
    try:
        assert again.engine.gate.state is TradingState.ACTIVE
    finally:
        await again.close()


async def test_a_stream_within_its_end_is_left_alone(
    buses: Buses, bus: EventBus, url: str, key_prefix: str
) -> None:
    session = Session(settings(url, key_prefix), bus=buses.for_session())
    await session.start()
    try:
        await session.engine.kill("drill")
        for n in range(OVER - 1):  # the slack: not trimmed yet
            with pytest.raises(RiskRejected):
                await session.engine.submit(order(n))
        before = await risk_entries(bus)
        assert await trim_risk_stream(session.engine, KEEP) == 0
        assert await risk_entries(bus) == before  # nothing carried, nothing trimmed
    finally:
        await session.close()


async def test_start_up_trims_a_risk_stream_left_too_long(
    buses: Buses, bus: EventBus, url: str, key_prefix: str
) -> None:
    config = settings(url, key_prefix)
    first = Session(config, bus=buses.for_session())
    await first.start()
    await first.engine.kill("drill")
    for n in range(OVER):
        with pytest.raises(RiskRejected):
            await first.engine.submit(order(n))
    # Gone without a snapshot (as a killed process would be): nothing trimmed yet.
    for task in first._tasks:
        task.cancel()
    for broker in first.brokers:
        await broker.close()
    # The next desk on this host takes over a dead process's claim on the broker
    # (tests/integration/test_broker_claims.py); in this one process, it is let go.
    await first.claims.release()
    if not isinstance(first.bus, MemoryBus):
        await first.bus.close()
    assert len(await risk_entries(bus)) == OVER + 1

    second = Session(config, bus=buses.for_session())
    await second.start()
    try:
        kept = await risk_entries(bus)
        assert KEEP <= len(kept) <= KEEP + 110, len(kept)
        assert second.engine.gate.state is TradingState.HALTED
        assert kept[-1].payload.trading_state is TradingState.HALTED
    finally:
        await second.close()


def snapshot(n: int) -> SnapshotEvent:
    return SnapshotEvent.create(
        "paper/main", Snapshot(broker="paper", account="main", covers=f"{n + 1}-0")
    )


async def test_start_up_reads_only_the_newest_snapshot(bus: EventBus) -> None:
    for n in range(10):
        await bus.publish(snapshot(n))
    decoded = bus.stats.decoded
    found = await latest_snapshot(bus, "paper", "main")
    assert found is not None
    assert found.covers == "10-0"
    assert bus.stats.decoded == decoded + 1  # one entry read: XREVRANGE COUNT 1


async def test_an_unreadable_newest_snapshot_falls_back_to_the_one_before(
    bus: EventBus, url: str
) -> None:
    stream = bus.layout.snap("paper", "main")
    await bus.publish(snapshot(1))
    newer = encode(snapshot(2))
    newer[b"p"] = b"{not json"
    if isinstance(bus, MemoryBus):
        bus.append_raw(stream, newer)
    else:
        from redis.asyncio import Redis

        raw = Redis.from_url(url)
        try:
            await raw.xadd(stream, newer)  # type: ignore[arg-type]
        finally:
            await raw.aclose()
    found = await latest_snapshot(bus, "paper", "main")
    assert found is not None
    assert found.covers == "2-0"


async def test_no_snapshot_is_none(bus: EventBus) -> None:
    assert await latest_snapshot(bus, "paper", "main") is None
