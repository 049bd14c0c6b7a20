"""`python -m benchmarks ui`: the real app under a market-data firehose, on a real pty.

The parent opens a pseudo-terminal of 120x36 and starts a child process on it (as an
SSH session would): the child runs `silvertine`'s app on the real session (paper
broker, `memory://` bus) and publishes `--rate` quote events per second over
`--symbols` instruments into the bus for `--seconds`. Everything is measured where a
user would notice it:

- bytes_to_terminal_per_s: bytes the app wrote to the pty (the parent reads them all);
- quote_to_screen_p99_ms: the first instrument carries a sentinel price that encodes a
  sequence number; the parent finds each number in the terminal output and measures
  from its publication to the first screen output showing it or a newer one;
- keypress_to_ticket_p99_ms: the parent types `b`/`s` (buy/sell the selected quote)
  and measures until the ticket's price field shows the ask/bid (escape in between);
- event_loop_lag_p99_ms: a 10 ms sleeper in the app's loop, how late it wakes;
- frames_per_s: the UI's coalesced frames (ui.frame_rate) that ran;
- rss_growth_mb: the child's resident memory at the end minus after the warm-up.

Both processes share CLOCK_MONOTONIC, so times taken in one compare with the other.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import logging
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from silvertine_tui.config import UIConfig

from ._cli import Command, Result, fmt_value, percentile, progress, render_rows

TARGETS: dict[str, tuple[str, float]] = {
    "event_loop_lag_p99_ms": ("<", 50.0),
    "keypress_to_ticket_p99_ms": ("<", 100.0),
    "quote_to_screen_p99_ms": ("<", 100.0),
    "rss_growth_mb": ("<", 50.0),
    "bytes_to_terminal_per_s": ("<", 100_000.0),
}

WIDTH, HEIGHT = 120, 36
DEFAULT_FRAME_RATE = float(UIConfig.model_fields["frame_rate"].default)
SENTINEL_BASE = 10_000  # sentinel bid = BASE + seq + 0.37, ask + 0.02: "10,123.37"
SENTINEL_EVERY_S = 0.02
TABLE_RE = re.compile(rb"1\d,\d{3}\.37")  # the watchlist cell (thousands separator)
TICKET_RE = re.compile(rb"(?<![\d,.])1\d{4}\.(37|39)(?!\d)")  # the ticket's price field


def symbols(n: int) -> list[str]:
    # S00USDT sorts first: the sentinel row is the top of the watchlist.
    return [f"S{i:02d}USDT" for i in range(n)]


# -- the child: the app on the pty, and the firehose -----------------------------------


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    from silvertine_tui.config import PaperBrokerConfig, Settings
    from silvertine_tui.domain import Quote
    from silvertine_tui.engine import Session
    from silvertine_tui.events import QuoteEvent, next_event_id
    from silvertine_tui.ui.app import SilvertineApp
    from silvertine_tui.ui.state import UserState

    names = symbols(args.symbols)
    paper = PaperBrokerConfig(
        name="paper",
        symbols=names,
        market={"source": "external"},
    )
    settings = Settings(
        brokers=[paper],
        bus={"md_maxlen": args.md_maxlen},
        ui={"frame_rate": args.frame_rate},
    )
    session = Session(settings)
    await session.start()
    state_dir = Path(args.result).parent
    app = SilvertineApp(session, state=UserState(state_dir / "state.json"))
    keys = [f"{name}.PAPER" for name in names]
    published: list[tuple[int, float]] = []
    lags: list[float] = []
    marks: dict[str, float] = {}
    stop = asyncio.Event()

    quote_fields = set(Quote.model_fields)
    event_fields = set(QuoteEvent.model_fields)

    def built(cls: type[Any], fields: set[str], values: dict[str, Any]) -> Any:
        # What `model_construct` does, minus looking up defaults: the firehose is the
        # venue's cost, not the app's, and it shares the app's process and loop.
        obj = object.__new__(cls)
        object.__setattr__(obj, "__dict__", values)
        object.__setattr__(obj, "__pydantic_fields_set__", fields)
        object.__setattr__(obj, "__pydantic_extra__", None)
        object.__setattr__(obj, "__pydantic_private__", None)
        return obj

    def quote(key: str, bid: Decimal, spread: Decimal) -> QuoteEvent:
        event_id, now = next_event_id()
        payload = built(
            Quote,
            quote_fields,
            {
                "instrument": key,
                "bid": bid,
                "ask": bid + spread,
                "bid_size": None,
                "ask_size": None,
                "last": bid + spread / 2,
                "venue_ts_ns": None,
            },
        )
        values = {
            "type": "quote",
            "v": 1,
            "event_id": event_id,
            "ts": now,
            "source": "paper",
            "payload": payload,
        }
        event: QuoteEvent = built(QuoteEvent, event_fields, values)
        return event

    async def firehose() -> None:
        await asyncio.wait_for(app.feed_ready.wait(), 30)
        await asyncio.sleep(args.warmup)
        marks["firehose_start"] = time.monotonic()
        batch = max(1, int(args.rate / 100))  # every 10 ms
        interval = batch / args.rate
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        next_sentinel = loop.time()
        end = loop.time() + args.seconds
        n = 0
        seq = 0
        cents = Decimal("0.01")
        while loop.time() < end:
            events = []
            for _ in range(batch):
                i = 1 + n % (len(keys) - 1)  # key 0 is the sentinel's
                price = Decimal(100 + (n * 7919) % 9000) * cents + 100
                events.append(quote(keys[i], price, cents))
                n += 1
            if loop.time() >= next_sentinel:
                seq += 1
                events.append(
                    quote(keys[0], Decimal(SENTINEL_BASE + seq) + Decimal("0.37"), Decimal("0.02"))
                )
                published.append((seq, time.monotonic()))
                next_sentinel += SENTINEL_EVERY_S
            await session.bus.publish_many(events)
            next_at += interval
            delay = next_at - loop.time()
            if delay < -1.0:
                next_at = loop.time()
            await asyncio.sleep(max(0.0, delay))
        marks["firehose_end"] = time.monotonic()
        marks["events"] = float(n + seq)
        marks["frames"] = float(app.frames - frames_at_start)
        stop.set()

    async def sleeper() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(0.01)
            if "firehose_start" in marks:
                lags.append((loop.time() - t0 - 0.01) * 1000)

    frames_at_start = 0

    async def drive() -> None:
        nonlocal frames_at_start
        await asyncio.wait_for(app.feed_ready.wait(), 30)
        await asyncio.sleep(args.warmup)
        frames_at_start = app.frames
        await stop.wait()
        await asyncio.sleep(0.5)
        app.exit()

    tasks = [asyncio.create_task(t()) for t in (firehose, sleeper, drive)]
    try:
        await app.run_async()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
    return {"published": published, "lags_ms": lags, "marks": marks}


def child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(filename=str(Path(args.result).with_suffix(".log")), level=logging.WARNING)
    result = asyncio.run(_child(args))
    Path(args.result).write_text(json.dumps(result))
    return 0


# -- the parent: the terminal ------------------------------------------------------------


@dataclass
class Terminal:
    """The pty's master side, drained by a thread (a terminal never stops reading)."""

    fd: int
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    total: int = 0
    thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.chunks.append((time.monotonic(), data))
            self.total += len(data)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def bytes_between(self, start: float, end: float) -> int:
        return sum(len(c) for t, c in self.chunks if start <= t <= end)

    def find_after(self, pattern: re.Pattern[bytes], after: float, want: bytes) -> float | None:
        tail = b""
        for t, chunk in self.chunks:
            if t < after:
                continue
            for match in pattern.finditer(tail + chunk):
                if match.group(0).endswith(want):
                    return t
            tail = chunk[-32:]
        return None


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _screen_times(term: Terminal) -> list[tuple[float, int]]:
    """(time, sequence number) of every sentinel price that reached the terminal."""
    seen: list[tuple[float, int]] = []
    tail = b""
    for t, chunk in term.chunks:
        data = tail + chunk
        for match in TABLE_RE.finditer(data):
            if match.end() <= len(tail):
                continue
            value = int(match.group(0)[:-3].replace(b",", b""))
            seen.append((t, value - SENTINEL_BASE))
        tail = chunk[-16:]
    return seen


