"""Where a benchmark child's memory goes: `python -m benchmarks ui --trace-memory DIR`.

A diagnostic, not a measurement. In the child, `Tracer` records a point at given seconds
into the run (0, 2, 5, 10, 20, 30, 45 and 5 before the end in `benchmarks ui`): the
process's RSS and anonymous memory (`/proc/self/smaps_rollup`), glibc's malloc figures
(`mallinfo2`: heap arena, mmapped, in use, free: fragmentation shows as free), pymalloc's
(`sys._debugmallocstats`: where small Python objects live) and the count of every
gc-tracked type. At the first and the last point it also sizes what each part of the
desk retains (`retained`: the bus's streams by event type, the engine's, the broker's,
the UI model's and each widget's attributes; a pause of about a second). These points
cost little (0.02-0.1 s each, the last one about 0.5 s): the desk keeps its pace, but
the retained walk's own memory shows in the parent's end RSS, so a traced run's
`rss_growth_mb` is not the benchmark's figure.

With `--trace-frames N` tracemalloc also runs, from the first point on, with N frames a
trace, and each point dumps its snapshot: the report then lists the lines and tracebacks
that grew. It slows the desk many-fold (1 frame: about 1,600 of the 10,000 quotes/s; 16
frames: a few hundred, and the child cannot finish its orders before the parent gives
up on it): what grows with the order flow still shows, what grows with quotes or frames
does not.

Each point is written to `DIR/points.json` (snapshots to `DIR/<seconds>.snap`) as soon
as it is taken, so a child killed later still leaves what it had; an error in the
tracer goes to `DIR/error.txt`. `python -m benchmarks.memtrace DIR` (the parent runs it
after the child, into `DIR/report.txt`) prints the points and the diffs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import re
import sys
import tempfile
import time
import traceback
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def mallinfo() -> dict[str, int]:
    """glibc's view: `arena` bytes of the sbrk/heap arenas, `hblkhd` mmapped blocks,
    `uordblks` in use, `fordblks` free inside the arenas (fragmentation shows here)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return {}
    libc = ctypes.CDLL(name)
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return {}
    fn.restype = _Mallinfo2
    info = fn()
    return {f: int(getattr(info, f)) for f in ("arena", "hblkhd", "uordblks", "fordblks")}


