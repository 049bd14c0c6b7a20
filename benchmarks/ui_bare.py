"""The bare Textual reference of `python -m benchmarks ui` (a child on the same pty).

What Textual alone costs on this machine, measured exactly like the desk: one line-API
widget of `--symbols` rows (the first row carries the same sentinel prices as the
desk's watchlist, `10,123.37`), updated by the same firehose schedule (`--rate` quotes
per second in batches every 10 ms, a sentinel every 20 ms), and a second line-API
widget that `b`/`s` focus and fill with the sentinel's ask/bid (`10123.39`/`10123.37`,
like the desk's ticket price field; escape moves focus back). No bus, no engine, no
pydantic: this module must not import `silvertine_tui`, or its start-up would not be
Textual's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.strip import Strip
from textual.widget import Widget

MARKER = "REFERENCE"  # in the first frame: what start_to_first_frame_s waits for
SENTINEL_BASE = 10_000
SENTINEL_EVERY_S = 0.02
UP = Style(color="green")
DOWN = Style(color="red")
DIM = Style(color="bright_black", bold=True)


class QuoteRows(Widget, can_focus=True):
    """One row per symbol, drawn line by line (Textual's line API)."""

    DEFAULT_CSS = "QuoteRows { height: 1fr; }"

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names
        self.bids: list[Decimal] = [Decimal(0)] * len(names)
        self.up: list[bool] = [True] * len(names)

    def set_bid(self, row: int, bid: Decimal) -> None:
        self.up[row] = bid >= self.bids[row]
        self.bids[row] = bid

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y == 0:
            return Strip([Segment(f" {MARKER}  Symbol      Bid".ljust(width), DIM)])
        row = y - 1
        if row >= len(self.names):
            return Strip.blank(width)
        text = f" {self.names[row]:<10} {self.bids[row]:>12,.2f}".ljust(width)
        return Strip([Segment(text, UP if self.up[row] else DOWN)])


class TicketLine(Widget, can_focus=True):
    DEFAULT_CSS = "TicketLine { height: 1; }"

    price = ""

    def render_line(self, y: int) -> Strip:
        text = f" Price {self.price}" if self.has_focus else " -"
        return Strip([Segment(text.ljust(self.size.width))])


class BareApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("b", "ticket(True)", "Buy"),
        Binding("s", "ticket(False)", "Sell"),
        Binding("escape", "leave", "Leave"),
    ]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.rows = QuoteRows(names)
        self.ticket = TicketLine()
        self.mounted = asyncio.Event()

    def compose(self) -> ComposeResult:
        yield self.rows
        yield self.ticket

    def on_mount(self) -> None:
        self.rows.focus()
        self.mounted.set()

    def action_ticket(self, buy: bool) -> None:
        bid = self.rows.bids[0]
        self.ticket.price = f"{bid + Decimal('0.02') if buy else bid:.2f}"
        self.ticket.focus()
        self.ticket.refresh()

    def action_leave(self) -> None:
        self.rows.focus()
        self.ticket.refresh()


async def _child(args: argparse.Namespace) -> dict[str, Any]:
    names = [f"S{i:02d}USDT" for i in range(args.symbols)]
    app = BareApp(names)
    published: list[tuple[int, float]] = []
    lags: list[float] = []
    marks: dict[str, float] = {}
    stop = asyncio.Event()

    async def firehose() -> None:
        await asyncio.wait_for(app.mounted.wait(), 30)
        await asyncio.sleep(args.warmup)
        marks["firehose_start"] = time.monotonic()
        marks["cpu_start"] = time.process_time()
        Path(args.result).with_suffix(".start").write_text(str(marks["firehose_start"]))
        batch = max(1, int(args.rate / 100))
        interval = batch / args.rate
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        next_sentinel = loop.time()
        end = loop.time() + args.seconds
        n = 0
        seq = 0
        cents = Decimal("0.01")
        rows = app.rows
        while loop.time() < end:
            for _ in range(batch):
                i = 1 + n % (len(names) - 1)
                rows.set_bid(i, Decimal(100 + (n * 7919) % 9000) * cents + 100)
                n += 1
            if loop.time() >= next_sentinel:
                seq += 1
                rows.set_bid(0, Decimal(SENTINEL_BASE + seq) + Decimal("0.37"))
                published.append((seq, time.monotonic()))
                next_sentinel += SENTINEL_EVERY_S
            rows.refresh()
            next_at += interval
            delay = next_at - loop.time()
            if delay < -1.0:
                next_at = loop.time()
            await asyncio.sleep(max(0.0, delay))
        marks["firehose_end"] = time.monotonic()
        marks["cpu_end"] = time.process_time()
        marks["events"] = float(n + seq)
        stop.set()

    async def sleeper() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            t0 = loop.time()
            await asyncio.sleep(0.01)
            if "firehose_start" in marks:
                lags.append((loop.time() - t0 - 0.01) * 1000)

    async def drive() -> None:
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
    return {"published": published, "lags_ms": lags, "marks": marks}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--symbols", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--warmup", type=float, required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    result = asyncio.run(_child(args))
    Path(args.result).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
