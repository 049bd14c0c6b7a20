"""What every benchmark command provides, and the shared output helpers."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Result = dict[str, Any]
"""A flat, JSON-ready mapping of metric name to value (nested dicts allowed)."""


@dataclass(frozen=True, slots=True)
class Command:
    """One sub-command: `add_arguments` fills its parser, `run` measures and returns the
    result, `render` turns the result into a readable table (defaults to key/value rows).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Result]
    render: Callable[[Result], str] | None = None


def progress(message: str) -> None:
    """Progress goes to stderr so stdout stays one JSON object under --json."""
    print(message, file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (nan once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an already sorted sequence."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if value < 10 else f"{value:.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render_rows(rows: Sequence[tuple[str, ...]], header: tuple[str, ...] | None = None) -> str:
    """Left-align the first column, right-align the others."""
    table = [header, *rows] if header else list(rows)
    widths = [max(len(row[i]) for row in table if i < len(row)) for i in range(len(table[0]))]
    lines = []
    for n, row in enumerate(table):
        cells = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
        if header and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_flat(result: Result) -> str:
    rows = [(key, fmt_value(value)) for key, value in result.items() if not isinstance(value, dict)]
    return render_rows(rows, ("metric", "value"))


@dataclass(slots=True)
class Timing:
    """Wall time (what the rates use) and this process's CPU time (a steadier figure on
    a shared machine: it does not grow when another process takes the core)."""

    wall: float = 0.0
    cpu: float = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        c0, w0 = time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - w0
            self.cpu += time.process_time() - c0

    def rate(self, count: int) -> float:
        return count / self.wall if self.wall > 0 else 0.0

    def cpu_us(self, count: int) -> float:
        return self.cpu / count * 1e6 if count else 0.0