def pymalloc() -> dict[str, int]:
    """pymalloc's arenas from `sys._debugmallocstats` (written to fd 2, so fd 2 is
    pointed at a file for that moment: a frame written then is lost to the terminal)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    figures: dict[str, int] = {}
    for key, pattern in (
        ("arenas_allocated_current", r"# arenas allocated current\s*=\s*([\d,]+)"),
        ("arenas_highwater", r"# arenas highwater mark\s*=\s*([\d,]+)"),
        ("bytes_in_allocated_blocks", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
        ("bytes_in_available_blocks", r"# bytes in available blocks\s*=\s*([\d,]+)"),
        ("bytes_in_unused_pools", r"unused pools \* \d+ bytes\s*=\s*([\d,]+)"),
        ("total", r"Total\s*=\s*([\d,]+)"),
    ):
        match = re.search(pattern, text)
        if match:
            figures[key] = int(match.group(1).replace(",", ""))
    return figures


def smaps() -> dict[str, int]:
    """/proc/self/smaps_rollup: anonymous memory (the heaps) against file-backed."""
    figures: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Anonymous", "Pss_File", "Pss_Anon"):
                figures[key] = int(rest.split()[0]) * 1024
    return figures


def _attrs(obj: object) -> list[tuple[str, object]]:
    names: list[str] = list(getattr(obj, "__dict__", {}))
    for cls in type(obj).__mro__:
        names += [n for n in getattr(cls, "__slots__", ()) if n not in names]
    out = []
    for name in names:
        with contextlib.suppress(AttributeError):
            out.append((name, getattr(obj, name)))
    return out


_OPAQUE = (type, type(sys), type(_attrs), type(print), type(_attrs.__code__))


def retained(roots: list[tuple[str, object]], expand: int = 2) -> dict[str, tuple[int, int]]:
    """Bytes and objects (`sys.getsizeof`) reachable from each root and from no root
    before it, in order; a root's attributes (`expand` levels deep) count as roots of
    their own (`name.attr`). Modules, classes and functions are not entered, nor any
    root from another: the engine's reference to the bus does not count the bus twice.
    """
    named: list[tuple[str, object]] = []

    def add(name: str, obj: object, depth: int) -> None:
        if depth > 0 and not isinstance(obj, (*_OPAQUE, str, int, float, bytes)):
            children = [
                (n, v) for n, v in _attrs(obj) if not isinstance(v, (*_OPAQUE, str, int, float))
            ]
            if children and not isinstance(obj, list | dict | set | tuple):
                named.append((name, obj))  # its own header and small fields
                for attr, value in children:
                    add(f"{name}.{attr}", value, depth - 1)
                return
        named.append((name, obj))

    for name, obj in roots:
        add(name, obj, expand)
    stop = {id(obj) for _, obj in named}
    seen: set[int] = set()
    sizes: dict[str, tuple[int, int]] = {}
    for name, obj in named:
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total, count, todo = sys.getsizeof(obj), 1, [obj]
        while todo:
            current = todo.pop()
            if current is not obj and isinstance(current, _OPAQUE):
                continue
            for ref in gc.get_referents(current):
                key = id(ref)
                if key in seen or key in stop or isinstance(ref, _OPAQUE):
                    continue
                seen.add(key)
                total += sys.getsizeof(ref)
                count += 1
                todo.append(ref)
        before = sizes.get(name, (0, 0))
        sizes[name] = (before[0] + total, before[1] + count)
    return sizes


class Tracer:
    """Records points at `at` seconds after `started` is set (see the module's doc).

    With `frames` 0 nothing is traced (the run keeps its pace): RSS, malloc, pymalloc and
    gc counts only. With `frames` > 0 tracemalloc starts at the first point, with that
    many frames a trace, and each point also dumps a snapshot (what the run allocated
    since the first point and still holds); pymalloc's figures are then not available.
    """

    def __init__(self, directory: str, at: tuple[float, ...], frames: int = 0) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.at = at
        self.points: list[dict[str, Any]] = []
        self.frames = frames
        self.roots: Callable[[], list[tuple[str, object]]] | None = None
        """What `retained` sizes at the first and the last point (a pause of seconds)."""

    def point(self, label: str) -> None:
        t0 = time.monotonic()
        if self.frames > 0 and not tracemalloc.is_tracing():
            # From the first point on: what is traced is what the run allocated and
            # still holds; and the desk before it runs at full speed.
            tracemalloc.start(self.frames)
        point: dict[str, Any] = {
            "label": label,
            "rss": rss_bytes(),
            "smaps": smaps(),
            "malloc": mallinfo(),
            "pymalloc": pymalloc(),
            "gc_counts": gc.get_count(),
            "gc_tracked": len(gc.get_objects()),
        }
        point["types"] = dict(
            Counter(type(o).__qualname__ for o in gc.get_objects()).most_common(400)
        )
        if tracemalloc.is_tracing():
            traced, _ = tracemalloc.get_traced_memory()
            point["traced"] = traced
            point["tracemalloc_overhead"] = tracemalloc.get_tracemalloc_memory()
            snap = tracemalloc.take_snapshot()
            snap.dump(str(self.dir / f"{label}.snap"))
            del snap
        if self.roots is not None and (not self.points or label == f"{self.at[-1]:g}"):
            point["retained"] = retained(self.roots())
        point["took_s"] = round(time.monotonic() - t0, 2)
        self.points.append(point)
        (self.dir / "points.json").write_text(json.dumps(self.points))

    async def run(self, started: asyncio.Event) -> None:
        await started.wait()
        origin = time.monotonic()
        try:
            for at in self.at:
                await asyncio.sleep(max(0.0, origin + at - time.monotonic()))
                self.point(f"{at:g}")
        except Exception:
            (self.dir / "error.txt").write_text(traceback.format_exc())
            raise


def desk_roots(session: Any, app: Any) -> list[tuple[str, object]]:
    """The benchmark desk's parts, in the order `retained` counts them."""
    roots: list[tuple[str, object]] = []
    last: list[tuple[str, object]] = []  # snapshots: what they alone hold
    for name, stream in getattr(session.bus, "_streams", {}).items():
        into = last if ":snap:" in name else roots
        by_type: dict[str, list[object]] = {}
        for entry in getattr(stream, "entries", ()):
            event = getattr(entry, "event", None)  # None: in wire form (a tuple)
            kind = "wire form" if event is None else getattr(event, "type", "?")
            by_type.setdefault(kind, []).append(entry)
        into += [(f"bus {name} {kind} x{len(v)}", v) for kind, v in by_type.items()]
        into.append((f"bus {name}", stream))
    roots.append(("engine", session.engine))
    roots += [(f"broker {broker.name}", broker) for broker in session.brokers]
    roots.append(("model", app.model))
    for screen in app.screen_stack:
        roots += [(f"widget {type(w).__name__}", w) for w in screen.walk_children()]
        roots.append((f"screen {type(screen).__name__}", screen))
    roots += last
    roots.append(("tasks", list(asyncio.all_tasks())))
    # Libraries' module-level caches (Rich's and Textual's `lru_cache`s): bounded, and
    # reached from no root above.
    # (Found through the modules: `gc.get_objects` no longer sees what start-up froze.)
    lru = type(functools.lru_cache(1)(len))
    found: dict[int, object] = {}
    for module in list(sys.modules.values()):
        for value in list(getattr(module, "__dict__", {}).values()):
            members = list(vars(value).values()) if isinstance(value, type) else [value]
            for member in members:
                member = getattr(member, "__func__", member)  # classmethod, staticmethod
                if type(member) is lru and member.cache_info().currsize:
                    found[id(member)] = member
    roots += [(f"lru_cache {f.__module__}.{f.__qualname__}", f) for f in found.values()]  # type: ignore[attr-defined]
    roots += [("session", session), ("app", app)]
    return roots


def _mb(n: float) -> str:
    return f"{n / 1e6:+.2f} MB" if n else "0"


def report(directory: str, top: int = 25) -> str:
    """The diff of each later point against the first, as text."""
    base = Path(directory)
    points = json.loads((base / "points.json").read_text())
    lines: list[str] = []
    for p in points:
        mem = {
            "rss": p["rss"],
            **{f"smaps.{k}": v for k, v in p["smaps"].items()},
            **{f"malloc.{k}": v for k, v in p["malloc"].items()},
            **{f"pymalloc.{k}": v for k, v in p["pymalloc"].items() if "arenas" not in k},
            **({"traced": p["traced"]} if "traced" in p else {}),
        }
        figures = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in mem.items())
        lines.append(
            f"t={p['label']} s (MB): {figures}; pymalloc arenas "
            f"{p['pymalloc'].get('arenas_allocated_current')}; gc-tracked objects "
            f"{p['gc_tracked']}; took {p['took_s']} s"
        )
    first = points[0]
    for p in points[1:]:
        grown = Counter(p["types"])
        grown.subtract(Counter(first["types"]))
        lines.append("")
        lines.append(f"== gc-tracked objects grown t={first['label']} -> {p['label']} s, by type:")
        for name, n in grown.most_common(30):
            lines.append(f"  {n:+9d} {name} (now {p['types'].get(name, 0)})")
    sized = [p for p in points if "retained" in p]
    if len(sized) >= 2:
        a, b = sized[0], sized[-1]
        lines.append("")
        lines.append(f"== retained (sys.getsizeof, by root) t={a['label']} -> {b['label']} s:")
        by_size = sorted(
            ((v[0] - a["retained"].get(k, (0, 0))[0], k) for k, v in b["retained"].items()),
            reverse=True,
        )
        for size, name in by_size[:top]:
            was, objects = a["retained"].get(name, (0, 0)), b["retained"][name]
            lines.append(
                f"  {_mb(size):>12}  {name} (now {objects[0] / 1e6:.2f} MB in {objects[1]} "
                f"objects; was {was[0] / 1e6:.2f} MB in {was[1]})"
            )
        total = sum(v[0] for v in b["retained"].values())
        lines.append(
            f"  total {total / 1e6:.1f} MB, was "
            f"{sum(v[0] for v in a['retained'].values()) / 1e6:.1f} MB"
        )
    if "traced" not in first:
        return "\n".join(lines)
    filters = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    ]
    snap0 = tracemalloc.Snapshot.load(str(base / f"{first['label']}.snap")).filter_traces(filters)
    for p in points[1:]:
        snap = tracemalloc.Snapshot.load(str(base / f"{p['label']}.snap")).filter_traces(filters)
        lines.append("")
        lines.append(
            f"== t={first['label']} -> {p['label']} s: rss {_mb(p['rss'] - first['rss'])}, "
            f"traced {_mb(p['traced'] - first['traced'])}, tracemalloc's own "
            f"{_mb(p['tracemalloc_overhead'] - first['tracemalloc_overhead'])}"
        )
        for kind in ("filename", "lineno"):
            diff = snap.compare_to(snap0, kind)
            lines.append(f"-- grown, by {kind}:")
            for stat in diff[:top]:
                lines.append(
                    f"  {_mb(stat.size_diff):>12} {stat.count_diff:+8d} blocks  "
                    f"(now {stat.size / 1e6:.2f} MB)  {stat.traceback[0]}"
                )
        diff = snap.compare_to(snap0, "traceback")
        lines.append("-- grown, by traceback (innermost last, our frames and the allocation):")
        for stat in diff[:12]:
            lines.append(f"  {_mb(stat.size_diff)} {stat.count_diff:+d} blocks")
            frames = list(stat.traceback)
            for frame in frames[-12:]:
                lines.append(f"      {frame.filename}:{frame.lineno}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memtrace")
    parser.add_argument("dir")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    with contextlib.suppress(BrokenPipeError):
        print(report(args.dir, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
