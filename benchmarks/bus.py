"""`python -m benchmarks bus`: the event bus against raw redis-py, on one Redis server.

Every figure comes from one process and one run against the same server:

- throughput: raw redis-py (awaited XADDs; pipelines of `--pipeline`, by default the
  bus's own depth, `BusOptions.pipeline_size`), `RedisBus` (market data, coalesced and
  pipelined; execution events, each awaited) and `MemoryBus`. Raw and bus paths run in
  interleaved rounds, after a warm-up each, and write the very same events
  (`silvertine_tui.events.encode` bytes). Raw paths encode inside the timed loop like
  the bus does; `raw_pipeline_preencoded_per_s` shows the transport alone.
  Each path also reports its CPU time per event (`*_cpu_us_per_event`), steadier than
  wall time on a shared machine.
- latency: a paced producer (absolute schedule, no sleep drift) publishes at
  `--latency-rate`; latency runs from each event's *scheduled* send time to the moment
  the consumer has it, so an event queued behind a producer that fell behind schedule
  is charged with that wait (the achieved rate is reported beside it).
  `tail_latency_*` / `md_tail_latency_*`: `bus.tail()` runs in a separate process with
  its own bus; `raw_xread_tail_*`: the baseline, stock redis-py awaited XADDs read by
  XREAD BLOCK in another process, same events, same rate, same schedule;
  `ratio_tail_vs_raw` compares the p99s. `inproc_*`: the tail shares the producer's
  event loop, as in a single-process app.
- replay: `--events` execution events written by raw pipelines, then read with
  `bus.replay()` (every entry must decode) and, beside it in alternating rounds, with
  stock redis-py XRANGE pages of the same size (`raw_xrange_per_s`, no decoding of ours).
  In the same rounds, what bounds replay: the same pages with the replies left as
  hiredis parsed them (`xrange_transport_per_s`) and pydantic's validation of the same
  payloads alone (`payload_validation_per_s`); `ratio_replay_ceiling_vs_raw_xrange` is
  the ratio a replay doing nothing but those two would reach, and
  `ratio_replay_vs_raw_xrange_cpu` the target's comparison in client CPU per event.
  The same pages decoded by the bus's codec with nothing yielded (`xrange_decode_per_s`)
  split replay's client CPU into stages (`replay_stage_cpu_us`): transport, payload
  validation, header checks and envelope, and the entry, `yield` and consumer.

Before each timed phase the heap is frozen (`gc.freeze()`), so full collections of the
start-up heap and of the benchmark's own inputs are not charged to the bus;
`--no-gc-freeze` shows what they cost.

Keys live under a unique `bench:<pid>:<random>` prefix and are deleted afterwards; with
no `--redis-url` a throwaway redis-server is started and stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import importlib.metadata
import multiprocessing
import os
import platform
import secrets
import subprocess
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar, cast

import redis
from pydantic import TypeAdapter
from redis.asyncio import Redis

from silvertine_tui.bus import BusEntry, BusOptions, EventBus, MemoryBus, create_bus
from silvertine_tui.domain import OrderStatus, OrderUpdate, Quote
from silvertine_tui.events import EventBase, OrderUpdateEvent, QuoteEvent, decode_flat, encode

from ._cli import Command, Result, Timing, fmt_value, percentile, progress, render_rows
from ._redis import redis_server

TARGETS: dict[str, tuple[str, float]] = {
    # Ratios against raw redis-py doing the same work in the same run: absolute figures
    # vary two-fold between machines of the same kind, the ratios do not.
    "ratio_md_vs_raw": (">=", 0.9),
    "ratio_replay_vs_raw_xrange": (">=", 0.6),
    "ratio_tail_vs_raw": ("<=", 1.5),
}

FieldMap = dict[bytes, bytes]

REPLAY_BATCH = 5_000
"""Entries per XRANGE page: `EventBus.replay`'s default, used by the raw pages too."""


@dataclass(frozen=True, slots=True)
class Config:
    events: int
    awaited_events: int
    latency_events: int
    latency_rate: float
    rounds: int
    pipeline: int
    warmup: int


# -- events ----------------------------------------------------------------------------


def make_quotes(n: int, source: str, tag: str) -> list[QuoteEvent]:
    """Quotes with a distinct instrument each, so coalescing cannot drop any."""
    now = time.time_ns()
    out = []
    for i in range(n):
        cents = 6_400_000 + (i * 7919) % 100_000
        bid = Decimal(cents).scaleb(-2)
        quote = Quote(
            instrument=f"{tag}{i:07d}USDT.BINANCE",
            bid=bid,
            ask=bid + Decimal("0.10"),
            bid_size=Decimal("1.250"),
            ask_size=Decimal("0.875"),
            last=bid + Decimal("0.05"),
            venue_ts_ns=now + i,
        )
        out.append(QuoteEvent.create(source, quote))
    return out


def iter_order_updates(n: int, source: str, tag: str) -> Iterator[OrderUpdateEvent]:
    now = time.time_ns()
    for i in range(n):
        update = OrderUpdate(
            client_order_id=f"{tag}-{i:012d}",
            status=OrderStatus.PARTIALLY_FILLED,
            venue_order_id=f"V{8_800_000_000 + i}",
            filled_qty=Decimal(i % 97 + 1).scaleb(-3),
            avg_price=Decimal(6_432_120 + i % 1000).scaleb(-2),
            limit_price=Decimal("64330.00"),
            venue_ts_ns=now + i,
        )
        yield OrderUpdateEvent.create(source, update)


def make_order_updates(n: int, source: str, tag: str) -> list[OrderUpdateEvent]:
    return list(iter_order_updates(n, source, tag))


def payload_bytes(event: EventBase) -> int:
    return sum(len(k) + len(v) for k, v in encode(event).items())


