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
    kept = KeptReports(bus, "x/y", Counter())
    await kept.journal(report(1))
    assert len(kept) == 1
    bus.refusing, bus.slow_s = False, 0.3

    async def late() -> None:
        await asyncio.sleep(0.01)
        await kept.journal(report(2))

    await asyncio.gather(kept.at_close(), late())
    await asyncio.sleep(1.0)  # longer than a writer started meanwhile would wait
    assert await written(bus) == ["1"]  # once; the one after close is not written
    assert kept._task is None or kept._task.done()
    assert len(kept) == 1


async def test_a_write_that_must_not_wait_goes_after_the_reports_or_is_refused() -> None:
    """A pre-send update (PENDING_NEW) while refused reports wait: it was appended
    behind them and its caller told it was journaled, then sent the order with the
    update only in memory. It now writes the waiting reports first and then itself, or
    raises the refusal."""
    bus = RefusingBus()
    await bus.start()
    errors: Counter[str] = Counter()
    kept = KeptReports(bus, "x/y", errors)
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


class SlowReply(RefusingBus):
    """When it takes a write, the write lands at once and its reply comes `reply_s`
    later (Redis applied the XADD; its answer is on the wire)."""

    reply_s = 0.0

    async def publish(self, event: EventBase) -> str | None:
        got = await super().publish(event)
        await asyncio.sleep(self.reply_s)
        return got


async def test_closing_while_a_write_again_waits_for_its_reply_writes_it_once() -> None:
    """The write again landed and its reply was on its way when the adapter closed: the
    task was cancelled in that write, the report stayed first in line, and the closing
    write sent it a second time."""
    bus = SlowReply()
    await bus.start()
    kept = KeptReports(bus, "x/y", Counter())
    await kept.journal(report(1))
    bus.refusing, bus.reply_s = False, 0.5
    await asyncio.sleep(0.3)  # the write again landed, its reply on the way
    await kept.at_close()
    assert await written(bus) == ["1"]
    assert len(kept) == 0


class RefusesTheFirstAfterAWhile(MemoryBus):
    """The first write is refused after an await (the outage buffer full), the next
    taken: two reports written at once."""

    calls = 0

    async def publish(self, event: EventBase) -> str | None:
        self.calls += 1
        if self.calls == 1:
            await asyncio.sleep(0.01)
            raise BusError("the outage buffer is full: this event was not journaled")
        return await super().publish(event)


async def test_two_reports_written_at_once_keep_their_order() -> None:
    """A fill from one task and the order's FILLED from another (Binance: the user
    stream, the timer releasing held statuses): both found nothing waiting, the first
    was refused after the second went, and the FILLED landed before its fill."""
    bus = RefusesTheFirstAfterAWhile()
    await bus.start()
    kept = KeptReports(bus, "x/y", Counter())
    await asyncio.gather(kept.journal(report(1)), kept.journal(report(2)))
    await asyncio.sleep(0.5)
    assert await written(bus) == ["1", "2"]
    await kept.at_close()
