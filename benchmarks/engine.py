"""`python -m benchmarks engine`: order round trip through the engine, and recovery.

- order_roundtrip_*: risk check -> paper broker -> fill -> position updated in the
  portfolio, on the memory bus with the paper latency model off. The clock runs from
  `engine.submit` until the engine has applied the fill read back from the bus.
  Beside it, alternating one for one in the same loop: `bus_roundtrip_*`, one event
  published on the same memory bus until the engine's reader (the same `tail`) has it,
  the floor under any order round trip (which crosses the bus several times).
- recovery_events_per_s: a fresh engine rebuilds itself from N journaled execution
  events in Redis (orders with their acks and fills), as a restart does. Beside it, in
  alternating rounds: `replay_events_per_s`, the same journal read and decoded by
  `bus.replay()` with nothing applied; `ratio_recovery_vs_replay` is what applying
  costs on top of reading (1.0 would be free); `recovery_apply_us_per_event` says the
  same in microseconds per event (`recovery_replay_us_per_event` for reading one).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from decimal import Decimal
from typing import Any

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, EventBus, MemoryBus, create_bus
from silvertine_tui.config import PaperBrokerConfig, RiskConfig, RiskLimits
from silvertine_tui.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover
from silvertine_tui.events import FillEvent, OrderRequestEvent, OrderUpdateEvent, encode

from ._cli import Command, Result, fmt_value, percentile, progress, render_rows
from ._redis import redis_server

SYMBOL = "BTCUSDT.PAPER"
TARGETS: dict[str, tuple[str, float]] = {
    "order_roundtrip_p99_us": ("<", 2_000.0),
    "recovery_events_per_s": (">=", 50_000.0),
    # Against plain replay of the same journal, same run: machines differ, ratios less.
    "ratio_recovery_vs_replay": (">=", 0.7),
}


def _open_risk() -> RiskConfig:
    """Every rule that would throttle a benchmark is off; the checks still run."""
    return RiskConfig(
        defaults=RiskLimits(
            max_notional=Decimal("10000000"),
            price_collar_pct=Decimal("50"),
            max_open_orders=None,
            max_orders_per_s=None,
        )
    )


async def _roundtrip(orders: int) -> dict[str, float]:
    bus = MemoryBus()
    await bus.start()
    config = PaperBrokerConfig.model_validate(
        {
            "name": "paper",
            "symbols": ["BTCUSDT"],
            "starting_cash": {"USDT": "100000000"},
            "latency": {"enabled": False},
            "market": {"autorun": False},
        }
    )
    broker = PaperBroker(config, bus)
    engine = TradingEngine(bus, [broker], _open_risk())
    await broker.connect()
    await engine.load_instruments()
    await broker.step(1)

    stream = bus.layout.exec("paper", "main")
    echo_stream = bus.layout.exec("bench", "echo")
    echoed = asyncio.Event()

    async def follow() -> None:
        streams = {stream: "0-0", bus.layout.md("paper"): "0-0", echo_stream: "0-0"}
        async for entry in bus.tail(streams):
            if entry.stream == echo_stream:
                echoed.set()
                continue
            engine.apply_entry(entry)

    reader = asyncio.create_task(follow())
    await broker.subscribe([SYMBOL])
    await broker.step(1)
    while engine.last_price(SYMBOL) is None:
        await engine.wait_changed(5.0)
    samples: list[float] = []
    bus_samples: list[float] = []
    qty = Decimal("0.001")
    for n in range(orders + 200):
        side = Side.BUY if n % 2 == 0 else Side.SELL
        target = engine.position("paper", "main", SYMBOL) + qty * side.sign
        request = OrderRequest(
            broker="paper",
            account="main",
            instrument=SYMBOL,
            side=side,
            order_type=OrderType.MARKET,
            quantity=qty,
            tif=TimeInForce.IOC,
        )
        start = time.perf_counter()
        await engine.submit(request)
        while engine.position("paper", "main", SYMBOL) != target:
            await engine.wait_changed(5.0)
        if n >= 200:  # warm-up excluded
            samples.append((time.perf_counter() - start) * 1e6)
        echo = OrderUpdateEvent.create(
            "bench/echo",
            OrderUpdate(client_order_id=f"echo{n}", status=OrderStatus.NEW),
        )
        echoed.clear()
        start = time.perf_counter()
        await bus.publish(echo)
        async with asyncio.timeout(5.0):  # as `engine.wait_changed` waits
            await echoed.wait()
        if n >= 200:
            bus_samples.append((time.perf_counter() - start) * 1e6)
        if n % 50 == 0:
            await broker.step(1)  # the book refills, like a live market between orders
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await broker.close()
    await bus.close()
    samples.sort()
    bus_samples.sort()
    return {
        "order_roundtrip_p50_us": percentile(samples, 50),
        "order_roundtrip_p99_us": percentile(samples, 99),
        "order_roundtrip_max_us": samples[-1],
        "orders": float(len(samples)),
        "bus_roundtrip_p50_us": percentile(bus_samples, 50),
        "bus_roundtrip_p99_us": percentile(bus_samples, 99),
        "bus_roundtrip_max_us": bus_samples[-1],
        "ratio_order_vs_bus_roundtrip_p50": percentile(samples, 50) / percentile(bus_samples, 50),
    }


def order_lifecycle(n: int, prefix: str = "bench") -> list[dict[bytes, bytes]]:
    """One order's five journal entries, encoded: request, PENDING_NEW, NEW, a fill,
    FILLED (buys and sells alternate). Also the start-up test's journal."""
    source = "paper/main"
    request = OrderRequest(
        client_order_id=f"{prefix}{n:010d}",
        broker="paper",
        account="main",
        instrument=SYMBOL,
        side=Side.BUY if n % 2 else Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        limit_price=Decimal("65000.00"),
    )
    cid = request.client_order_id
    lifecycle = [
        OrderRequestEvent.create(source, request),
        OrderUpdateEvent.create(
            source, OrderUpdate(client_order_id=cid, status=OrderStatus.PENDING_NEW)
        ),
        OrderUpdateEvent.create(
            source,
            OrderUpdate(client_order_id=cid, status=OrderStatus.NEW, venue_order_id=str(n)),
        ),
        FillEvent.create(
            source,
            Fill(
                exec_id=f"x{n}",
                client_order_id=cid,
                broker="paper",
                account="main",
                instrument=SYMBOL,
                side=request.side,
                quantity=Decimal("0.001"),
                price=Decimal("65000.00"),
                fee=Decimal("0.0065"),
                fee_currency="USDT",
            ),
        ),
        OrderUpdateEvent.create(
            source,
            OrderUpdate(
                client_order_id=cid,
                status=OrderStatus.FILLED,
                filled_qty=Decimal("0.001"),
                avg_price=Decimal("65000.00"),
            ),
        ),
    ]
    return [encode(e) for e in lifecycle]