GC_FREEZE = True
"""Freeze the heap (`gc.freeze()`) before each timed phase; `--no-gc-freeze` turns it off."""


@contextlib.contextmanager
def frozen_inputs() -> Iterator[None]:
    """Keep the start-up heap and the pre-built inputs out of the collector's way.

    A full collection scans every tracked object: here the imported modules and pydantic
    schemas plus the benchmark's own 100k pre-built events. An application holds no
    such input lists; and it should freeze its start-up heap (one full collection of it
    costs ~15 ms on this machine, see `--no-gc-freeze`). Either way the pause is not
    the bus's doing, so by default it is kept out of what the bus is charged with.
    """
    if not GC_FREEZE:
        yield
        return
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


T = TypeVar("T")


def chunks(items: Sequence[T], parts: int) -> list[Sequence[T]]:
    size = -(-len(items) // parts)
    return [items[i : i + size] for i in range(0, len(items), size)]


# -- timed paths -------------------------------------------------------------------------


async def raw_naive(client: Redis, stream: str, events: Iterable[EventBase], t: Timing) -> None:
    with t.measure():
        for event in events:
            await client.xadd(stream, encode(event))  # type: ignore[arg-type]


async def raw_pipeline(
    client: Redis,
    stream: str,
    events: Sequence[EventBase],
    size: int,
    maxlen: int | None,
    t: Timing,
) -> None:
    with t.measure():
        for i in range(0, len(events), size):
            pipe = client.pipeline(transaction=False)
            for event in events[i : i + size]:
                pipe.xadd(stream, encode(event), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()


async def raw_pipeline_fields(
    client: Redis, stream: str, fields: Sequence[FieldMap], size: int, maxlen: int | None, t: Timing
) -> None:
    with t.measure():
        for i in range(0, len(fields), size):
            pipe = client.pipeline(transaction=False)
            for entry in fields[i : i + size]:
                pipe.xadd(stream, entry, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
            await pipe.execute()


async def bus_publish_then_flush(bus: EventBus, events: Iterable[EventBase], t: Timing) -> None:
    with t.measure():
        for event in events:
            await bus.publish(event)
        await bus.flush()


async def bus_publish_awaited(bus: EventBus, events: Iterable[EventBase], t: Timing) -> int:
    written = 0
    with t.measure():
        for event in events:
            if await bus.publish(event) is not None:
                written += 1
    return written


# -- latency -----------------------------------------------------------------------------


@dataclass(slots=True)
class LatencyRun:
    consumer: str = ""
    samples_us: list[float] = field(default_factory=list)
    sent: int = 0
    produce_s: float = 0.0
    max_behind_us: float = 0.0

    def merge(self, other: LatencyRun) -> LatencyRun:
        """Two runs of the same path (rounds) as one: samples pooled, rates summed."""
        return LatencyRun(
            consumer=self.consumer,
            samples_us=[*self.samples_us, *other.samples_us],
            sent=self.sent + other.sent,
            produce_s=self.produce_s + other.produce_s,
            max_behind_us=max(self.max_behind_us, other.max_behind_us),
        )

    def summary(self) -> dict[str, float | int | str]:
        ordered = sorted(self.samples_us)
        return {
            "consumer": self.consumer,
            "samples": len(ordered),
            "missing": self.sent - len(ordered),
            "p50_us": percentile(ordered, 50),
            "p90_us": percentile(ordered, 90),
            "p99_us": percentile(ordered, 99),
            "p999_us": percentile(ordered, 99.9),
            "max_us": ordered[-1] if ordered else float("nan"),
            "achieved_rate_per_s": self.sent / self.produce_s if self.produce_s else 0.0,
            "max_behind_schedule_us": self.max_behind_us,
        }


async def produce_paced(
    publish: Callable[[EventBase], Awaitable[object]],
    batch: Sequence[EventBase],
    rate: float,
    sent_at: dict[str, float],
    run: LatencyRun,
) -> None:
    """Publish `batch` on a steady schedule at `rate`, noting when each was due.

    The schedule is absolute (`start + i / rate`): a late wake-up is caught up, never
    added to every later event. Whatever is due goes out at once; then the producer
    sleeps until the next due time. asyncio timers have a 1 ms granularity, so at 5k/s
    events leave in small bursts of ~5 per millisecond, at the exact average rate.
    Spinning instead would burn a whole core, which on a 2-core machine starves the
    Redis server and the consumer and inflates the very latency being measured.
    """
    interval = 1.0 / rate
    start = time.perf_counter() + 0.005
    for i, event in enumerate(batch):
        target = start + i * interval
        now = time.perf_counter()
        if now < target:
            await asyncio.sleep(target - now)
            now = time.perf_counter()
        run.max_behind_us = max(run.max_behind_us, (now - target) * 1e6)
        # From the scheduled time, not from when the publish began: an event that
        # waits behind a slow producer has waited, and that wait is part of its latency.
        sent_at[event.event_id] = target
        await publish(event)
    run.produce_s = time.perf_counter() - start
    run.sent = len(batch)


async def latency_in_process(
    bus: EventBus, stream: str, warm: Sequence[EventBase], events: Sequence[EventBase], rate: float
) -> LatencyRun:
    """Producer and `tail` share this event loop (and this core)."""
    sent_at: dict[str, float] = {}
    run = LatencyRun(consumer="same event loop")
    measured = {event.event_id for event in events}
    expected = len(warm) + len(events)
    warm_done = asyncio.Event()
    all_done = asyncio.Event()

    async def consume() -> None:
        seen = 0
        tail = cast(AsyncGenerator[BusEntry, None], bus.tail({stream: "0-0"}))
        async with contextlib.aclosing(tail) as entries:
            async for entry in entries:
                now = time.perf_counter()
                event_id = getattr(entry.event, "event_id", "")
                started = sent_at.pop(event_id, None)
                if started is not None and event_id in measured:
                    run.samples_us.append((now - started) * 1e6)
                seen += 1
                if seen == len(warm):
                    warm_done.set()
                if seen >= expected:
                    all_done.set()
                    return

    consumer = asyncio.create_task(consume(), name="bench-tail")
    try:
        await produce_paced(bus.publish, warm, rate, sent_at, LatencyRun())
        await asyncio.wait_for(warm_done.wait(), 30)
        with frozen_inputs():
            await produce_paced(bus.publish, events, rate, sent_at, run)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_done.wait(), 10)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
    return run


def _tail_child(
    url: str,
    prefix: str,
    stream: str,
    warm: int,
    total: int,
    timeout: float,
    gc_freeze: bool,
    conn: Connection,
) -> None:
    """Entry point of the consumer process (spawned: no inherited event loop)."""
    global GC_FREEZE
    GC_FREEZE = gc_freeze
    asyncio.run(_tail_child_main(url, prefix, stream, warm, total, timeout, conn))


async def _tail_child_main(
    url: str, prefix: str, stream: str, warm: int, total: int, timeout: float, conn: Connection
) -> None:
    bus = create_bus(url, BusOptions(prefix=prefix))
    await bus.start()
    received: list[tuple[str, float]] = []

    async def consume() -> None:
        tail = cast(AsyncGenerator[BusEntry, None], bus.tail({stream: "0-0"}))
        async with contextlib.aclosing(tail) as entries:
            async for entry in entries:
                received.append((getattr(entry.event, "event_id", ""), time.perf_counter()))
                if len(received) == warm:
                    conn.send(("warm", warm))
                if len(received) >= total:
                    return

    try:
        with frozen_inputs():
            conn.send(("ready", 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consume(), timeout)
    finally:
        await bus.close()
        conn.send(("done", received[warm:]))
        conn.close()


async def _expect(conn: Connection, what: str, timeout: float) -> Any:
    if not await asyncio.to_thread(conn.poll, timeout):
        raise RuntimeError(f"latency consumer process: no {what!r} within {timeout:.0f} s")
    try:
        tag, value = conn.recv()
    except EOFError:
        raise RuntimeError(f"latency consumer process exited before sending {what!r}") from None
    if tag != what:
        raise RuntimeError(f"latency consumer process sent {tag!r}, expected {what!r}")
    return value


async def _raw_tail_child_main(
    url: str, stream: str, warm: int, total: int, timeout: float, conn: Connection
) -> None:
    """The baseline consumer: stock redis-py XREAD BLOCK, no decoding of ours."""
    client = Redis.from_url(url, decode_responses=False)
    received: list[tuple[str, float]] = []

    async def consume() -> None:
        last = "0-0"
        while len(received) < total:
            reply: Any = await client.xread({stream: last}, count=1_000, block=1_000)
            replies = reply.items() if isinstance(reply, dict) else reply or []
            for _, entries in replies:
                for entry_id, fields in entries:
                    received.append((fields[b"id"].decode(), time.perf_counter()))
                    if len(received) == warm:
                        conn.send(("warm", warm))
                    last = entry_id

    try:
        with frozen_inputs():
            conn.send(("ready", 0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consume(), timeout)
    finally:
        await client.aclose()
        conn.send(("done", received[warm:]))
        conn.close()


def _raw_tail_child(
    url: str,
    prefix: str,
    stream: str,
    warm: int,
    total: int,
    timeout: float,
    gc_freeze: bool,
    conn: Connection,
) -> None:
    global GC_FREEZE
    GC_FREEZE = gc_freeze
    asyncio.run(_raw_tail_child_main(url, stream, warm, total, timeout, conn))


ChildMain = Callable[[str, str, str, int, int, float, bool, Connection], None]


async def latency_other_process(
    url: str,
    prefix: str,
    publish: Callable[[EventBase], Awaitable[object]],
    stream: str,
    warm: Sequence[EventBase],
    events: Sequence[EventBase],
    rate: float,
    child: ChildMain = _tail_child,
) -> LatencyRun:
    """`tail` runs in a separate process with its own bus, as another component would
    (or, with `child=_raw_tail_child`, a stock redis-py XREAD BLOCK loop).

    Both processes stamp with `time.perf_counter` (CLOCK_MONOTONIC on Linux, one clock
    for the whole machine), so the difference is a true schedule-to-yield latency.
    """
    run = LatencyRun(consumer="separate process")
    ctx = multiprocessing.get_context("spawn")
    recv_conn, send_conn = ctx.Pipe(duplex=False)
    total = len(warm) + len(events)
    timeout = total / rate + 60
    proc = ctx.Process(
        target=child,
        args=(url, prefix, stream, len(warm), total, timeout, GC_FREEZE, send_conn),
        name="bench-tail",
        daemon=True,
    )
    proc.start()
    send_conn.close()
    sent_at: dict[str, float] = {}
    try:
        await _expect(recv_conn, "ready", 60)
        await produce_paced(publish, warm, rate, {}, LatencyRun())
        await _expect(recv_conn, "warm", 30)
        with frozen_inputs():
            await produce_paced(publish, events, rate, sent_at, run)
        received: list[tuple[str, float]] = await _expect(recv_conn, "done", timeout)
    finally:
        recv_conn.close()
        await asyncio.to_thread(proc.join, 10)
        if proc.is_alive():
            proc.terminate()
            await asyncio.to_thread(proc.join, 5)
    for event_id, seen in received:
        started = sent_at.get(event_id)
        if started is not None:
            run.samples_us.append((seen - started) * 1e6)
    return run


# -- helpers -----------------------------------------------------------------------------


async def entries_added(client: Redis, stream: str) -> int:
    info = await client.xinfo_stream(stream)
    return int(info.get("entries-added") or 0)


async def delete_prefix(client: Redis, prefix: str) -> int:
    deleted = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=1_000):
        batch.append(key)
        if len(batch) >= 500:
            deleted += await client.unlink(*batch)
            batch.clear()
    if batch:
        deleted += await client.unlink(*batch)
    return deleted


def code_fingerprint() -> dict[str, str]:
    """Which bus and codec code was measured: a hash of their sources, and git's view."""
    import silvertine_tui.bus
    import silvertine_tui.events

    digest = hashlib.sha256()
    dirs = [
        Path(m.__file__).parent for m in (silvertine_tui.bus, silvertine_tui.events) if m.__file__
    ]
    for path in sorted(p for d in dirs for p in d.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    out = {"bus_code_sha256": digest.hexdigest()[:16], "git_head": "?", "bus_code_dirty": "?"}
    root = dirs[0].parents[1] if dirs else Path.cwd()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", *map(str, dirs)],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        out["git_head"] = head.stdout.strip()
        out["bus_code_dirty"] = "yes" if status.stdout.strip() else "no"
    return out


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


# -- the run -----------------------------------------------------------------------------


async def measure(url: str, cfg: Config) -> Result:
    prefix = f"bench:{os.getpid()}:{secrets.token_hex(4)}"
    raw = Redis.from_url(url, decode_responses=False)
    options = BusOptions(prefix=prefix)
    bus = create_bus(url, options)
    result: Result = {}
    try:
        server = await raw.info("server")
        result.update(
            {
                "python_version": platform.python_version(),
                "redis_py_version": redis.__version__,
                "hiredis_version": version_of("hiredis"),
                "hiredis_parser": bool(getattr(redis.utils, "HIREDIS_AVAILABLE", False)),
                "redis_server_version": str(server.get("redis_version", "?")),
                "redis_url": url.split("@")[-1],
                "cpu_count": os.cpu_count() or 0,
                "events": cfg.events,
                "awaited_events": cfg.awaited_events,
                "latency_events": cfg.latency_events,
                "rounds": cfg.rounds,
                "pipeline": cfg.pipeline,
                "key_prefix": prefix,
                "gc_freeze": GC_FREEZE,
                **code_fingerprint(),
                "loadavg_1m_start": round(os.getloadavg()[0], 2),
            }
        )
        await bus.start()
        await market_data_throughput(raw, bus, options, prefix, cfg, result)
        await execution_throughput(raw, bus, prefix, cfg, result)
        await latency(raw, bus, url, prefix, cfg, result)
        await replay(raw, bus, url, prefix, cfg, result)
        result["ratio_md_vs_raw"] = result["bus_md_publish_per_s"] / result["raw_pipeline_per_s"]
        result["ratio_exec_vs_naive"] = (
            result["bus_exec_publish_per_s"] / result["naive_xadd_per_s"]
        )
        targets: dict[str, Any] = {}
        for key, (op, threshold) in TARGETS.items():
            value = float(result[key])
            ok = {">=": value >= threshold, "<=": value <= threshold, "<": value < threshold}[op]
            targets[key] = {"op": op, "threshold": threshold, "value": value, "pass": ok}
        result["targets"] = targets
        result["loadavg_1m_end"] = round(os.getloadavg()[0], 2)
        result["targets_met"] = all(t["pass"] for t in targets.values())
    finally:
        with contextlib.suppress(Exception):
            await bus.close()
        try:
            result["keys_deleted"] = await delete_prefix(raw, prefix)
        finally:
            await raw.aclose()
    return result


async def market_data_throughput(
    raw: Redis, bus: EventBus, options: BusOptions, prefix: str, cfg: Config, result: Result
) -> None:
    progress(f"bus: building {cfg.events:,} quotes")
    quotes = make_quotes(cfg.events, "bench", "Q")
    warm = make_quotes(cfg.warmup, "warm", "W")
    fields = [encode(q) for q in quotes]
    result["md_payload_bytes"] = payload_bytes(quotes[0])
    raw_stream = f"{prefix}:raw:md"
    raw_enc_stream = f"{prefix}:raw:md-preencoded"
    bus_stream = bus.layout.md("bench")
    maxlen = options.md_maxlen  # the raw paths trim like the bus does
    t_raw, t_enc, t_bus = Timing(), Timing(), Timing()
    with frozen_inputs():
        progress("bus: market data warm-up")
        await raw_pipeline(raw, f"{prefix}:raw:warm", warm, cfg.pipeline, maxlen, Timing())
        await raw_pipeline_fields(
            raw, f"{prefix}:raw:warm", fields[: cfg.warmup], cfg.pipeline, maxlen, Timing()
        )
        await bus_publish_then_flush(bus, warm, Timing())
        md_before = bus.stats.published_md
        parts = zip(chunks(quotes, cfg.rounds), chunks(fields, cfg.rounds), strict=True)
        for n, (part, part_fields) in enumerate(parts):
            progress(f"bus: market data round {n + 1}/{cfg.rounds} ({len(part):,} events)")
            # Alternate who goes first, so a drift in machine load hits both sides.
            if n % 2 == 0:
                await raw_pipeline(raw, raw_stream, part, cfg.pipeline, maxlen, t_raw)
                await bus_publish_then_flush(bus, part, t_bus)
            else:
                await bus_publish_then_flush(bus, part, t_bus)
                await raw_pipeline(raw, raw_stream, part, cfg.pipeline, maxlen, t_raw)
            await raw_pipeline_fields(raw, raw_enc_stream, part_fields, cfg.pipeline, maxlen, t_enc)
    n_events = len(quotes)
    raw_added = await entries_added(raw, raw_stream)
    bus_added = await entries_added(raw, bus_stream)
    stats_md = bus.stats.published_md - md_before
    arrived = min(bus_added, stats_md, n_events)
    result.update(
        {
            "raw_pipeline_per_s": t_raw.rate(min(raw_added, n_events)),
            "raw_pipeline_preencoded_per_s": t_enc.rate(n_events),
            "bus_md_publish_per_s": t_bus.rate(arrived),
            "raw_pipeline_cpu_us_per_event": t_raw.cpu_us(n_events),
            "raw_pipeline_preencoded_cpu_us_per_event": t_enc.cpu_us(n_events),
            "bus_md_cpu_us_per_event": t_bus.cpu_us(n_events),
            "bus_md_events_sent": n_events,
            "bus_md_entries_added": bus_added,
            "bus_md_xlen": int(await raw.xlen(bus_stream)),
            "bus_md_stats_published": stats_md,
            "bus_md_coalesced": bus.stats.md_coalesced,
            "bus_md_dropped": bus.stats.md_dropped,
        }
    )
    if arrived < n_events:
        progress(f"bus: WARNING only {arrived:,} of {n_events:,} market data events arrived")


async def execution_throughput(
    raw: Redis, bus: EventBus, prefix: str, cfg: Config, result: Result
) -> None:
    n = cfg.awaited_events
    progress(f"bus: building {n:,} order updates")
    updates = make_order_updates(n, "bench/acct", "C")
    warm = make_order_updates(cfg.warmup, "warm/acct", "W")
    result["exec_payload_bytes"] = payload_bytes(updates[0])
    naive_stream = f"{prefix}:raw:exec"
    memory = MemoryBus(BusOptions(prefix=prefix))
    await memory.start()
    t_naive, t_bus, t_mem, t_mem_md = Timing(), Timing(), Timing(), Timing()
    with frozen_inputs():
        progress("bus: execution warm-up")
        await raw_naive(raw, f"{prefix}:raw:warm-exec", warm, Timing())
        await bus_publish_awaited(bus, warm, Timing())
        await bus_publish_awaited(memory, warm, Timing())
        written = 0
        for r, part in enumerate(chunks(updates, cfg.rounds)):
            progress(f"bus: execution round {r + 1}/{cfg.rounds} ({len(part):,} events)")
            if r % 2 == 0:
                await raw_naive(raw, naive_stream, part, t_naive)
                written += await bus_publish_awaited(bus, part, t_bus)
            else:
                written += await bus_publish_awaited(bus, part, t_bus)
                await raw_naive(raw, naive_stream, part, t_naive)
        progress("bus: memory bus")
        mem_written = await bus_publish_awaited(memory, updates, t_mem)
        quotes = make_quotes(min(n, 20_000), "mem", "M")
        await bus_publish_then_flush(memory, quotes, t_mem_md)
    await memory.close()
    naive_added = await entries_added(raw, naive_stream)
    result.update(
        {
            "naive_xadd_per_s": t_naive.rate(min(naive_added, n)),
            "bus_exec_publish_per_s": t_bus.rate(written),
            "memory_bus_publish_per_s": t_mem.rate(mem_written),
            "memory_bus_md_publish_per_s": t_mem_md.rate(len(quotes)),
            "naive_xadd_cpu_us_per_event": t_naive.cpu_us(n),
            "bus_exec_cpu_us_per_event": t_bus.cpu_us(n),
            "memory_bus_cpu_us_per_event": t_mem.cpu_us(n),
            "bus_exec_written": written,
        }
    )


async def latency(
    raw: Redis, bus: EventBus, url: str, prefix: str, cfg: Config, result: Result
) -> None:
    n, warm_n, pace = cfg.latency_events, min(cfg.warmup, 1_000), cfg.latency_rate
    runs: dict[str, LatencyRun] = {}

    def order_updates(
        tag: str, count: int
    ) -> tuple[str, list[OrderUpdateEvent], list[OrderUpdateEvent]]:
        stream = bus.layout.exec(tag, "acct")
        return (
            stream,
            make_order_updates(warm_n, f"{tag}/acct", "LW"),
            make_order_updates(count, f"{tag}/acct", "L"),
        )

    # Execution events into another process: the bus against its raw baseline, in
    # alternating halves (raw first, then bus first), so a drift in machine load hits
    # both sides alike.
    halves = [n // 2, n - n // 2]
    for half, count in enumerate(halves):
        order = ("raw", "exec") if half == 0 else ("exec", "raw")
        for kind in order:
            progress(
                f"bus: {kind} tail latency (process), half {half + 1}/2, "
                f"{count:,} events at {pace:,.0f}/s"
            )
            stream, warm_u, events_u = order_updates(f"{kind}process{half}", count)
            if kind == "raw":
                # The baseline: stock redis-py, one awaited XADD per event (encoded in
                # the loop, as the bus does), read by XREAD BLOCK in another process.
                async def raw_publish(event: EventBase, stream: str = stream) -> object:
                    return await raw.xadd(stream, encode(event))  # type: ignore[arg-type]

                part = await latency_other_process(
                    url, prefix, raw_publish, stream, warm_u, events_u, pace, _raw_tail_child
                )
            else:
                part = await latency_other_process(
                    url, prefix, bus.publish, stream, warm_u, events_u, pace
                )
            tag = f"{kind}process"
            runs[tag] = runs[tag].merge(part) if tag in runs else part
    for kind in ("exec", "md"):
        for where in ("process", "inproc"):
            if (kind, where) == ("exec", "process"):
                continue  # measured above, beside its baseline
            progress(f"bus: {kind} tail latency ({where}), {n:,} events at {pace:,.0f}/s")
            tag = f"{kind}{where}"
            warm: Sequence[EventBase]
            events: Sequence[EventBase]
            if kind == "exec":
                stream, warm, events = order_updates(tag, n)
            else:
                stream = bus.layout.md(tag)
                warm, events = make_quotes(warm_n, tag, "LW"), make_quotes(n, tag, "L")
            if where == "process":
                runs[tag] = await latency_other_process(
                    url, prefix, bus.publish, stream, warm, events, pace
                )
            else:
                runs[tag] = await latency_in_process(bus, stream, warm, events, pace)
    ex, md = runs["execprocess"].summary(), runs["mdprocess"].summary()
    ex_in, md_in = runs["execinproc"].summary(), runs["mdinproc"].summary()
    raw_ex = runs["rawprocess"].summary()
    result.update(
        {
            "tail_latency_p50_us": ex["p50_us"],
            "tail_latency_p99_us": ex["p99_us"],
            "tail_latency_achieved_rate_per_s": ex["achieved_rate_per_s"],
            "md_tail_latency_p50_us": md["p50_us"],
            "md_tail_latency_p99_us": md["p99_us"],
            "inproc_tail_latency_p50_us": ex_in["p50_us"],
            "inproc_tail_latency_p99_us": ex_in["p99_us"],
            "inproc_md_tail_latency_p50_us": md_in["p50_us"],
            "inproc_md_tail_latency_p99_us": md_in["p99_us"],
            "raw_xread_tail_p50_us": raw_ex["p50_us"],
            "raw_xread_tail_p99_us": raw_ex["p99_us"],
            "raw_xread_achieved_rate_per_s": raw_ex["achieved_rate_per_s"],
            "ratio_tail_vs_raw": float(ex["p99_us"]) / float(raw_ex["p99_us"]),
            "tail_latency_detail": ex,
            "md_tail_latency_detail": md,
            "inproc_tail_latency_detail": ex_in,
            "inproc_md_tail_latency_detail": md_in,
            "raw_xread_tail_detail": raw_ex,
        }
    )


async def raw_xrange(client: Redis, stream: str, batch: int, t: Timing) -> int:
    """Stock redis-py XRANGE pages, as `replay` pages (exclusive cursor, same COUNT)."""
    count = 0
    cursor = "0-0"
    with t.measure():
        while True:
            page: Any = await client.xrange(stream, f"({cursor}", "+", count=batch)
            count += len(page)
            if len(page) < batch:
                return count
            cursor = page[-1][0].decode()


async def xrange_transport(client: Redis, stream: str, batch: int, t: Timing) -> int:
    """The same XRANGE pages with the reply left as hiredis parsed it (no redis-py
    parsing, nothing decoded): what any reader pays before it looks at an entry."""
    count = 0
    cursor = "0-0"
    with t.measure():
        while True:
            page: Any = await client.execute_command(  # type: ignore[no-untyped-call]
                "XRANGE", stream, f"({cursor}", "+", "COUNT", batch
            )
            count += len(page)
            if len(page) < batch:
                return count
            cursor = page[-1][0].decode()


async def xrange_decode(client: Redis, stream: str, batch: int, t: Timing) -> tuple[int, int]:
    """The same pages as `xrange_transport`, each entry decoded by the bus's codec
    (`decode_flat`: header checks, payload validation, the envelope) and dropped: replay
    without its `BusEntry`, its `yield` and its consumer. Returns (entries, decoded ok)."""
    count = ok = 0
    cursor = "0-0"
    decode = decode_flat
    with t.measure():
        while True:
            page: Any = await client.execute_command(  # type: ignore[no-untyped-call]
                "XRANGE", stream, f"({cursor}", "+", "COUNT", batch
            )
            count += len(page)
            for _, flat in page:
                ok += decode(flat).ok
            if len(page) < batch:
                return count, ok
            cursor = page[-1][0].decode()


def validate_payloads(payloads: Sequence[bytes], t: Timing) -> int:
    """pydantic's validation of the payloads alone (the codec's own validator, JSON
    in, model out), no envelope, no I/O: what decoding cannot do without."""
    adapter = TypeAdapter(OrderUpdate)  # as the codec builds it, on first use:
    adapter.rebuild()  # OrderUpdate defers its build; `validator` is a stand-in until then
    validator = adapter.validator
    with t.measure():
        for payload in payloads:
            validator.validate_json(payload)
    return len(payloads)


async def bus_replay(bus: EventBus, stream: str, t: Timing) -> tuple[int, int]:
    count = ok = 0
    with t.measure():
        async for entry in bus.replay(stream):
            count += 1
            ok += entry.ok
    return count, ok


async def replay(
    raw: Redis, bus: EventBus, url: str, prefix: str, cfg: Config, result: Result
) -> None:
    n = cfg.events
    stream = bus.layout.exec("bench", "replay")
    progress(f"bus: writing {n:,} execution events for replay")
    batch: list[FieldMap] = []

    async def write(entries: list[FieldMap]) -> None:
        pipe = raw.pipeline(transaction=False)
        for entry in entries:
            pipe.xadd(stream, entry)  # type: ignore[arg-type]
        await pipe.execute()

    payloads: list[bytes] = []
    for event in iter_order_updates(n, "bench/replay", "R"):
        batch.append(encode(event))
        payloads.append(batch[-1][b"p"])
        if len(batch) == 1_000:
            await write(batch)
            batch = []
    if batch:
        await write(batch)
    # Warm the read and decode path on the latency stream (a few thousand entries).
    warm_stream = bus.layout.exec("execinproc", "acct")
    async for _ in bus.replay(warm_stream):
        pass
    await raw_xrange(raw, warm_stream, REPLAY_BATCH, Timing())
    # The floor, measured beside: a client whose XRANGE replies redis-py leaves raw.
    bare = Redis.from_url(url, decode_responses=False)
    bare.set_response_callback("XRANGE", lambda response, **_: response)
    await xrange_transport(bare, warm_stream, REPLAY_BATCH, Timing())
    await xrange_decode(bare, warm_stream, REPLAY_BATCH, Timing())
    t_bus, t_raw, t_bare, t_valid = Timing(), Timing(), Timing(), Timing()
    t_decode = Timing()
    counts: list[tuple[int, int]] = []
    decode_counts: list[tuple[int, int]] = []
    raw_counts: list[int] = []
    floor_counts: list[int] = []
    with frozen_inputs():
        for r in range(cfg.rounds):
            progress(f"bus: replay round {r + 1}/{cfg.rounds} ({n:,} events, raw XRANGE beside)")
            # Alternate who goes first, so a drift in machine load hits both sides.
            if r % 2 == 0:
                raw_counts.append(await raw_xrange(raw, stream, REPLAY_BATCH, t_raw))
                counts.append(await bus_replay(bus, stream, t_bus))
            else:
                counts.append(await bus_replay(bus, stream, t_bus))
                raw_counts.append(await raw_xrange(raw, stream, REPLAY_BATCH, t_raw))
            floor_counts.append(await xrange_transport(bare, stream, REPLAY_BATCH, t_bare))
            floor_counts.append(validate_payloads(payloads, t_valid))
            decode_counts.append(await xrange_decode(bare, stream, REPLAY_BATCH, t_decode))
    await bare.aclose()
    if any(c != n for c in floor_counts):
        raise RuntimeError(f"floor measurements read {floor_counts} entries; expected {n:,} each")
    for count, ok in counts + decode_counts:
        if count != n or ok != n:
            raise RuntimeError(f"replay read {count:,} entries, {ok:,} decoded ok; expected {n:,}")
    if any(c != n for c in raw_counts):
        raise RuntimeError(f"raw XRANGE read {raw_counts} entries; expected {n:,} each round")
    total = n * cfg.rounds
    result["replay_per_s"] = t_bus.rate(total)
    result["replay_cpu_us_per_event"] = t_bus.cpu_us(total)
    result["replay_events"] = n
    result["replay_rounds"] = cfg.rounds
    result["raw_xrange_per_s"] = t_raw.rate(total)
    result["raw_xrange_cpu_us_per_event"] = t_raw.cpu_us(total)
    result["ratio_replay_vs_raw_xrange"] = result["replay_per_s"] / result["raw_xrange_per_s"]
    # What bounds replay: its pages cannot come cheaper than `xrange_transport`, nor can
    # its entries decode cheaper than their payloads validate. A replay doing nothing
    # else (no envelope, no header, no yield) would reach `replay_ceiling_per_s`.
    result["xrange_transport_per_s"] = t_bare.rate(total)
    result["xrange_transport_cpu_us_per_event"] = t_bare.cpu_us(total)
    result["payload_validation_per_s"] = t_valid.rate(total)
    result["payload_validation_cpu_us_per_event"] = t_valid.cpu_us(total)
    ceiling = 1 / (1 / result["xrange_transport_per_s"] + 1 / result["payload_validation_per_s"])
    result["replay_ceiling_per_s"] = ceiling
    result["ratio_replay_ceiling_vs_raw_xrange"] = ceiling / result["raw_xrange_per_s"]
    # Where replay's client CPU goes, by stage (µs an entry, from the same rounds): the
    # pages (transport), the payloads' validation, the rest of the codec's decoding (the
    # header checks and the envelope: decoding the pages minus those two), and what
    # replay adds to decoding (the entry, the `yield`, the benchmark's consumer).
    result["xrange_decode_per_s"] = t_decode.rate(total)
    result["xrange_decode_cpu_us_per_event"] = t_decode.cpu_us(total)
    transport_cpu = result["xrange_transport_cpu_us_per_event"]
    validation_cpu = result["payload_validation_cpu_us_per_event"]
    decode_cpu = result["xrange_decode_cpu_us_per_event"]
    result["replay_stage_cpu_us"] = {
        "transport": transport_cpu,
        "payload_validation": validation_cpu,
        "header_and_envelope": decode_cpu - transport_cpu - validation_cpu,
        "entry_yield_and_consumer": result["replay_cpu_us_per_event"] - decode_cpu,
        "replay": result["replay_cpu_us_per_event"],
        "raw_xrange": result["raw_xrange_cpu_us_per_event"],
    }
    # The same comparison in client CPU per event (raw's over replay's): steadier than
    # the wall-time ratio when other work takes the cores, and blind to the server.
    result["ratio_replay_vs_raw_xrange_cpu"] = (
        result["raw_xrange_cpu_us_per_event"] / result["replay_cpu_us_per_event"]
    )


# -- command -----------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        help="Redis to measure against (default: start a throwaway redis-server)",
    )
    parser.add_argument(
        "--events",
        type=positive_int,
        default=100_000,
        help="events for the pipelined market data paths and for replay (default 100000)",
    )
    parser.add_argument(
        "--awaited-events",
        type=positive_int,
        help="events for the one-by-one awaited paths (default: min(events, 20000))",
    )
    parser.add_argument(
        "--latency-events",
        type=positive_int,
        help="samples per latency test (default: min(events, 10000))",
    )
    parser.add_argument("--latency-rate", type=float, default=5_000.0, help="events/s (5000)")
    parser.add_argument("--rounds", type=positive_int, default=3, help="interleaved rounds (3)")
    parser.add_argument(
        "--pipeline",
        type=positive_int,
        default=BusOptions().pipeline_size,
        help="raw pipeline size (default: the bus's own, %(default)s, so both batch alike)",
    )
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="do not gc.freeze() the start-up heap before timed phases (shows GC pauses)",
    )


def run(args: argparse.Namespace) -> Result:
    events: int = args.events
    cfg = Config(
        events=events,
        awaited_events=args.awaited_events or min(events, 20_000),
        latency_events=args.latency_events or min(events, 10_000),
        latency_rate=args.latency_rate,
        rounds=min(args.rounds, events),
        pipeline=args.pipeline,
        warmup=min(2_000, max(events // 10, 100)),
    )
    global GC_FREEZE
    GC_FREEZE = not args.no_gc_freeze
    started = time.perf_counter()
    with redis_server(args.redis_url) as url:
        progress(f"bus: measuring against {url.split('@')[-1]}")
        result = asyncio.run(measure(url, cfg))
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result


def render(result: Result) -> str:
    def row(label: str, key: str, cpu_key: str = "") -> tuple[str, str, str]:
        cpu = fmt_value(result[cpu_key]) if cpu_key in result else ""
        return (label, fmt_value(result.get(key, "-")), cpu)

    throughput = render_rows(
        [
            row(
                "raw redis-py, XADD awaited one by one",
                "naive_xadd_per_s",
                "naive_xadd_cpu_us_per_event",
            ),
            row(
                f"raw redis-py, pipelines of {result['pipeline']}",
                "raw_pipeline_per_s",
                "raw_pipeline_cpu_us_per_event",
            ),
            row(
                "  same, payloads pre-encoded",
                "raw_pipeline_preencoded_per_s",
                "raw_pipeline_preencoded_cpu_us_per_event",
            ),
            row(
                "RedisBus market data (publish..flush)",
                "bus_md_publish_per_s",
                "bus_md_cpu_us_per_event",
            ),
            row(
                "RedisBus execution (each awaited)",
                "bus_exec_publish_per_s",
                "bus_exec_cpu_us_per_event",
            ),
            row("MemoryBus execution", "memory_bus_publish_per_s", "memory_bus_cpu_us_per_event"),
            row("MemoryBus market data", "memory_bus_md_publish_per_s"),
            row("RedisBus replay (read + decode)", "replay_per_s", "replay_cpu_us_per_event"),
            row("raw redis-py XRANGE pages", "raw_xrange_per_s", "raw_xrange_cpu_us_per_event"),
            row(
                "  same pages, replies unparsed (floor)",
                "xrange_transport_per_s",
                "xrange_transport_cpu_us_per_event",
            ),
            row(
                "  payload validation alone (pydantic)",
                "payload_validation_per_s",
                "payload_validation_cpu_us_per_event",
            ),
            row("  replay ceiling (floor + validation)", "replay_ceiling_per_s"),
            row(
                "  same pages decoded (codec), no entries",
                "xrange_decode_per_s",
                "xrange_decode_cpu_us_per_event",
            ),
            row("bus md / raw pipeline", "ratio_md_vs_raw"),
            row("bus replay / raw XRANGE", "ratio_replay_vs_raw_xrange"),
            row("  replay ceiling / raw XRANGE", "ratio_replay_ceiling_vs_raw_xrange"),
            row("  raw XRANGE CPU / replay CPU", "ratio_replay_vs_raw_xrange_cpu"),
            row("bus exec / raw naive", "ratio_exec_vs_naive"),
        ],
        ("throughput", "events/s", "CPU us/event"),
    )
    lat_rows = []
    for label, key in (
        ("raw XADD -> XREAD BLOCK, other process", "raw_xread_tail_detail"),
        ("execution, other process", "tail_latency_detail"),
        ("market data, other process", "md_tail_latency_detail"),
        ("execution, same loop", "inproc_tail_latency_detail"),
        ("market data, same loop", "inproc_md_tail_latency_detail"),
    ):
        d = result.get(key, {})
        lat_rows.append(
            (
                label,
                *(fmt_value(d.get(k, "-")) for k in ("p50_us", "p90_us", "p99_us", "max_us")),
                fmt_value(d.get("samples", "-")),
                fmt_value(d.get("achieved_rate_per_s", "-")),
            )
        )
    latency_table = render_rows(
        [
            *lat_rows,
            (
                "bus exec p99 / raw p99",
                "",
                "",
                fmt_value(result.get("ratio_tail_vs_raw", "-")),
                "",
                "",
                "",
            ),
        ],
        ("tail latency from schedule (us)", "p50", "p90", "p99", "max", "samples", "ev/s"),
    )
    stages = result.get("replay_stage_cpu_us", {})
    stage_table = render_rows(
        [(name.replace("_", " "), fmt_value(value)) for name, value in stages.items()],
        ("replay client CPU by stage", "us/entry"),
    )
    target_rows = [
        (key, f"{t['op']} {fmt_value(t['threshold'])}", fmt_value(t["value"]), fmt_value(t["pass"]))
        for key, t in result.get("targets", {}).items()
    ]
    targets = render_rows(target_rows, ("target", "want", "got", "met"))
    checks = render_rows(
        [
            row("market data sent", "bus_md_events_sent"),
            row("  entries added (XINFO)", "bus_md_entries_added"),
            row("  XLEN", "bus_md_xlen"),
            row("  stats.published_md", "bus_md_stats_published"),
            row("  coalesced / dropped", "bus_md_coalesced"),
            row("payload bytes (quote / order update)", "md_payload_bytes"),
            row("", "exec_payload_bytes"),
        ],
        ("checks", "value", ""),
    )
    env = (
        f"python {result['python_version']}, redis-py {result['redis_py_version']}, "
        f"hiredis {result['hiredis_version']}, redis-server {result['redis_server_version']}, "
        f"{result['cpu_count']} CPUs; {result['events']:,} events "
        f"({result['awaited_events']:,} awaited, {result['latency_events']:,} latency), "
        f"{result['rounds']} rounds, {result.get('wall_s', '?')} s; load average "
        f"{result.get('loadavg_1m_start', '?')} -> {result.get('loadavg_1m_end', '?')}"
    )
    return "\n\n".join([env, throughput, stage_table, latency_table, targets, checks])


COMMAND = Command(
    name="bus",
    help="event bus: raw redis-py vs RedisBus vs MemoryBus, latency, replay",
    add_arguments=add_arguments,
    run=run,
    render=render,
)