def quote_to_screen_ms(
    published: list[tuple[int, float]], seen: list[tuple[float, int]], end: float
) -> list[float]:
    """For each published number: until the screen first showed it or a newer one."""
    import bisect

    ordered = sorted(seen)
    times = [t for t, _ in ordered]
    newest: list[int] = []
    top = -1
    for _, shown in ordered:
        top = max(top, shown)
        newest.append(top)
    latencies = []
    for seq, at in published:
        if at > end - 0.5:
            break
        i = bisect.bisect_left(newest, seq)  # prefix maxima never decrease
        i = max(i, bisect.bisect_left(times, at))
        if i < len(times):
            latencies.append((times[i] - at) * 1000)
    return latencies


def run(args: argparse.Namespace) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="silvertine-ui-bench-"))
    result_path = workdir / "child.json"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", HEIGHT, WIDTH, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEXTUAL")}
    env.pop("COLORTERM", None)
    env.pop("NO_COLOR", None)
    env.update({"TERM": "xterm-256color", "XDG_STATE_HOME": str(workdir)})
    profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    argv = [
        sys.executable, *profile, "-m", "benchmarks.ui", "--child", "--result", str(result_path),
        "--rate", str(args.rate), "--symbols", str(args.symbols), "--seconds",
        str(args.seconds), "--warmup", str(args.warmup), "--frame-rate", str(args.frame_rate),
        "--presses", str(args.presses), "--md-maxlen", str(args.md_maxlen),
    ]  # fmt: skip
    progress(
        f"ui: {args.rate:,.0f} quotes/s over {args.symbols} symbols for {args.seconds:g} s "
        f"on a {WIDTH}x{HEIGHT} pty"
    )
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    term = Terminal(master)
    term.start()
    try:
        started = time.monotonic()
        time.sleep(args.warmup + 1.0)
        rss_start = _rss_mb(proc.pid)
        firehose_start = time.monotonic()
        presses: list[float] = []
        keys = [b"b", b"s"]
        gap = max(0.3, (args.seconds - 2) / max(1, args.presses))
        for n in range(args.presses):
            if time.monotonic() - firehose_start > args.seconds - 1:
                break
            term.write(b"\x1b")  # leave the ticket's fields (a lone escape)
            time.sleep(gap / 2)
            key = keys[n % 2]
            at = time.monotonic()
            term.write(key)
            presses.append(at)
            time.sleep(gap / 2)
        remaining = args.seconds - (time.monotonic() - firehose_start)
        time.sleep(max(0.0, remaining))
        rss_end = _rss_mb(proc.pid)
        proc.wait(timeout=60 + args.seconds)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if term.thread is not None:
            term.thread.join(timeout=5)
        os.close(master)
    if args.dump:
        Path(args.dump).write_bytes(b"".join(c for _, c in term.chunks))
    child = json.loads(result_path.read_text())
    shutil.rmtree(workdir, ignore_errors=True)
    marks = child["marks"]
    start, end = marks["firehose_start"], marks["firehose_end"]
    duration = end - start
    published = [(int(s), float(t)) for s, t in child["published"]]
    latencies = sorted(quote_to_screen_ms(published, _screen_times(term), end))
    key_ms = []
    for n, at in enumerate(presses):
        want = b"39" if n % 2 == 0 else b"37"
        shown = term.find_after(TICKET_RE, at, want)
        if shown is not None:
            key_ms.append((shown - at) * 1000)
    key_ms.sort()
    lags = sorted(float(x) for x in child["lags_ms"])
    result: Result = {
        "event_loop_lag_p99_ms": round(percentile(lags, 99), 2),
        "event_loop_lag_p50_ms": round(percentile(lags, 50), 2),
        "keypress_to_ticket_p99_ms": round(percentile(key_ms, 99), 2),
        "keypress_to_ticket_p50_ms": round(percentile(key_ms, 50), 2),
        "keypresses_measured": len(key_ms),
        "keypresses_sent": len(presses),
        "quote_to_screen_p99_ms": round(percentile(latencies, 99), 2),
        "quote_to_screen_p50_ms": round(percentile(latencies, 50), 2),
        "quotes_to_screen_measured": len(latencies),
        "frames_per_s": round(marks["frames"] / duration, 2),
        "rss_growth_mb": round(rss_end - rss_start, 2),
        "rss_end_mb": round(rss_end, 2),
        "bytes_to_terminal_per_s": round(term.bytes_between(start, end) / duration, 1),
        "quote_events_per_s": round(marks["events"] / duration, 1),
        "seconds": round(duration, 2),
        "symbols": args.symbols,
        "frame_rate": args.frame_rate,
        "terminal": f"{WIDTH}x{HEIGHT}",
        "wall_s": round(time.monotonic() - started, 2),
    }
    result["targets_met"] = {
        key: (result[key] < limit if op == "<" else result[key] >= limit)
        for key, (op, limit) in TARGETS.items()
    }
    return result


