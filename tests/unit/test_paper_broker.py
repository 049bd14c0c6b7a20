"""`PaperBroker`: latency, determinism over both buses, restart from the journal,
external market data, the timer-driven market, health metrics, DAY expiry.

Redis tests start their own throwaway server (`redis_server` fixture) under a unique
key prefix; they never touch the shared Redis on 6379.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest

from silvertine_tui.brokers import (
    BrokerError,
    BrokerRegistry,
    CancelTooLate,
    ConfigurationError,
    InsufficientFunds,
    OrderRejected,
    UnknownOrder,
)
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.paper.venue import next_day_end
from silvertine_tui.bus import BusOptions, EventBus, MemoryBus, create_bus
from silvertine_tui.config import BinanceBrokerConfig, PaperBrokerConfig
from silvertine_tui.domain import (
    Book,
    BookLevel,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.events import (
    EventBase,
    FillEvent,
    HealthEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    QuoteEvent,
)
from tests.support.redis_server import RedisServer

S = OrderStatus
ETH = "ETHUSDT.PAPER"
T0 = 1_767_625_200_000_000_000  # 2026-01-05 15:00 UTC


def paper_config(**overrides: Any) -> PaperBrokerConfig:
    values: dict[str, Any] = {
        "name": "paper",
        "account": "main",
        "seed": 7,
        "symbols": ["BTCUSDT", "ETHUSDT"],
        "market": {"autorun": False},
        "latency": {"ack_ms": 2, "fill_ms": 1, "cancel_ms": 2, "jitter_ms": 2},
    }
    values.update(overrides)
    return PaperBrokerConfig(**values)


def order(
    coid: str,
    side: Side,
    qty: str,
    limit: D | None = None,
    *,
    kind: OrderType | None = None,
    stop: D | None = None,
    tif: TimeInForce | None = None,
    instrument: str = ETH,
) -> OrderRequest:
    kind = kind or (OrderType.LIMIT if limit is not None else OrderType.MARKET)
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=instrument,
        side=side,
        order_type=kind,
        quantity=D(qty),
        limit_price=limit,
        stop_price=stop,
        tif=tif or (TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC),
    )


def tick_price(broker: PaperBroker, ticks: int, key: str = ETH) -> D:
    mid = broker.venue.mid(key)
    assert mid is not None
    tick = broker.specs[key].tick_size
    return (mid / tick).to_integral_value() * tick + ticks * tick


def eth_book(bids: list[tuple[D, str]], asks: list[tuple[D, str]]) -> Book:
    return Book(
        instrument=ETH,
        bids=tuple(BookLevel(price=p, size=D(s)) for p, s in bids),
        asks=tuple(BookLevel(price=p, size=D(s)) for p, s in asks),
    )


async def exec_events(bus: EventBus, broker: str = "paper", account: str = "main") -> list[Any]:
    entries = await bus.read(bus.layout.exec(broker, account))
    assert all(e.ok for e in entries)
    return [e.event for e in entries]


def statuses(events: list[EventBase], coid: str) -> list[OrderStatus]:
    return [
        e.payload.status
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


# -- buses --------------------------------------------------------------------------------


@dataclass
class Backend:
    """Makes buses of one kind; `reopen` is what a process restart does to the bus."""

    kind: str
    url: str
    prefix: str
    opened: list[EventBus] = field(default_factory=list)

    async def make(self) -> EventBus:
        bus = create_bus(self.url, BusOptions(prefix=self.prefix, block_ms=50))
        await bus.start()
        self.opened.append(bus)
        return bus

    async def reopen(self, bus: EventBus) -> EventBus:
        if self.kind == "memory":
            return bus  # the process keeps its memory bus
        await bus.close()
        return await self.make()

    async def close(self) -> None:
        for bus in self.opened:
            await bus.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    prefix = f"t-{uuid.uuid4().hex}"
    if request.param == "memory":
        made = Backend("memory", "memory://", prefix)
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        made = Backend("redis", server.url, prefix)
    try:
        yield made
    finally:
        await made.close()


# -- determinism --------------------------------------------------------------------------


async def scripted_session(bus: EventBus, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """A fixed order script; returns the journal's payloads without time stamps."""
    volatile = {"autorun": False, "symbols": {"ETHUSDT": {"volatility": 5.0}}}
    broker = PaperBroker(paper_config(seed=seed, market=volatile), bus)
    await broker.connect()
    await broker.step(5)
    await broker.place(order("a1", Side.BUY, "1.5", tick_price(broker, -300)))
    await broker.place(order("a2", Side.BUY, "8"))
    await broker.place(
        order("a3", Side.SELL, "2", kind=OrderType.STOP, stop=tick_price(broker, -400))
    )
    await broker.place(order("a4", Side.SELL, "1", tick_price(broker, 600)))
    await broker.place(order("a6", Side.BUY, "1", tick_price(broker, -5000)))
    await broker.step(60)
    await broker.modify("a6", limit_price=tick_price(broker, -100), quantity=D("2"))
    await broker.step(60)
    await broker.place(order("a5", Side.BUY, "3", tick_price(broker, 5), tif=TimeInForce.IOC))
    await broker.cancel_all()
    await broker.close()
    out = []
    for event in await exec_events(bus):
        payload = event.payload.model_dump(mode="json", exclude={"venue_ts_ns"})
        out.append((event.type, payload))
    return out


