"""`python -m benchmarks ui --start-only N`: launch to first frame, desk beside bare.

Spawns, N times each and alternately (who goes first alternates too, so a drift in the
machine's load hits both), on a fresh 120x36 pty:

- the desk: the real `silvertine` command (`python -m silvertine_tui run`; the default
  paper broker on the memory bus, or `--journal EVENTS` execution events journaled on
  Redis first: a throwaway redis-server, or `--redis-url`);
- the bare Textual reference (`benchmarks/ui_bare.py`).

For each child: wall time from spawn until its first frame reaches the terminal (the
desk's header `SILVERTINE`, the bare app's `REFERENCE`), and the child's CPU time at
that moment (utime + stime from /proc: steadier than wall time on a shared machine,
where another process may hold the core). With a journal, also until the start-up
banner's "recovering:" (the replay's progress) is on screen. The child is killed once
it is seen.

The package's bytecode is compiled first, as installing it does (`pip install`
compiles; an editable install writes it on the first start unless
PYTHONDONTWRITEBYTECODE is set): the figure is an installed app's start, not
Python compiling a hundred modules from source.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import silvertine_tui

from ._cli import Result, progress
from .pty_child import spawn_on_pty, terminal_env

DESK_MARKER = b"SILVERTINE"
BARE_MARKER = b"REFERENCE"
PROGRESS_MARKER = b"recovering:"
TIMEOUT_S = 60.0


def _cpu_s(pid: int) -> float:
    """utime + stime of `pid` so far, in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def spawn_until(argv: list[str], markers: list[bytes], env: dict[str, str]) -> dict[str, float]:
    """Start `argv` on a fresh pty; seconds from spawn until each marker first reached
    the terminal (`<marker>_s`) and the child's CPU seconds then (`<marker>_cpu_s`).
    Kills the child's process group once every marker was seen (or at the timeout)."""
    spawned = time.monotonic()
    proc, master = spawn_on_pty(argv, env)
    seen: dict[str, float] = {}
    data = b""
    try:
        while len(seen) < 2 * len(markers) and time.monotonic() - spawned < TIMEOUT_S:
            if not select.select([master], [], [], 0.5)[0]:
                continue  # a child that went quiet: the timeout still applies
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            now = time.monotonic()
            window = data[-64:] + chunk
            data += chunk
            for marker in markers:
                key = marker.decode().rstrip(":").lower()
                if f"{key}_s" not in seen and marker in window:
                    seen[f"{key}_s"] = now - spawned
                    seen[f"{key}_cpu_s"] = _cpu_s(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
    if len(seen) < 2 * len(markers):
        raise RuntimeError(
            f"{argv[2:4]} never showed {markers} in {TIMEOUT_S:g} s; "
            f"the terminal said: {data[-1500:]!r}"
        )
    return seen


def compile_bytecode() -> None:
    """Compile the package's bytecode, as an install does (quietly; once per change)."""
    import compileall

    compileall.compile_dir(Path(silvertine_tui.__file__).parent, quiet=1)
    compileall.compile_dir(Path(__file__).parent, quiet=1)


def _journal(url: str, prefix: str, events: int) -> None:
    """`events // 5` order lifecycles (`benchmarks.engine.order_lifecycle`: five events
    each) on the default paper broker's journal, written with raw redis-py pipelines."""
    from redis.asyncio import Redis

    from silvertine_tui.bus import StreamLayout

    from .engine import order_lifecycle

    async def write() -> None:
        raw = Redis.from_url(url)
        stream = StreamLayout(prefix).exec("paper", "main")
        try:
            for start in range(1, events // 5 + 1, 200):
                pipe = raw.pipeline(transaction=False)
                for n in range(start, min(start + 200, events // 5 + 1)):
                    for fields in order_lifecycle(n, prefix="start"):
                        pipe.xadd(stream, fields)  # type: ignore[arg-type]
                await pipe.execute()
        finally:
            await raw.aclose()

    asyncio.run(write())


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def run_start(args: argparse.Namespace) -> Result:
    compile_bytecode()
    if args.journal:
        from ._redis import redis_server

        with redis_server(args.redis_url) as url:
            prefix = f"bench-start-{time.time_ns():x}"
            progress(f"ui: journaling {args.journal:,} execution events on {url}")
            _journal(url, prefix, args.journal)
            return _measure(args, ["--bus", url, "--prefix", prefix])
    return _measure(args, [])


def _measure(args: argparse.Namespace, bus_args: list[str]) -> Result:
    return launches(args.start_only, args.symbols, bus_args, args.journal)


def launches(
    runs: int, symbols: int, bus_args: list[str] | None = None, journal: int = 0
) -> Result:
    """`runs` launches each of the real `silvertine run` (on `bus_args`, default: the
    paper broker on the memory bus) and of the bare app, alternately, until their first
    frame; with `journal` (the events the bus's journal holds), also until the start-up
    banner shows the replay's progress. Medians, ratios and every launch."""
    with tempfile.TemporaryDirectory(prefix="silvertine-ui-start-") as tmp:
        return _launches(runs, symbols, bus_args or [], journal, Path(tmp))


def _launches(runs: int, symbols: int, bus_args: list[str], journal: int, workdir: Path) -> Result:
    env = terminal_env(workdir)
    desk_argv = [sys.executable, "-m", "silvertine_tui", "run", *bus_args]
    desk_markers = [DESK_MARKER, PROGRESS_MARKER] if journal else [DESK_MARKER]
    bare_argv = [
        sys.executable, "-m", "benchmarks.ui_bare", "--rate", "1", "--symbols",
        str(symbols), "--seconds", "60", "--warmup", "60",
        "--result", str(workdir / "bare.json"),
    ]  # fmt: skip
    desk: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    where = f"Redis, {journal:,} journaled events" if journal else "memory bus"
    progress(
        f"ui: start-up, {runs} launches each of `silvertine run` (paper, {where}) and the "
        "bare Textual app, alternately"
    )
    for n in range(runs):
        order = [("desk", desk_argv), ("bare", bare_argv)]
        for kind, argv in order if n % 2 == 0 else reversed(order):
            if kind == "desk":
                desk.append(spawn_until(argv, desk_markers, env))
            else:
                bare.append(spawn_until(argv, [BARE_MARKER], env))
        progress(
            f"ui: launch {n + 1}/{runs}: desk {desk[-1]['silvertine_s']:.3f} s "
            f"(cpu {desk[-1]['silvertine_cpu_s']:.2f}), bare {bare[-1]['reference_s']:.3f} s "
            f"(cpu {bare[-1]['reference_cpu_s']:.2f})"
        )
    desk_s = [d["silvertine_s"] for d in desk]
    bare_s = [b["reference_s"] for b in bare]
    desk_cpu = [d["silvertine_cpu_s"] for d in desk]
    bare_cpu = [b["reference_cpu_s"] for b in bare]
    result: Result = {
        "start_to_first_frame_s": _median(desk_s),
        "bare_start_to_first_frame_s": _median(bare_s),
        "ratio_start_vs_bare": round(statistics.median(desk_s) / statistics.median(bare_s), 3),
        "cpu_to_first_frame_s": _median(desk_cpu),
        "bare_cpu_to_first_frame_s": _median(bare_cpu),
        "ratio_cpu_start_vs_bare": round(
            statistics.median(desk_cpu) / statistics.median(bare_cpu), 3
        ),
        "launches": runs,
        "desk_runs_s": [round(x, 3) for x in desk_s],
        "bare_runs_s": [round(x, 3) for x in bare_s],
        "desk_runs_cpu_s": desk_cpu,
        "bare_runs_cpu_s": bare_cpu,
    }
    if journal:
        shown = [d["recovering_s"] for d in desk]
        result["journal_events"] = journal
        result["start_to_progress_s"] = _median(shown)
        result["desk_runs_progress_s"] = [round(x, 3) for x in shown]
    return result
