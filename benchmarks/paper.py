"""`python -m benchmarks paper`: the paper simulator's matching core and its adapter.

Figures (one process, one run):

- book_updates_per_s: displayed L2 books (10 levels a side, from the seeded synthetic
  market, generated beforehand) processed by `PaperVenue.set_book` while about 1,000
  of our limit orders rest in it: triggers, trade-through checks and the fills that
  happen. Every 1,000 updates the resting orders are topped up to 1,000 again, outside
  the timed section.
- orders_per_s: orders from submit to fill in the matching core, latency model off:
  `PaperVenue.submit` of a market order (alternately buy and sell) that is checked,
  accepted, walks the book and fills; the reports are built. Requests are made
  beforehand.
- adapter_orders_per_s: the same through the whole adapter, `PaperBroker.place` with
  latency off on a `MemoryBus`: validation, 7 journaled events per order (request,
  PENDING_NEW, NEW, fill, FILLED, position, balance). Bounded by event construction and
  `MemoryBus.publish`; see `adapter_events_per_order`.
- adapter_book_updates_per_s: `PaperBroker.on_market_data(Book)` with the resting
  orders: conversion, matching, and publishing the quote and the book.
- book_updates_queue_model_per_s: the same with `fill.resting: queue` (the queue ahead
  of every order shown in the book is updated on every book).
- book_updates_busy_per_s: the same with the orders 1..10 level steps from the touch
  instead of 1..200, so that many more fill (`book_update_busy_reports`).
- market_books_per_s: how fast the synthetic market makes books (one symbol).

The start-up heap is frozen (`gc.freeze()`) before each timed phase, as in the bus
benchmark; collection still runs during the phases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import random
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, Literal

from silvertine_tui.brokers.paper import (
    BUILTIN_SPECS,
    MarketBook,
    PaperBroker,
    PaperVenue,
    SyntheticMarket,
)
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import (
    PaperBrokerConfig,
    PaperChecksConfig,
    PaperFillConfig,
    PaperMarketConfig,
)
from silvertine_tui.domain import (
    Book,
    BookLevel,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)

from ._cli import Command, Result, Timing, fmt_value, progress, render_rows

TARGETS: dict[str, tuple[str, float]] = {
    "book_updates_per_s": (">=", 50_000),
    "orders_per_s": (">=", 10_000),
}

SPEC = BUILTIN_SPECS["BTCUSDT"]
KEY = SPEC.key
RESTING = 1_000
TOP_UP_EVERY = 1_000
ORDER_QTY = Decimal("0.01")


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def make_books(n: int, seed: int) -> tuple[list[MarketBook], float]:
    """`n` consecutive books of the synthetic market, and the rate they were made at."""
    market = SyntheticMarket([SPEC], PaperMarketConfig(), seed)
    t = Timing()
    with t.measure():
        books = [market.step(i)[KEY] for i in range(n)]
    return books, t.rate(n)


def request(n: int, side: Side, kind: OrderType, price: Decimal | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"b{n}",
        broker="paper",
        account="main",
        instrument=KEY,
        side=side,
        order_type=kind,
        quantity=ORDER_QTY,
        limit_price=price,
        tif=TimeInForce.IOC if kind is OrderType.MARKET else TimeInForce.GTC,
    )


class RestingOrders:
    """Keeps about `RESTING` limit orders in a venue, spread 1..`max_steps` level steps
    (0.5 bps) away from the touch on both sides, so the market trades through some."""

    def __init__(self, seed: int, max_steps: int = 200) -> None:
        self.rng = random.Random(seed)
        self.max_steps = max_steps
        self.n = 0

    def requests(self, book: MarketBook, missing: int) -> list[OrderRequest]:
        assert book.best_bid is not None
        assert book.best_ask is not None
        step = max(SPEC.tick_size, (book.best_ask * Decimal("0.00005")).quantize(SPEC.tick_size))
        out = []
        for i in range(missing):
            self.n += 1
            away = self.rng.randint(1, self.max_steps) * step
            if i % 2 == 0:
                out.append(request(self.n, Side.BUY, OrderType.LIMIT, book.best_bid - away))
            else:
                out.append(request(self.n, Side.SELL, OrderType.LIMIT, book.best_ask + away))
        return out

    def top_up(self, venue: PaperVenue, book: MarketBook, now: int) -> None:
        missing = RESTING - len(venue.open_orders(KEY))
        for req in self.requests(book, missing):
            venue.submit(req, now)


def core_venue(resting: Literal["through", "queue"] = "through") -> PaperVenue:
    return PaperVenue(
        [SPEC.instrument()],
        cash={"USDT": Decimal(10) ** 15},
        fill=PaperFillConfig(resting=resting),
        checks=PaperChecksConfig(short_selling=True, max_open_orders=RESTING * 2),
        volatility={KEY: SPEC.volatility},
        daily_volume={KEY: SPEC.daily_volume},
    )


def bench_book_updates(
    books: list[MarketBook],
    seed: int,
    result: Result,
    variant: Literal["", "queue", "busy"] = "",
) -> None:
    progress(f"paper: {len(books):,} book updates with {RESTING:,} resting orders {variant}")
    venue = core_venue("queue" if variant == "queue" else "through")
    resting = RestingOrders(seed, 10 if variant == "busy" else 200)
    venue.set_book(books[0], 0)
    resting.top_up(venue, books[0], 0)
    t = Timing()
    reports = 0
    sizes: list[int] = []
    with frozen_heap():
        for start in range(0, len(books), TOP_UP_EVERY):
            chunk = books[start : start + TOP_UP_EVERY]
            sizes.append(len(venue.open_orders(KEY)))
            with t.measure():
                for i, book in enumerate(chunk, start):
                    reports += len(venue.set_book(book, i))
            resting.top_up(venue, chunk[-1], start + len(chunk))
    if variant:
        name = "queue_model" if variant == "queue" else "busy"
        result[f"book_updates_{name}_per_s"] = t.rate(len(books))
        result[f"book_update_{name}_reports"] = reports
        return
    result.update(
        {
            "book_updates": len(books),
            "book_updates_per_s": t.rate(len(books)),
            "book_update_cpu_us": t.cpu_us(len(books)),
            "resting_orders_min": min(sizes),
            "resting_orders_avg": round(sum(sizes) / len(sizes), 1),
            "book_update_reports": reports,
        }
    )


def bench_core_orders(n: int, books: list[MarketBook], result: Result) -> None:
    progress(f"paper: {n:,} market orders, submit to fill, in the core")
    venue = core_venue()
    requests = [
        request(i, Side.BUY if i % 2 == 0 else Side.SELL, OrderType.MARKET) for i in range(n)
    ]
    t = Timing()
    filled = 0
    with frozen_heap(), t.measure():
        for i, req in enumerate(requests):
            if i % 20 == 0:  # a fresh book now and then: the taken liquidity comes back
                venue.set_book(books[(i // 20) % len(books)], i)
            for report in venue.submit(req, i):
                if report.fill is not None:
                    filled += 1
    assert all(o.status.value == "FILLED" for o in venue.orders.values())
    result.update(
        {
            "orders": n,
            "orders_per_s": t.rate(n),
            "order_cpu_us": t.cpu_us(n),
            "fills_per_order": round(filled / n, 3),
        }
    )


def adapter_config(level_size: str) -> PaperBrokerConfig:
    return PaperBrokerConfig(
        name="paper",
        account="main",
        symbols=["BTCUSDT"],
        starting_cash={"USDT": Decimal(10) ** 15},
        market={"autorun": False, "symbols": {"BTCUSDT": {"level_size": level_size}}},
        latency={"enabled": False},
        checks={"short_selling": True, "max_open_orders": RESTING * 2},
    )


async def bench_adapter_orders(n: int, result: Result) -> None:
    progress(f"paper: {n:,} market orders through PaperBroker.place (MemoryBus, no latency)")
    bus = MemoryBus()
    await bus.start()
    # A deep book, so that no order runs out of liquidity.
    broker = PaperBroker(adapter_config("1000"), bus)
    await broker.connect()
    stream = bus.layout.exec("paper", "main")
    before = len(await bus.read(stream))
    requests = [
        request(i, Side.BUY if i % 2 == 0 else Side.SELL, OrderType.MARKET) for i in range(n)
    ]
    t = Timing()
    with frozen_heap(), t.measure():
        for req in requests:
            await broker.place(req)
    events = len(await bus.read(stream)) - before
    assert broker.metrics.fills >= n
    await broker.close()
    await bus.close()
    result.update(
        {
            "adapter_orders": n,
            "adapter_orders_per_s": t.rate(n),
            "adapter_order_cpu_us": t.cpu_us(n),
            "adapter_events_per_order": round(events / n, 2),
        }
    )


async def bench_adapter_books(books: list[MarketBook], seed: int, result: Result) -> None:
    progress(f"paper: {len(books):,} books through PaperBroker.on_market_data")
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(adapter_config(str(SPEC.level_size)), bus)
    await broker.connect()
    resting = RestingOrders(seed)
    for req in resting.requests(books[0], RESTING):
        await broker.place(req.model_copy(update={"client_order_id": f"a{req.client_order_id}"}))
    feed = [
        Book(
            instrument=KEY,
            bids=tuple(BookLevel(price=p, size=s) for p, s in b.bids),
            asks=tuple(BookLevel(price=p, size=s) for p, s in b.asks),
        )
        for b in books
    ]
    t = Timing()
    with frozen_heap(), t.measure():
        for book in feed:
            await broker.on_market_data(book)
        await broker.settle()
    await broker.close()
    await bus.close()
    result.update(
        {
            "adapter_book_updates": len(feed),
            "adapter_book_updates_per_s": t.rate(len(feed)),
            "adapter_book_update_cpu_us": t.cpu_us(len(feed)),
        }
    )


def run(args: argparse.Namespace) -> Result:
    result: Result = {
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "loadavg_1m_start": round(os.getloadavg()[0], 2),
        "seed": args.seed,
    }
    progress(f"paper: making {args.book_updates:,} synthetic books")
    books, made_rate = make_books(args.book_updates, args.seed)
    result["market_books_per_s"] = made_rate
    bench_book_updates(books, args.seed, result)
    bench_book_updates(books, args.seed, result, "queue")
    bench_book_updates(books, args.seed, result, "busy")
    bench_core_orders(args.orders, books, result)
    asyncio.run(bench_adapter_orders(args.adapter_orders, result))
    asyncio.run(bench_adapter_books(books[: args.adapter_book_updates], args.seed, result))
    targets: dict[str, Any] = {}
    for key, (op, threshold) in TARGETS.items():
        value = float(result[key])
        ok = value >= threshold if op == ">=" else value < threshold
        targets[key] = {"op": op, "threshold": threshold, "value": value, "pass": ok}
    result["targets"] = targets
    result["targets_met"] = all(t["pass"] for t in targets.values())
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    return result


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--book-updates", type=positive_int, default=100_000, help="book updates (100000)"
    )
    parser.add_argument(
        "--orders", type=positive_int, default=50_000, help="orders in the core (50000)"
    )
    parser.add_argument(
        "--adapter-orders",
        type=positive_int,
        default=5_000,
        help="orders through PaperBroker.place (5000)",
    )
    parser.add_argument(
        "--adapter-book-updates",
        type=positive_int,
        default=5_000,
        help="books through PaperBroker.on_market_data (5000)",
    )
    parser.add_argument("--seed", type=int, default=7, help="market and order seed (7)")


def render(result: Result) -> str:
    def row(label: str, key: str, cpu_key: str) -> tuple[str, str, str]:
        return (label, fmt_value(result[key]), fmt_value(result[cpu_key]))

    table = render_rows(
        [
            row(
                f"core: book updates, ~{RESTING:,} resting orders",
                "book_updates_per_s",
                "book_update_cpu_us",
            ),
            (
                "  same, queue-position model",
                fmt_value(result["book_updates_queue_model_per_s"]),
                "",
            ),
            (
                "  same, orders 1..10 steps from the touch",
                fmt_value(result["book_updates_busy_per_s"]),
                "",
            ),
            row("core: orders, submit to fill", "orders_per_s", "order_cpu_us"),
            row(
                "adapter: PaperBroker.place (MemoryBus)",
                "adapter_orders_per_s",
                "adapter_order_cpu_us",
            ),
            row(
                "adapter: on_market_data (MemoryBus)",
                "adapter_book_updates_per_s",
                "adapter_book_update_cpu_us",
            ),
        ],
        ("path", "per s", "cpu us/op"),
    )
    targets = render_rows(
        [
            (
                key,
                f"{t['op']} {fmt_value(t['threshold'])}",
                fmt_value(t["value"]),
                "pass" if t["pass"] else "FAIL",
            )
            for key, t in result["targets"].items()
        ],
        ("target", "wanted", "measured", ""),
    )
    notes = (
        f"resting orders min/avg: {result['resting_orders_min']}/{result['resting_orders_avg']}, "
        f"reports during book updates: {result['book_update_reports']:,} "
        f"(busy: {result['book_update_busy_reports']:,}), "
        f"fills per order: {result['fills_per_order']}, "
        f"adapter events per order: {result['adapter_events_per_order']}, "
        f"synthetic books made: {fmt_value(result['market_books_per_s'])}/s"
    )
    return "\n\n".join([table, targets, notes])


COMMAND = Command(
    name="paper",
    help="paper simulator: book updates with 1,000 resting orders, orders submit to fill",
    add_arguments=add_arguments,
    run=run,
    render=render,
)
