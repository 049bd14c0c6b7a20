"""Child of `python -m benchmarks paper_restore`: one measurement in a fresh process.

Run by path with the interpreter of the checkout to measure (its own `silvertine_tui`
is imported): `python benchmarks/_paper_restore_child.py URL PREFIX MODE`, MODE is
`restore` (`restore_from_journal` into a fresh paper venue) or `replay` (the same
stream read and decoded by `bus.replay()`, nothing applied: the reference). Prints one
JSON object: entries, wall and CPU seconds, RSS before, peak and after (MB), and the
orders the venue holds afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def measure(url: str, prefix: str, mode: str) -> dict[str, Any]:
    from silvertine_tui.brokers.paper import PaperVenue
    from silvertine_tui.brokers.paper.journal import restore_from_journal
    from silvertine_tui.bus import BusOptions, create_bus
    from silvertine_tui.config import PaperBrokerConfig

    bus = create_bus(url, BusOptions(prefix=prefix))
    await bus.start()
    stream = bus.layout.exec("paper", "main")
    config = PaperBrokerConfig(
        name="paper",
        account="main",
        symbols=["BTCUSDT"],
        starting_cash={"USDT": 10**15},
        market={"autorun": False},
        latency={"enabled": False},
        checks={"short_selling": True, "max_open_orders": 10_000},
    )
    venue = PaperVenue.from_config(config)
    gc.collect()
    before = _status("VmRSS")
    peak_reset = _reset_peak()
    wall = time.perf_counter()
    cpu = time.process_time()
    out: dict[str, Any] = {}
    if mode == "replay":
        entries = 0
        async for _ in bus.replay(stream):
            entries += 1
    else:
        state = await restore_from_journal(bus, stream, venue)
        entries = state.entries
        out["restored_orders"] = state.restored_orders
        out["working_orders"] = state.working_orders
        out["peak_orders"] = getattr(state, "peak_orders", None)
        out["published_execs"] = len(state.published_execs)
    out["seconds"] = time.perf_counter() - wall
    out["cpu_s"] = time.process_time() - cpu
    out["peak_mb"] = _status("VmHWM")
    gc.collect()
    out.update(
        entries=entries,
        rss_before_mb=before,
        rss_after_mb=_status("VmRSS"),
        peak_reset=peak_reset,
        venue_orders=len(venue.orders),
    )
    await bus.close()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure(sys.argv[1], sys.argv[2], sys.argv[3]))))