def _journal(events: int) -> list[dict[bytes, bytes]]:
    """Order lifecycles of five events each, cut to `events`."""
    out: list[dict[bytes, bytes]] = []
    n = 0
    while len(out) < events:
        n += 1
        out.extend(order_lifecycle(n))
    return out[:events]


async def _plain_replay(bus: EventBus, stream: str) -> tuple[int, float]:
    """Read and decode the journal, apply nothing: what recovery is measured against."""
    count = 0
    gc.collect()
    start = time.perf_counter()
    async for entry in bus.replay(stream):
        count += entry.ok
    return count, time.perf_counter() - start


async def _recover_once(bus: EventBus, stream: str, events: int) -> float:
    engine = TradingEngine(bus, [], RiskConfig())
    gc.collect()
    start = time.perf_counter()
    replayed = await recover(engine, [("paper", "main")])
    elapsed = time.perf_counter() - start
    applied = replayed[stream]
    # Finished orders beyond the window leave memory: every order is held or retired.
    known = len(engine.oms.orders) + len(engine.oms.retired)
    if applied != events or known != (events + 4) // 5:
        raise RuntimeError(f"recovery applied {applied} of {events} events")
    return elapsed


async def _recovery(url: str, events: int, rounds: int) -> dict[str, float]:
    prefix = f"bench-engine-{time.time_ns():x}"
    bus = create_bus(url, BusOptions(prefix=prefix))
    await bus.start()
    from redis.asyncio import Redis

    raw = Redis.from_url(url)
    stream = bus.layout.exec("paper", "main")
    try:
        progress(f"engine: journaling {events:,} execution events")
        journal = _journal(events)
        for i in range(0, len(journal), 1_000):
            pipe = raw.pipeline(transaction=False)
            for fields in journal[i : i + 1_000]:
                pipe.xadd(stream, fields)  # type: ignore[arg-type]
            await pipe.execute()
        del journal
        recovery_s = replay_s = 0.0
        for r in range(rounds):
            progress(f"engine: recovery and plain replay, round {r + 1}/{rounds}")
            # Alternate who goes first, so a drift in machine load hits both sides.
            if r % 2 == 0:
                recovery_s += await _recover_once(bus, stream, events)
            read, elapsed = await _plain_replay(bus, stream)
            replay_s += elapsed
            if r % 2 == 1:
                recovery_s += await _recover_once(bus, stream, events)
            if read != events:
                raise RuntimeError(f"plain replay decoded {read} of {events} events")
        recovery_rate = events * rounds / recovery_s
        replay_rate = events * rounds / replay_s
        return {
            "recovery_events": float(events),
            "recovery_rounds": float(rounds),
            "recovery_s": recovery_s / rounds,
            "recovery_events_per_s": recovery_rate,
            "replay_events_per_s": replay_rate,
            "ratio_recovery_vs_replay": recovery_rate / replay_rate,
            # What applying adds per event on top of reading it (the two timings above).
            "recovery_replay_us_per_event": 1e6 / replay_rate,
            "recovery_apply_us_per_event": 1e6 / recovery_rate - 1e6 / replay_rate,
        }
    finally:
        keys = [k async for k in raw.scan_iter(match=f"{prefix}:*")]
        if keys:
            await raw.delete(*keys)
        await raw.aclose()
        await bus.close()