async def test_the_same_seed_and_script_publish_the_same_journal(backend: Backend) -> None:
    first = await scripted_session(await backend.make(), 7)
    backend.prefix = f"t-{uuid.uuid4().hex}"
    second = await scripted_session(await backend.make(), 7)
    assert first == second
    assert sum(1 for kind, _ in first if kind == "fill") >= 3
    backend.prefix = f"t-{uuid.uuid4().hex}"
    other = await scripted_session(await backend.make(), 8)
    assert other != first


@pytest.mark.redis
async def test_memory_and_redis_journals_are_identical(redis_server: RedisServer) -> None:
    memory = MemoryBus(BusOptions(prefix="mem"))
    await memory.start()
    redis = create_bus(redis_server.url, BusOptions(prefix=f"t-{uuid.uuid4().hex}"))
    await redis.start()
    try:
        assert await scripted_session(memory, 7) == await scripted_session(redis, 7)
    finally:
        await memory.close()
        await redis.close()


# -- restart ------------------------------------------------------------------------------


async def test_a_restart_rebuilds_orders_positions_and_cash_from_the_journal(
    backend: Backend,
) -> None:
    # Faults on: the journal holds duplicated and late reports, which must not matter.
    config = paper_config(faults={"duplicate_reports": 0.5, "late_reports": 0.5})
    bus = await backend.make()
    first = PaperBroker(config, bus)
    await first.connect()
    await first.step(3)
    mid = tick_price(first, 0)
    await first.place(order("m1", Side.BUY, "2"))
    await first.place(order("r1", Side.BUY, "1", tick_price(first, -500)))
    await first.place(order("s1", Side.SELL, "0.5", tick_price(first, 500)))
    await first.place(
        order(
            "st1",
            Side.SELL,
            "0.3",
            tick_price(first, -900),
            kind=OrderType.STOP_LIMIT,
            stop=tick_price(first, -900),
        )
    )
    # A stop-limit that triggers at once and rests at its limit.
    await first.place(
        order(
            "tr1",
            Side.BUY,
            "0.4",
            tick_price(first, -700),
            kind=OrderType.STOP_LIMIT,
            stop=tick_price(first, -50),
        )
    )
    limit = tick_price(first, -200)
    await first.place(order("p1", Side.BUY, "2", limit))
    await first.on_market_data(eth_book([(limit - 1, "5")], [(limit - D("0.01"), "0.7")]))
    await first.settle()
    await first.modify("r1", limit_price=tick_price(first, -600))
    # The market moves back up to where it was.
    await first.on_market_data(eth_book([(mid - D("0.5"), "5")], [(mid + D("0.5"), "5")]))
    await first.settle()
    before = (await first.open_orders(), await first.positions(), await first.balances())
    assert {o.client_order_id for o in before[0]} == {"r1", "s1", "st1", "tr1", "p1"}
    triggered = first.venue.order("tr1")
    assert triggered is not None
    assert triggered.triggered
    await first.close()
    journaled = len(await exec_events(bus))

    bus = await backend.reopen(bus)
    second = PaperBroker(config, bus)
    await second.connect()
    after = (await second.open_orders(), await second.positions(), await second.balances())
    assert after == before
    assert second.journal is not None
    assert second.journal.working_orders == 5
    restored = second.venue.order("tr1")
    assert restored is not None
    assert restored.triggered
    assert not restored.is_stop
    stop = second.venue.order("st1")
    assert stop is not None
    assert stop.is_stop
    # Nothing was re-sent or re-filled for the old orders.
    new = (await exec_events(bus))[journaled:]
    assert not [e for e in new if isinstance(e, OrderRequestEvent | OrderUpdateEvent | FillEvent)]
    assert {e.type for e in new} <= {"balance", "position"}

    # The restored venue keeps working: fills continue the old ids, new ids are fresh.
    await second.on_market_data(eth_book([(limit - 5, "5")], [(limit - D("0.01"), "5")]))
    await second.settle()
    events = await exec_events(bus)
    p1_fills = [
        e.payload for e in events if isinstance(e, FillEvent) and e.payload.client_order_id == "p1"
    ]
    assert sorted({f.exec_id for f in p1_fills}) == [
        f"{p1_fills[0].venue_order_id}-{n}" for n in (1, 2)
    ]
    assert statuses(events, "p1")[-1] is S.FILLED
    await second.cancel("r1")
    await second.place(order("n1", Side.BUY, "0.1", tick_price(second, -500)))
    ids = {o.venue_order_id for o in (await second.reconcile()).open_orders}
    new_id = second.venue.order("n1").venue_order_id  # type: ignore[union-attr]
    old_ids = {second.venue.order(c).venue_order_id for c in ("m1", "r1", "s1", "st1", "tr1", "p1")}  # type: ignore[union-attr]
    assert new_id in ids
    assert new_id not in old_ids
    await second.close()


