"""What a venue reported that the bus refused to journal, written again until it takes it.

An adapter counts a venue's report as journaled once it has passed it on: its catch-up
never asks the venue for a fill it already published, and it takes a status it already
published again for a duplicate. So a refused write (Redis READONLY in a failover, out
of memory, the outage buffer full) was a report lost: an order FILLED with nothing
filled, or working on the desk after it ended at the venue, nothing said. Refused
reports are kept here, oldest first, and written again in the background (0.2 s
doubling to 5 s) until the bus takes them; what an adapter journals of its orders while
any wait goes behind them, so each order's events keep their order. Counted
(`journal`), logged, and their number is in the broker's health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque

from ..bus import BusError, EventBus
from ..events import EventBase, FillEvent, OrderUpdateEvent
from .stopping import stop_task

log = logging.getLogger(__name__)

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 5.0


def described(event: EventBase) -> str:
    """`fill ETHUSDT-12` / `order.update 0000abcd NEW`: which report, in a log line."""
    if isinstance(event, FillEvent):
        return f"fill {event.payload.exec_id}"
    if isinstance(event, OrderUpdateEvent):
        return f"order.update {event.payload.client_order_id} {event.payload.status}"
    return f"{event.type} {event.event_id}"


class KeptReports:
    """The reports of one adapter the bus refused, in the order they came. Every write
    of a report is made under `_lock`, one at a time: two written at once both found
    nothing waiting, the first was refused after the second went, and one order's
    events landed out of order."""

    def __init__(self, bus: EventBus, source: str, errors: Counter[str]) -> None:
        # The adapter's bus and error counts, not its methods: nothing here refers back
        # to the adapter, so a closed one is freed at once, not left to the cyclic
        # collector.
        self._bus = bus
        self._source = source
        self._errors = errors
        self._waiting: deque[EventBase] = deque()
        self._task: asyncio.Task[None] | None = None  # writing them again (`_write_again`)
        self._lock = asyncio.Lock()
        self._closed = False  # `at_close` ran: nothing is written again in the background

    def __len__(self) -> int:
        return len(self._waiting)

    async def journal(self, event: EventBase, *, keep: bool = True) -> None:
        """Write `event`, behind any report still waiting. `keep`: refused by the bus,
        it is kept and written again. Else (a write its caller must know failed before
        it sends anything to the venue) the reports waiting are written first, then it,
        and a refusal of any is raised: it is never left waiting while its caller
        sends."""
        if keep and self._waiting:
            self._waiting.append(event)
            self._write_later()  # (its task ended: a fault of its own, logged)
            return
        async with self._lock:
            if not keep:
                await self._write_waiting(len(self._waiting))
                await self._bus.publish(event)
                return
            if self._waiting:  # (refused while this one waited for the lock)
                self._waiting.append(event)
                self._write_later()
                return
            try:
                await self._bus.publish(event)
            except BusError as exc:
                self._waiting.append(event)
                self._errors["journal"] += 1
                log.error(
                    "broker.report_not_journaled",
                    extra={"broker": self._source, "report": described(event), "error": str(exc)},
                )
                self._write_later()

    async def flush(self) -> None:
        """Write every report waiting now, in order; a refusal is raised."""
        async with self._lock:
            await self._write_waiting(len(self._waiting))

    async def _write_waiting(self, count: int) -> None:
        """Write the first `count` reports waiting, in order (under `_lock`); a
        refusal is raised and leaves the rest waiting."""
        waiting = self._waiting
        for _ in range(count):
            if not waiting:
                return
            head = waiting[0]
            await self._bus.publish(head)
            log.warning(
                "broker.report_journaled_late",
                extra={"broker": self._source, "report": described(head)},
            )
            if waiting and waiting[0] is head:
                waiting.popleft()

    def _write_later(self) -> None:
        if self._closed:
            log.error(
                "broker.report_not_journaled_after_close",
                extra={"broker": self._source, "waiting": len(self._waiting)},
            )
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_again(), name=f"kept:{self._source}")

    async def _write_again(self) -> None:
        delay = RETRY_FIRST_S
        waiting = self._waiting
        failing = ""  # the last fault logged: once while it lasts
        while waiting:
            await asyncio.sleep(delay)
            try:
                async with self._lock:
                    if self._closed:
                        return  # `at_close` writes them, once
                    await self._write_waiting(len(waiting))
            except Exception as exc:
                # Any refusal, not only the bus's own: the reports behind it wait on
                # this task, and one that ended left them unwritten with nothing said.
                if not isinstance(exc, BusError) and repr(exc) != failing:
                    failing = repr(exc)
                    log.exception(
                        "broker.report_journal_failed",
                        extra={
                            "broker": self._source,
                            "report": described(waiting[0]) if waiting else "",
                        },
                    )
                delay = min(max(delay * 2, RETRY_FIRST_S), RETRY_MAX_S)
                continue
            delay = 0.0

    async def at_close(self) -> None:
        """Stop writing them again in the background (a report arriving after this is
        kept, not written: logged), write each once more in order, then say loudly what
        is left: the venue holds it, and a real venue's reconcile at the next start asks
        for it. The task writing them again is stopped between two writes, never in
        one (cancelled in a write whose reply was pending, the report went twice)."""
        self._closed = True
        async with self._lock:
            task = self._task
            if task is not None and not task.done():
                # (it sleeps or waits for the lock: not in a write)
                await stop_task(task)
            with contextlib.suppress(Exception):
                await self._write_waiting(len(self._waiting))
        waiting = self._waiting
        if waiting:
            log.error(
                "broker.reports_not_journaled_at_close",
                extra={
                    "broker": self._source,
                    "count": len(waiting),
                    "reports": [described(event) for event in waiting],
                },
            )
