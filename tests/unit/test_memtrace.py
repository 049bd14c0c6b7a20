"""`benchmarks/memtrace.py`: the memory diagnostic of `python -m benchmarks ui`."""

from __future__ import annotations

import asyncio
import functools
import sys
from pathlib import Path

from benchmarks.memtrace import Tracer, report, retained


class Part:
    def __init__(self, items: list[object], other: object = None) -> None:
        self.items = items
        self.other = other


def test_retained_counts_each_object_once_for_the_first_root_that_reaches_it() -> None:
    shared = [bytes(1000)]
    first = Part([bytes(5000), shared])
    second = Part([bytes(3000), shared], other=first)  # reaches `first`: not counted twice
    sizes = retained([("first", first), ("second", second)])
    assert sizes["first.items"][0] > 6000  # its own bytes and the shared list
    assert 3000 < sizes["second.items"][0] < 4000  # the shared list went to `first`
    assert "second.other" not in sizes  # a root is never counted inside another
    total = sum(size for size, _ in sizes.values())
    assert total < 5000 + 3000 + 1000 + 2000  # nothing counted twice


def test_retained_enters_an_lru_cache() -> None:
    @functools.lru_cache(16)
    def make(n: int) -> bytes:
        return bytes(n)

    make(10_000)
    (size, _), *_ = retained([("cache", make)]).values()
    assert size > 10_000


def test_points_and_report(tmp_path: Path) -> None:
    class Held:  # a type of its own: no instance exists before this test makes them
        pass

    async def run() -> None:
        started = asyncio.Event()
        # The second point 2 s on: a point walks every object of the process, and at
        # the end of the whole suite (a big process, a loaded machine) the first took
        # over 0.3 s, so the second came before the objects were made (CI failed).
        tracer = Tracer(str(tmp_path), (0.0, 2.0))
        hold: list[object] = []
        tracer.roots = lambda: [("hold", hold)]
        task = asyncio.create_task(tracer.run(started))
        started.set()
        # Between the two points: after the first is recorded, long before the second.
        while not tracer.points:  # noqa: ASYNC110 - the tracer has no event to await
            await asyncio.sleep(0.001)
        hold.extend(Held() for _ in range(2_000))
        await task

    asyncio.run(run())
    text = report(str(tmp_path))
    assert "t=0 s (MB): rss" in text
    assert "t=2 s (MB): rss" in text
    grown = text.split("by type:")[1]
    assert "+2000 test_points_and_report.<locals>.Held (now 2000)" in grown
    assert "hold" in text.split("== retained")[1]
    if sys.platform == "linux":
        assert "malloc.arena" in text
