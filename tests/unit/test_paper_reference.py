"""The paper venue's reference price (what the Quotes pane's Chg% is measured from):
each symbol's day open, published on its market-data stream with the market, the
same after a restart the same day, new on the next trading day, and published again
every few seconds for readers that start later. And the venue's last trade (the Last
column): a paper venue's trades are its fills, so its quotes carry none before the
first, then the last fill's price, also after a restart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.paper.venue import next_day_end
from silvertine_tui.bus import BusOptions, EventBus, create_bus
from silvertine_tui.config import PaperBrokerConfig
from silvertine_tui.domain import (
    OrderRequest,
    OrderType,
    Quote,
    ReferenceBasis,
    ReferencePrice,
    Side,
    TimeInForce,
)
from silvertine_tui.events import FillEvent, QuoteEvent, ReferencePriceEvent
from tests.support.redis_server import RedisServer

BTC = "BTCUSDT.PAPER"
ETH = "ETHUSDT.PAPER"
T0 = 1_767_625_200_000_000_000  # 2026-01-05 15:00 UTC


def paper_config(**overrides: Any) -> PaperBrokerConfig:
    values: dict[str, Any] = {
        "name": "paper",
        "account": "main",
        "seed": 7,
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "market": {"autorun": False},
        "latency": {"enabled": False},
    }
    values.update(overrides)
    return PaperBrokerConfig(**values)


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


async def market(bus: EventBus) -> list[Any]:
    await bus.flush()  # Redis: market data is written by a flusher of its own
    return [e.event for e in await bus.read(bus.layout.md("paper"))]


async def references(bus: EventBus, key: str = ETH) -> list[ReferencePrice]:
    return [
        e.payload
        for e in await market(bus)
        if isinstance(e, ReferencePriceEvent) and e.payload.instrument == key
    ]


async def quotes(bus: EventBus, key: str = ETH) -> list[Quote]:
    return [
        e.payload
        for e in await market(bus)
        if isinstance(e, QuoteEvent) and e.payload.instrument == key
    ]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    if request.param == "memory":
        yield "memory://"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        yield server.url


async def open_bus(url: str, prefix: str) -> EventBus:
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50))
    await bus.start()
    return bus


async def test_the_day_open_goes_out_before_the_first_quote_and_once_a_day() -> None:
    clock = Clock()
    bus = await open_bus("memory://", "p")
    broker = PaperBroker(paper_config(), bus, clock=clock)
    await broker.connect()
    [opened] = await references(bus)
    first = (await quotes(bus))[0]
    assert opened == ReferencePrice(
        instrument=ETH, price=first.mid, basis=ReferenceBasis.SESSION_OPEN, venue_ts_ns=T0
    )
    events = await market(bus)
    # Before the instrument's first quote: a reader never draws it without its reference.
    assert events.index(next(e for e in events if isinstance(e, ReferencePriceEvent))) < (
        events.index(next(e for e in events if isinstance(e, QuoteEvent)))
    )
    assert [r.instrument for r in await references(bus, BTC)] == [BTC]
    # The market moves; the day's open does not.
    for _ in range(20):
        clock.advance(1)
        await broker.step()
    assert await references(bus) == [opened]
    assert (await quotes(bus))[-1].mid != opened.price
    # The next trading day opens at the first mid after the day's end (00:00 UTC).
    clock.now = next_day_end(clock.now, 0)
    await broker.step()
    [_, reopened] = await references(bus)
    assert reopened.price == (await quotes(bus))[-1].mid
    assert reopened.venue_ts_ns == clock.now
    await broker.close()
    await bus.close()


async def buy_eth_and_step(broker: PaperBroker, clock: Clock) -> None:
    """A market buy of 1 ETH, then 30 steps of a second."""
    await broker.place(
        OrderRequest(
            client_order_id="m1",
            broker="paper",
            account="main",
            instrument=ETH,
            side=Side.BUY,
            order_type=OrderType.MARKET,
            quantity=D("1"),
            tif=TimeInForce.IOC,
        )
    )
    for _ in range(30):
        clock.advance(1)
        await broker.step()


async def a_day_with_an_order(bus: EventBus, clock: Clock) -> ReferencePrice:
    """A broker that opens its day, trades (its journal is then a restart's) and stops:
    its day open."""
    broker = PaperBroker(paper_config(), bus, clock=clock)
    await broker.connect()
    for _ in range(30):
        clock.advance(1)
        await broker.step()
    await buy_eth_and_step(broker, clock)
    [opened] = await references(bus)
    await broker.close()
    return opened


async def restarted(url: str, prefix: str, bus: EventBus) -> EventBus:
    """What a process restart does to the bus: Redis is connected to again; a memory
    bus is the process's own (its journal would be gone), kept here."""
    if url == "memory://":
        return bus
    await bus.close()
    return await open_bus(url, prefix)


async def test_a_restart_the_same_day_keeps_the_day_open(bus_url: str) -> None:
    """The restarted venue's market resumes from its last mid, and its day open is the
    one it published before: the Chg% a desk shows does not start again from 0."""
    prefix = f"t-{uuid.uuid4().hex}"
    clock = Clock()
    bus = await open_bus(bus_url, prefix)
    opened = await a_day_with_an_order(bus, clock)
    bus = await restarted(bus_url, prefix, bus)
    last = (await quotes(bus))[-1]
    assert last.mid != opened.price
    seen = len(await market(bus))

    clock.advance(3600)
    second = PaperBroker(paper_config(), bus, clock=clock)
    await second.connect()
    after = (await market(bus))[seen:]
    [again] = [
        e.payload
        for e in after
        if isinstance(e, ReferencePriceEvent) and e.payload.instrument == ETH
    ]
    assert again == opened
    [resumed] = [
        e.payload for e in after if isinstance(e, QuoteEvent) and e.payload.instrument == ETH
    ]
    # The market resumed where it was (on its grid); the open stayed.
    assert resumed.mid is not None
    assert last.mid is not None
    assert abs(resumed.mid - last.mid) <= D("0.01")
    assert again.price != resumed.mid
    await second.close()
    await bus.close()


async def test_the_last_trade_is_the_last_fill_also_after_a_restart(bus_url: str) -> None:
    prefix = f"t-{uuid.uuid4().hex}"
    clock = Clock()
    bus = await open_bus(bus_url, prefix)
    broker = PaperBroker(paper_config(), bus, clock=clock)
    await broker.connect()
    for _ in range(5):
        clock.advance(1)
        await broker.step()
    before = await quotes(bus)
    assert before
    assert {q.last for q in before} == {None}
    await buy_eth_and_step(broker, clock)
    fills = [e.payload for e in await journal(bus) if isinstance(e, FillEvent)]
    assert fills
    fill = fills[-1]  # (a market buy may take several levels)
    assert fill.venue_ts_ns is not None
    after = [q for q in await quotes(bus) if (q.venue_ts_ns or 0) > fill.venue_ts_ns]
    assert after
    assert {q.last for q in after} == {fill.price}
    assert after[-1].mid != fill.price  # the market moved on; the last trade did not
    assert {q.last for q in await quotes(bus, BTC)} == {None}  # not traded
    await broker.close()
    bus = await restarted(bus_url, prefix, bus)
    seen = len(await quotes(bus))
    clock.advance(60)
    second = PaperBroker(paper_config(), bus, clock=clock)
    await second.connect()
    [resumed] = (await quotes(bus))[seen:]
    assert resumed.last == fill.price  # read back from the journal
    await second.close()
    await bus.close()


async def journal(bus: EventBus) -> list[Any]:
    return [e.event for e in await bus.read(bus.layout.exec("paper", "main"))]


@pytest.mark.redis
async def test_a_restart_on_the_next_day_opens_the_day_where_the_market_resumes(
    redis_server: RedisServer,
) -> None:
    prefix = f"t-{uuid.uuid4().hex}"
    clock = Clock()
    bus = await open_bus(redis_server.url, prefix)
    opened = await a_day_with_an_order(bus, clock)
    bus = await restarted(redis_server.url, prefix, bus)
    seen = len(await market(bus))
    clock.now = next_day_end(clock.now, 0) + 3_600 * 10**9
    second = PaperBroker(paper_config(), bus, clock=clock)
    await second.connect()
    after = (await market(bus))[seen:]
    [today] = [
        e.payload
        for e in after
        if isinstance(e, ReferencePriceEvent) and e.payload.instrument == ETH
    ]
    [resumed] = [
        e.payload for e in after if isinstance(e, QuoteEvent) and e.payload.instrument == ETH
    ]
    assert today.price == resumed.mid
    assert today.price != opened.price
    assert today.venue_ts_ns == clock.now
    await second.close()
    await bus.close()


async def test_held_references_go_out_again_every_few_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader that starts later reads only the newest market data (a watching desk:
    the newest 2,000 entries): the reference is among them."""
    monkeypatch.setattr(PaperBroker, "REFERENCE_REPEAT_S", 0.05)
    bus = await open_bus("memory://", "p")
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    await broker.stop_health_loop()
    [opened] = await references(bus)
    broker.start_health_loop(interval_s=0.01)
    deadline = asyncio.get_running_loop().time() + 5
    while len(await references(bus)) < 3:
        assert asyncio.get_running_loop().time() < deadline, "not published again"
        await asyncio.sleep(0.01)
    assert set(await references(bus)) == {opened}
    await broker.close()
    await bus.close()
