"""`python -m benchmarks idle`: the default desk left alone, its memory over time.

The real `silvertine` (default config: paper, memory bus, no orders) runs on a 120x36
pty whose output is drained and discarded, as a terminal would. Its resident memory is
sampled every `--sample` seconds. Reported: RSS at 1 and 5 minutes and at the end, the
growth from minute 5 to the end, and the slope over that part (MB/min).

Target (issue 10): a 30-minute idle run stays within 10 MB of its 5-minute RSS.

`--tracemalloc DIR` runs the child under tracemalloc and writes a snapshot there every
`--snapshot-every` seconds (`DIR/snap-<seconds>.pickle`): compare two with
`python -m benchmarks.idle --compare A B` to see which lines allocated what stays.
The RSS figures of such a run include tracemalloc's own bookkeeping.

`--journal-orders N` measures start-up on a large journal instead of the empty default:
N order lifecycles of five events (`benchmarks.engine.order_lifecycle`, the start-up
test's journal) are written to a throwaway redis-server (or `--redis-url`, under a
prefix of its own) and the desk starts on it. Reported beside the rest: when the log
says the journal was replayed (`recovered_after_s`) and the RSS then.
`--app-path DIR` runs the app from another checkout (a reference measured in the same
run, e.g. `git archive main | tar -x -C DIR`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._cli import Command, Result, progress, render_flat, rss_mb
from ._redis import redis_server
from .pty_child import HEIGHT, WIDTH, drain, spawn_on_pty, terminal_env

TARGET_MB = 10.0


def _replayed(log_file: Path) -> bool:
    try:
        return "recovery.replayed" in log_file.read_text(errors="replace")
    except FileNotFoundError:
        return False


def _start_failed(log_file: Path) -> str:
    """The reason the session did not start, from its log ("" if it did not fail)."""
    try:
        text = log_file.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    for line in text.splitlines():
        if "app.start_failed" in line:
            return line[-400:]
    return ""


def _at(samples: list[tuple[float, float]], second: float) -> float:
    """RSS of the first sample at or after `second` (the last one if none)."""
    for at, rss in samples:
        if at >= second:
            return rss
    return samples[-1][1]


def write_journal(url: str, prefix: str, orders: int) -> None:
    from redis import Redis

    from .engine import order_lifecycle

    stream = f"{prefix}:exec:paper:main"
    raw = Redis.from_url(url)
    try:
        for start in range(1, orders + 1, 500):
            pipe = raw.pipeline(transaction=False)
            for n in range(start, min(start + 500, orders + 1)):
                for fields in order_lifecycle(n, prefix="idle"):
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
            pipe.execute()
            if start % 10_000 == 1:
                progress(f"idle: journal {start - 1:,} of {orders:,} orders written")
    finally:
        raw.close()


@contextlib.contextmanager
def journal(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    """The bus settings of the child: the default (memory://), or a Redis journal."""
    if not args.journal_orders:
        yield {}
        return
    prefix = f"idle-bench-{os.getpid()}"
    with redis_server(args.redis_url) as url:
        write_journal(url, prefix, args.journal_orders)
        yield {"SILVERTINE_BUS__URL": url, "SILVERTINE_BUS__PREFIX": prefix}


def run(args: argparse.Namespace) -> Result:
    with journal(args) as bus_env:
        return _measure(args, bus_env)


def _measure(args: argparse.Namespace, bus_env: dict[str, str]) -> Result:
    workdir = Path(tempfile.mkdtemp(prefix="silvertine-idle-bench-"))
    # The default config: no config file, state and log in a fresh directory.
    env = terminal_env(workdir / "state")
    env.update({"XDG_CONFIG_HOME": str(workdir / "config"), **bus_env})
    if args.app_path:
        env["PYTHONPATH"] = os.pathsep.join([args.app_path, str(Path.cwd())])
    log_file = workdir / "state" / "silvertine" / "silvertine.log"
    if args.tracemalloc:
        Path(args.tracemalloc).mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable, "-m", "benchmarks.idle", "--child", args.tracemalloc,
            "--snapshot-every", str(args.snapshot_every),
        ]  # fmt: skip
    else:
        argv = [sys.executable, "-m", "silvertine_tui"]
    seconds = args.minutes * 60
    progress(f"idle: silvertine (default config) on a {WIDTH}x{HEIGHT} pty for {args.minutes} min")
    proc, master = spawn_on_pty(argv, env, cwd=workdir)
    written = [0]

    def count(data: bytes) -> None:
        written[0] += len(data)

    threading.Thread(target=drain, args=(master, count), daemon=True).start()
    samples: list[tuple[float, float]] = []
    start = time.monotonic()
    next_report = 60.0
    recovered: tuple[float, float] | None = None
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            if proc.poll() is not None:
                raise RuntimeError(f"silvertine exited early (code {proc.returncode})")
            samples.append((elapsed, rss_mb(proc.pid)))
            failed = _start_failed(log_file)
            if failed:
                raise RuntimeError(f"silvertine did not start: {failed}")
            if recovered is None and _replayed(log_file):
                recovered = samples[-1]
                progress(f"idle: journal replayed after {elapsed:.1f} s, RSS {recovered[1]:.1f} MB")
            if elapsed >= next_report:
                progress(f"idle: {elapsed / 60:.0f} min, RSS {samples[-1][1]:.1f} MB")
                next_report += 60.0
            wait = args.sample if recovered is not None else min(args.sample, 0.5)
            time.sleep(min(wait, max(0.0, seconds - elapsed)))
        samples.append((time.monotonic() - start, rss_mb(proc.pid)))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        os.close(master)
    at5 = _at(samples, 300.0)
    end = samples[-1][1]
    after5 = [(t, r) for t, r in samples if t >= 300.0]
    slope = 0.0
    if len(after5) >= 2 and after5[-1][0] > after5[0][0]:
        slope = (after5[-1][1] - after5[0][1]) / ((after5[-1][0] - after5[0][0]) / 60)
    growth = end - at5
    return {
        "minutes": args.minutes,
        "journal_orders": args.journal_orders,
        "recovered_after_s": round(recovered[0], 1) if recovered else None,
        "rss_at_recovery_mb": round(recovered[1], 1) if recovered else None,
        "app_path": args.app_path or "(this checkout)",
        "rss_start_mb": round(samples[0][1], 1),
        "rss_1min_mb": round(_at(samples, 60.0), 1),
        "rss_5min_mb": round(at5, 1),
        "rss_end_mb": round(end, 1),
        "rss_max_mb": round(max(r for _, r in samples), 1),
        "growth_after_5min_mb": round(growth, 1),
        "slope_after_5min_mb_per_min": round(slope, 3),
        "bytes_to_terminal_per_s": round(written[0] / max(1.0, samples[-1][0])),
        "tracemalloc": bool(args.tracemalloc),
        "targets": {
            "growth_after_5min_mb": {
                "op": "<=",
                "threshold": TARGET_MB,
                "value": round(growth, 1),
                "pass": growth <= TARGET_MB and args.minutes >= 30,
            }
        },
        "samples": {f"{t:.0f}": round(r, 1) for t, r in samples[:: max(1, len(samples) // 60)]},
    }


def render(result: Result) -> str:
    target = result["targets"]["growth_after_5min_mb"]
    verdict = "pass" if target["pass"] else "FAIL (or the run was shorter than 30 min)"
    return (
        render_flat(result)
        + f"\n\ngrowth after 5 min <= {TARGET_MB:g} MB over 30 min: {target['value']} MB {verdict}"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=30.0, help="run length (default 30)")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--tracemalloc", metavar="DIR", default="", help="write tracemalloc snapshots to DIR"
    )
    parser.add_argument(
        "--snapshot-every", type=float, default=120.0, help="seconds between snapshots"
    )
    parser.add_argument(
        "--journal-orders", type=int, default=0, help="start on a Redis journal of N orders"
    )
    parser.add_argument("--redis-url", default="", help="Redis for --journal-orders")
    parser.add_argument("--app-path", default="", help="run the app from this checkout")


COMMAND = Command(
    name="idle",
    help="the default desk left idle on a pty: RSS at 5 min and at the end (target +10 MB)",
    add_arguments=add_arguments,
    run=run,
    render=render,
)


# -- the child under tracemalloc, and comparing its snapshots --------------------------


def _child(directory: str, every: float) -> int:
    import tracemalloc

    tracemalloc.start(12)
    started = time.monotonic()

    def snapshots() -> None:
        n = 1
        while True:
            time.sleep(max(0.0, started + n * every - time.monotonic()))
            path = Path(directory) / f"snap-{int(n * every):05d}.pickle"
            tracemalloc.take_snapshot().dump(str(path))
            n += 1

    threading.Thread(target=snapshots, daemon=True).start()
    from silvertine_tui.cli import main

    return main([])


def _compare(before: str, after: str, top: int) -> None:
    import tracemalloc

    old = tracemalloc.Snapshot.load(before)
    new = tracemalloc.Snapshot.load(after)
    skip = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(skip), new.filter_traces(skip)
    for stat in new.compare_to(old, "traceback")[:top]:
        print(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        for line in stat.traceback.format(limit=8):
            print("    " + line)


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.idle")
    parser.add_argument("--child", metavar="DIR")
    parser.add_argument("--snapshot-every", type=float, default=120.0)
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--top", type=int, default=15)
    args: Any = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.snapshot_every)
    if args.compare:
        _compare(args.compare[0], args.compare[1], args.top)
        return 0
    parser.error("--child DIR or --compare A B")


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