def render(result: Result) -> str:
    rows = []
    for key, value in result.items():
        if isinstance(value, dict):
            continue
        target = TARGETS.get(key)
        mark = ""
        if target is not None:
            ok = result["targets_met"][key]
            mark = f"{target[0]} {fmt_value(target[1])} {'ok' if ok else 'MISSED'}"
        rows.append((key, fmt_value(value), mark))
    return render_rows(rows, ("metric", "value", "target"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=10_000.0, help="quotes/s (10000)")
    parser.add_argument("--symbols", type=int, default=50, help="instruments (50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="firehose duration (20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before (2)")
    parser.add_argument(
        "--frame-rate",
        type=float,
        default=DEFAULT_FRAME_RATE,
        help=f"ui.frame_rate ({DEFAULT_FRAME_RATE:g}, the app's default)",
    )
    parser.add_argument("--presses", type=int, default=40, help="keypresses to time (40)")
    parser.add_argument(
        "--md-maxlen", type=int, default=10_000, help="bus.md_maxlen of the memory bus (10000)"
    )
    parser.add_argument("--dump", metavar="PATH", help="write what the terminal received")
    parser.add_argument("--profile", metavar="PATH", help="cProfile the app process to PATH")


COMMAND = Command(
    name="ui",
    help="the app on a 120x36 pty under a 10,000 quotes/s firehose: lag, latency, bytes",
    add_arguments=add_arguments,
    run=run,
    render=render,
)


if __name__ == "__main__":
    if "--child" in sys.argv[1:2]:
        raise SystemExit(child_main(sys.argv[2:]))
    raise SystemExit("run it as: python -m benchmarks ui [--json]")