# -- latency --------------------------------------------------------------------------------


async def test_latency_delays_acks_and_a_cancel_can_lose_the_race_to_a_fill() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(
        paper_config(latency={"ack_ms": 30, "fill_ms": 10, "cancel_ms": 60, "jitter_ms": 0}),
        bus,
    )
    await broker.connect()
    loop = asyncio.get_running_loop()
    price = tick_price(broker, -100)
    started = loop.time()
    await broker.place(order("c1", Side.BUY, "1", price))
    assert loop.time() - started >= 0.030
    cancel = asyncio.create_task(broker.cancel("c1"))
    await asyncio.sleep(0.005)
    # The market trades through the order while the cancel is on its way.
    await broker.on_market_data(eth_book([(price - 1, "5")], [(price - D("0.01"), "5")]))
    with pytest.raises(CancelTooLate, match="already FILLED at the paper venue"):
        await cancel
    events = await exec_events(bus)
    assert statuses(events, "c1") == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.FILLED, S.FILLED]
    kinds = [e.type for e in events if getattr(e.payload, "client_order_id", "") == "c1"]
    assert kinds.count("fill") == 1
    assert kinds.index("order.cancel") < kinds.index("fill"), "the cancel was sent first"
    await broker.publish_health()
    health = [
        e.event.payload
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, HealthEvent)
    ][-1]
    assert health.metrics["ack_ms_p50"] >= 30  # type: ignore[operator]
    assert health.metrics["fill_ms_p50"] >= 10  # type: ignore[operator]
    assert health.metrics["latency"] == "on"
    await broker.close()
    await bus.close()


