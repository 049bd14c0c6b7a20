"""`brokers/kept.py`: the venue's reports the bus refused, written again in order by one
writer at a time. Against a memory bus whose writes Redis-like refuse while `refusing`
(READONLY in a failover) and take `slow_s` when taken (Redis busy)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from silvertine_tui.brokers.kept import KeptReports
from silvertine_tui.bus import BusError, MemoryBus
from silvertine_tui.events import EventBase, Log, LogEvent


class RefusingBus(MemoryBus):
    refusing = True
    slow_s = 0.0

    async def publish(self, event: EventBase) -> str | None:
        if self.refusing:
            raise BusError("Redis refused the write (READONLY): it was not journaled")
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        return await super().publish(event)


def report(n: int) -> LogEvent:
    return LogEvent.create("x/y", Log(message=str(n)))


async def written(bus: MemoryBus) -> list[str]:
    entries = await bus.read(bus.layout.route(report(0)))
    return [e.event.payload.message for e in entries if isinstance(e.event, LogEvent)]


async def test_closing_writes_each_report_once_and_leaves_no_writer_behind() -> None:
    """A report arrives while the adapter closes and the last write is slow: the
    closing write and a writer started by that report both wrote the head (twice in
    the journal), one popped what the other wrote (`IndexError` out of `close()`), and
    the writer ran on after close."""
    bus = RefusingBus()
    await bus.start()
    background: set[asyncio.Task[None]] = set()
    kept = KeptReports(bus, "x/y", Counter(), background)
    await kept.journal(report(1))
    assert len(kept) == 1
    bus.refusing, bus.slow_s = False, 0.3

    async def late() -> None:
        await asyncio.sleep(0.01)
        await kept.journal(report(2))

    await asyncio.gather(kept.at_close(), late())
    await asyncio.sleep(1.0)  # longer than a writer started meanwhile would wait
    assert await written(bus) == ["1"]  # once; the one after close is not written
    assert not [t for t in background if not t.done()]
    assert len(kept) == 1


async def test_a_write_that_must_not_wait_goes_after_the_reports_or_is_refused() -> None:
    """A pre-send update (PENDING_NEW) while refused reports wait: it was appended
    behind them and its caller told it was journaled, then sent the order with the
    update only in memory. It now writes the waiting reports first and then itself, or
    raises the refusal."""
    bus = RefusingBus()
    await bus.start()
    errors: Counter[str] = Counter()
    kept = KeptReports(bus, "x/y", errors, set())
    await kept.journal(report(1))
    with pytest.raises(BusError):
        await kept.journal(report(2), keep=False)  # the bus still refuses
    assert len(kept) == 1  # (not kept: its caller knows)
    bus.refusing = False
    await kept.journal(report(3), keep=False)
    assert await written(bus) == ["1", "3"]
    assert len(kept) == 0
    assert errors["journal"] == 1
    await kept.at_close()