def run(args: argparse.Namespace) -> Result:
    progress(f"engine: {args.orders:,} order round trips (memory bus, latency off)")
    result: dict[str, Any] = asyncio.run(_roundtrip(args.orders))
    with redis_server(args.redis_url) as url:
        result.update(asyncio.run(_recovery(url, args.events, args.rounds)))
    result["targets"] = {
        f"{key} {op} {threshold:g}": (
            result[key] >= threshold if op == ">=" else result[key] < threshold
        )
        for key, (op, threshold) in TARGETS.items()
    }
    result["targets_met"] = all(result["targets"].values())
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis to journal into (default: a throwaway server)")
    parser.add_argument("--orders", type=int, default=2_000, help="round trips to time (2,000)")
    parser.add_argument("--events", type=int, default=100_000, help="journal size (100,000)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="recovery / plain replay rounds, alternated (3)"
    )


def render(result: Result) -> str:
    """Every figure, then one row per target with whether it was met."""
    rows = [
        (label, fmt_value(result[key]))
        for label, key in (
            ("order round trip p50 (us)", "order_roundtrip_p50_us"),
            ("order round trip p99 (us)", "order_roundtrip_p99_us"),
            ("order round trip max (us)", "order_roundtrip_max_us"),
            ("  bus round trip beside it, p50 (us)", "bus_roundtrip_p50_us"),
            ("  bus round trip beside it, p99 (us)", "bus_roundtrip_p99_us"),
            ("  bus round trip beside it, max (us)", "bus_roundtrip_max_us"),
            ("  order p50 / bus p50", "ratio_order_vs_bus_roundtrip_p50"),
            ("orders timed", "orders"),
            ("journal events", "recovery_events"),
            ("recovery (events/s)", "recovery_events_per_s"),
            ("  plain replay beside it (events/s)", "replay_events_per_s"),
            ("  recovery / plain replay", "ratio_recovery_vs_replay"),
            ("  reading one event (us)", "recovery_replay_us_per_event"),
            ("  applying one event on top (us)", "recovery_apply_us_per_event"),
        )
    ]
    figures = render_rows(rows, ("engine", "value"))
    targets = render_rows(
        [(name, fmt_value(ok)) for name, ok in result["targets"].items()], ("target", "met")
    )
    return f"{figures}\n\n{targets}"


COMMAND = Command(
    name="engine",
    help="engine: order round trip and recovery from the journal",
    add_arguments=add_arguments,
    run=run,
    render=render,
)
