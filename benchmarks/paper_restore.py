"""`python -m benchmarks paper_restore`: the paper venue's rebuild from a long journal.

On connect the paper adapter rebuilds its venue from its execution journal
(`brokers/paper/journal.py`). This writes a realistic journal into a throwaway
redis-server (or `--redis-url`, under a fresh key prefix that is deleted afterwards):
`--orders` orders placed through `PaperBroker.place` on a `MemoryBus` (latency off),
mostly market orders that fill at once (request, PENDING_NEW, NEW, fill(s), FILLED,
position, balance), and every 600th a limit far from the market that stays working;
the entries are then copied to Redis as they were encoded.

Then, alternating for `--rounds` rounds, each in a fresh process:

- `replay`: the same stream read and decoded by `bus.replay()`, nothing applied (the
  reference: what reading the journal costs by itself);
- `restore`: `restore_from_journal` into a fresh `PaperVenue`;
- `restore_other` (with `--other-python`, e.g. a checkout of main's venv): the same
  restore by another checkout's code, for before/after figures in the same period.

Figures per mode (median of the rounds): wall and CPU seconds, RSS before, the peak
during the phase (VmHWM reset at its start), and the orders the venue holds after.
`restore_extra_peak_mb` is the restore's peak above the replay's, the memory the
rebuild itself needs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce
from silvertine_tui.events import encode

from ._cli import Command, Result, fmt_value, progress, render_rows
from ._redis import redis_server

CHILD = Path(__file__).with_name("_paper_restore_child.py")
KEY = "BTCUSDT.PAPER"


def config() -> PaperBrokerConfig:
    # The child builds the same one (it must run on other checkouts too).
    return PaperBrokerConfig(
        name="paper",
        account="main",
        symbols=["BTCUSDT"],
        starting_cash={"USDT": Decimal(10) ** 15},
        market={"autorun": False},
        latency={"enabled": False},
        checks={"short_selling": True, "max_open_orders": 10_000},
    )


async def make_journal(url: str, prefix: str, orders: int, result: Result) -> int:
    from redis.asyncio import Redis

    bus = MemoryBus(BusOptions(prefix=prefix))
    await bus.start()
    broker = PaperBroker(config(), bus)
    await broker.connect()
    for i in range(orders):
        if i % 20 == 0:
            await broker.step(1)  # fresh liquidity now and then
        mid = broker.venue.mid(KEY)
        assert mid is not None
        if i % 600 == 599:
            side, kind, price, tif = (
                Side.BUY,
                OrderType.LIMIT,
                (mid / 2).quantize(Decimal("0.01")),
                TimeInForce.GTC,
            )
        else:
            side = Side.BUY if i % 2 else Side.SELL
            kind, price, tif = OrderType.MARKET, None, TimeInForce.IOC
        await broker.place(
            OrderRequest(
                client_order_id=f"r{i:08d}",
                broker="paper",
                account="main",
                instrument=KEY,
                side=side,
                order_type=kind,
                quantity=Decimal("0.01"),
                limit_price=price,
                tif=tif,
            )
        )
        if i % 10_000 == 9_999:
            progress(f"paper_restore: {i + 1:,} of {orders:,} orders placed")
    await broker.close()
    # What the live venue and adapter hold after the day (the old code: every order).
    result["live_venue_orders"] = len(broker.venue.orders)
    result["live_venue_archived"] = getattr(broker.venue, "archived", 0)
    result["live_published_execs"] = len(broker._published_execs)
    result["live_published_status"] = len(broker._published_status)
    stream = bus.layout.exec("paper", "main")
    raw = Redis.from_url(url)
    written = 0
    try:
        pipe = raw.pipeline(transaction=False)
        async for entry in bus.replay(stream):
            pipe.xadd(stream, encode(entry.event))  # type: ignore[arg-type]
            written += 1
            if written % 2_000 == 0:
                await pipe.execute()
                pipe = raw.pipeline(transaction=False)
        await pipe.execute()
    finally:
        await raw.aclose()
    await bus.close()
    return written


async def drop_prefix(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    raw = Redis.from_url(url)
    try:
        keys = [k async for k in raw.scan_iter(match=f"{prefix}:*")]
        if keys:
            await raw.delete(*keys)
    finally:
        await raw.aclose()


def child(python: str, url: str, prefix: str, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [python, str(CHILD), url, prefix, mode],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    )
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run(args: argparse.Namespace) -> Result:
    result: Result = {
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count() or 0,
        "loadavg_1m_start": round(os.getloadavg()[0], 2),
        "orders": args.orders,
        "rounds": args.rounds,
    }
    prefix = f"paper-restore-bench-{os.getpid()}"
    modes = [("replay", sys.executable), ("restore", sys.executable)]
    if args.other_python:
        modes.append(("restore_other", args.other_python))
    with redis_server(args.redis_url) as url:
        try:
            progress(f"paper_restore: writing a journal of {args.orders:,} orders")
            result["entries"] = asyncio.run(make_journal(url, prefix, args.orders, result))
            runs: dict[str, list[dict[str, Any]]] = {m: [] for m, _ in modes}
            for r in range(args.rounds):
                for mode, python in modes:
                    progress(f"paper_restore: round {r + 1}/{args.rounds}: {mode}")
                    one = child(python, url, prefix, mode.removesuffix("_other"))
                    one["load_1m"] = round(os.getloadavg()[0], 2)
                    runs[mode].append(one)
        finally:
            if args.redis_url:
                asyncio.run(drop_prefix(url, prefix))
    for mode, measured in runs.items():
        for key in ("seconds", "cpu_s", "rss_before_mb", "peak_mb", "rss_after_mb"):
            result[f"{mode}_{key}"] = round(statistics.median(m[key] for m in measured), 3)
        last = measured[-1]
        for key in ("venue_orders", "restored_orders", "working_orders", "peak_orders"):
            if key in last:
                result[f"{mode}_{key}"] = last[key]
        result[f"{mode}_runs"] = measured
    for mode, _ in modes[1:]:
        result[f"{mode}_extra_peak_mb"] = round(
            result[f"{mode}_peak_mb"] - result["replay_peak_mb"], 1
        )
        result[f"{mode}_vs_replay_time"] = round(
            result[f"{mode}_seconds"] / result["replay_seconds"], 2
        )
    result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--orders", type=int, default=60_000, help="orders journaled (60000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (3)")
    parser.add_argument(
        "--other-python",
        default="",
        help="interpreter of another checkout (e.g. main's .venv/bin/python): its restore too",
    )
    parser.add_argument(
        "--redis-url", default="", help="an existing server (default: a throwaway one)"
    )


def render(result: Result) -> str:
    modes = ["replay", "restore"] + (["restore_other"] if "restore_other_seconds" in result else [])
    rows = [
        (
            mode,
            fmt_value(result[f"{mode}_seconds"]),
            fmt_value(result[f"{mode}_cpu_s"]),
            fmt_value(result[f"{mode}_rss_before_mb"]),
            fmt_value(result[f"{mode}_peak_mb"]),
            fmt_value(result[f"{mode}_rss_after_mb"]),
            str(result.get(f"{mode}_venue_orders", "")),
        )
        for mode in modes
    ]
    table = render_rows(
        rows, ("mode", "wall s", "cpu s", "rss before MB", "peak MB", "after MB", "orders held")
    )
    return (
        f"live after the day: {result['live_venue_orders']:,} orders held by the venue "
        f"({result['live_venue_archived']:,} archived), "
        f"{result['live_published_execs']:,} exec ids and "
        f"{result['live_published_status']:,} statuses remembered by the adapter\n"
        f"{result['entries']:,} journal entries, {result['orders']:,} orders; "
        f"load {result['loadavg_1m_start']} -> {result['loadavg_1m_end']}\n\n{table}"
    )


COMMAND = Command(
    name="paper_restore",
    help="paper venue rebuilt from a 60k-order journal on Redis: time and RSS vs plain replay",
    add_arguments=add_arguments,
    run=run,
    render=render,
)