async def test_fills_from_market_moves_are_reported_after_the_fill_latency() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(
        paper_config(latency={"ack_ms": 0, "fill_ms": 40, "cancel_ms": 0, "jitter_ms": 0}), bus
    )
    await broker.connect()
    price = tick_price(broker, -100)
    await broker.place(order("f1", Side.BUY, "1", price))
    await broker.on_market_data(eth_book([(price - 1, "5")], [(price - D("0.01"), "5")]))
    assert statuses(await exec_events(bus), "f1")[-1] is S.NEW  # not yet reported
    loop = asyncio.get_running_loop()
    started = loop.time()
    await broker.settle()
    assert loop.time() - started >= 0.035
    assert statuses(await exec_events(bus), "f1")[-1] is S.FILLED
    await broker.close()
    await bus.close()


async def test_reports_in_flight_when_the_link_drops_are_published_exactly_once() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(
        paper_config(latency={"ack_ms": 0, "fill_ms": 50, "cancel_ms": 0, "jitter_ms": 0}), bus
    )
    await broker.connect()
    price = tick_price(broker, -100)
    await broker.place(order("l1", Side.BUY, "2", price))
    # A fill on its way back when the link drops (lost), then another one still on its
    # way when the link comes back: the resync sends both, and nothing is sent twice.
    await broker.on_market_data(eth_book([(price - 1, "5")], [(price - D("0.01"), "1")]))
    await broker.drop_link()
    await broker.settle()
    await broker.on_market_data(eth_book([(price - 1, "5")], [(price - D("0.01"), "1")]))
    await broker.restore_link()
    await broker.settle()
    await asyncio.sleep(0.08)
    await broker.settle()
    events = await exec_events(bus)
    fills = [e.payload for e in events if isinstance(e, FillEvent)]
    assert [f.exec_id for f in fills] == ["P1-1", "P1-2"]
    assert statuses(events, "l1")[-1] is S.FILLED
    positions = [e.payload.quantity for e in events if e.type == "position"]
    assert positions[-1] == D("2")
    await broker.close()
    await bus.close()


# -- health, rejects, modify ------------------------------------------------------------------


async def test_health_carries_execution_metrics() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    await broker.place(order("h1", Side.BUY, "3"))
    with pytest.raises(InsufficientFunds):
        await broker.place(order("h2", Side.BUY, "1000", tick_price(broker, 0)))
    await broker.publish_health()
    [*_, health] = [
        e.event.payload
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, HealthEvent)
    ]
    m = health.metrics
    assert (m["orders"], m["rejects"]) == (1, 1)
    assert m["fills"] >= 1  # type: ignore[operator]
    assert m["slippage_bps_avg"] > 0  # type: ignore[operator]  # a market buy pays the spread
    assert float(str(m["fees:USDT"]).replace(",", "")) > 0
    assert {"ack_ms_p50", "ack_ms_p99", "fill_ms_p50", "resting_orders"} <= set(m)
    assert m["market"] == "synthetic"
    await broker.close()
    await bus.close()


async def test_a_refused_modify_reports_the_order_unchanged() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(starting_cash={"USDT": D("10000")}), bus)
    await broker.connect()
    price = tick_price(broker, -100)
    await broker.place(order("r1", Side.BUY, "1", price))
    with pytest.raises(InsufficientFunds):
        await broker.modify("r1", quantity=D("10"))
    events = await exec_events(bus)
    assert statuses(events, "r1")[-2:] == [S.PENDING_REPLACE, S.NEW]
    last = [e.payload for e in events if isinstance(e, OrderUpdateEvent)][-1]
    assert "insufficient balance" in last.reason
    [same] = await broker.open_orders()
    assert (same.quantity, same.limit_price) == (D("1"), price)
    with pytest.raises(UnknownOrder):
        await broker.modify("nope", quantity=D("1"))
    await broker.close()
    await bus.close()


async def test_day_orders_expire_when_the_clock_passes_the_session_end() -> None:
    now = [T0]
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(), bus, clock=lambda: now[0])
    await broker.connect()
    await broker.place(order("d1", Side.BUY, "1", tick_price(broker, -500), tif=TimeInForce.DAY))
    await broker.step()
    assert statuses(await exec_events(bus), "d1")[-1] is S.NEW
    now[0] = next_day_end(T0, 0)
    await broker.step()
    events = await exec_events(bus)
    assert statuses(events, "d1")[-1] is S.EXPIRED
    assert await broker.open_orders() == []
    await broker.close()
    await bus.close()


# -- market data ----------------------------------------------------------------------------


async def test_external_market_data_drives_the_venue() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(
        paper_config(
            symbols=["BTCUSDT"], market={"source": "external"}, latency={"enabled": False}
        ),
        bus,
    )
    await broker.connect()
    btc = "BTCUSDT.PAPER"
    request = order("x1", Side.BUY, "0.1", instrument=btc)
    with pytest.raises(OrderRejected, match="no liquidity"):
        await broker.place(request)
    with pytest.raises(BrokerError, match="external market data"):
        await broker.step()
    feed = Book(
        instrument="BTCUSDT.BINANCE",
        bids=(BookLevel(price=D("60000.00"), size=D("1")),),
        asks=(
            BookLevel(price=D("60000.01"), size=D("0.05")),
            BookLevel(price=D("60001.00"), size=D("1")),
        ),
    )
    await broker.on_market_data(feed)
    assert await broker.on_market_data(feed.model_copy(update={"instrument": "DOGE.BINANCE"})) == []
    await broker.place(order("x2", Side.BUY, "0.1", instrument=btc))
    fills = [e.payload for e in await exec_events(bus) if isinstance(e, FillEvent)]
    assert [(f.quantity, f.price) for f in fills] == [
        (D("0.05"), D("60000.01")),
        (D("0.05"), D("60001.00")),
    ]
    quotes = [
        e.event.payload
        for e in await bus.read(bus.layout.md("paper"))
        if isinstance(e.event, QuoteEvent)
    ]
    assert quotes[-1].instrument == btc
    assert quotes[-1].ask == D("60000.01")
    await broker.close()
    await bus.close()


async def test_the_market_runs_on_a_timer_while_connected() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(market={"autorun": True, "tick_interval_ms": 5}), bus)
    await broker.connect()

    async def quotes() -> list[Any]:
        return [
            e.event.payload
            for e in await bus.read(bus.layout.md("paper"))
            if isinstance(e.event, QuoteEvent) and e.event.payload.instrument == ETH
        ]

    deadline = asyncio.get_running_loop().time() + 5
    while len(await quotes()) < 10:
        assert asyncio.get_running_loop().time() < deadline, "the market did not tick"
        await asyncio.sleep(0.01)
    assert len({q.bid for q in await quotes()}) > 1
    await broker.close()
    stopped = len(await quotes())
    await asyncio.sleep(0.05)
    assert len(await quotes()) == stopped


# -- building it --------------------------------------------------------------------------


async def test_the_registry_builds_it_from_config() -> None:
    bus = MemoryBus()
    registry = BrokerRegistry(discover=False)
    broker = registry.create(paper_config(), bus, clock=lambda: T0)
    assert isinstance(broker, PaperBroker)
    assert broker.clock() == T0
    assert isinstance(registry.create(paper_config(), bus), PaperBroker)
    binance = BinanceBrokerConfig(name="b", api_key="k", api_secret="s")
    with pytest.raises(ConfigurationError):
        PaperBroker(binance, bus)
