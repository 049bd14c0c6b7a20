"""Commission reports and the fills they belong to.

TWS sends an execution's commission in a separate message, usually right after the
execution, sometimes well after it, and now and then before it (ib_async drops that
one; the adapter taps every report first). A fill is journaled once per execution id,
with its fee when the report is in; a fill journaled without one gets its fee as a
`FeeCorrection` when the report comes.

IB corrects an execution by sending it again under an execId that differs only in the
digits after its final period (`...01.01` -> `...01.02`): the correction replaces the
execution, it is no second fill (`corrected`). It is journaled as a `FillCorrection`
of the fill last journaled for that execution (`latest`), kept for the last
`LATEST_KEPT` executions.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ...domain import FeeCorrection, Fill, FillCorrection
from .contracts import to_decimal
from .translate import UNSET_DOUBLE

# Executions whose journaled fill is kept for a correction to name what it replaces.
LATEST_KEPT = 20_000

# How long what is kept per execution id is kept after the execution (its time at IB,
# else when the book learnt of it; the later of the two): TWS replays executions
# (reqExecutions, on connect and in every catch-up) of the current day only, of up to
# the last 7 days when TWS is set to show that many; one older never comes again, and
# neither does its commission report. Bounded by count instead, a busy day's
# replayed fill could be journaled twice.
KEPT_NS = 8 * 24 * 3600 * 1_000_000_000


class CommissionBook:
    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self.clock = clock
        # exec id -> until when (ns) what is kept of it is kept, and those times in
        # order (`_forget_old`)
        self._until: dict[str, int] = {}
        self._expiry: list[tuple[int, str]] = []
        # exec ids a reconcile reported (the journal holds them as fills after it), and
        # corrections the desk could not take, said (the adapter's `_reconciled`,
        # `_corrections_said`): kept as long as the rest
        self.reconciled: set[str] = set()
        self.corrections_said: set[str] = set()
        self.reports: dict[str, Any] = {}  # exec id -> CommissionReport
        self.journaled: set[str] = set()  # exec ids of fills in the journal
        # exec ids the journal holds inside an adopted order (and the opening position
        # taken from the venue), never as fills: `remember_adopted`
        self.adopted: set[str] = set()
        self._arrived: dict[str, asyncio.Event] = {}
        self._without_fee: dict[str, Fill] = {}  # journaled without a fee, waiting
        self._fee_known: set[str] = set()  # exec ids whose fee is in the journal
        self._by_head: dict[str, str] = {}  # execution (`exec_head`) -> id journaled last
        # execution (`exec_head`) -> its fill as journaled last (fee corrections in)
        self._latest: OrderedDict[str, Fill] = OrderedDict()
        # client order id -> the executions (`exec_head`) of its fills in `_latest`
        self._by_order: dict[str, set[str]] = {}

    def note(self, exec_id: str, at_ns: int | None = None) -> None:
        """Keep what is kept of `exec_id` until `KEPT_NS` after `at_ns` (the
        execution's time at IB; else now), or longer if noted so before; and let go of
        what is kept of executions past theirs (one noted past its time already goes
        at the next note: what is about to be kept of it is kept first)."""
        now = self.clock()
        self._forget_old(now)
        until = (at_ns or now) + KEPT_NS
        if self._until.get(exec_id, 0) < until:
            self._until[exec_id] = until
            heapq.heappush(self._expiry, (until, exec_id))

    def _forget_old(self, now: int) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            until, exec_id = heapq.heappop(expiry)
            if self._until.get(exec_id) != until:
                continue  # kept longer since
            del self._until[exec_id]
            self.forget(exec_id)

    def forget(self, exec_id: str) -> None:
        """Everything kept of an execution TWS can no longer replay."""
        self.reports.pop(exec_id, None)
        self.journaled.discard(exec_id)
        self.adopted.discard(exec_id)
        self._fee_known.discard(exec_id)
        self._without_fee.pop(exec_id, None)
        self.reconciled.discard(exec_id)
        self.corrections_said.discard(exec_id)
        head = exec_head(exec_id)
        if self._by_head.get(head) == exec_id:
            del self._by_head[head]

    def kept(self) -> int:
        """How many executions something is kept of (for health)."""
        return len(self._until)

    def remember_journaled(self, exec_id: str, *, with_fee: bool, at_ns: int | None = None) -> None:
        """What the journal already holds (read back at start)."""
        self.note(exec_id, at_ns)
        self.journaled.add(exec_id)
        self._by_head.setdefault(exec_head(exec_id), exec_id)
        if with_fee:
            self._fee_known.add(exec_id)

    def remember_fill(self, fill: Fill) -> None:
        """A fill the journal holds (read back at start), for a correction of it; one
        journaled without its fee gets it when TWS reports it (`due`)."""
        self.remember_journaled(
            fill.exec_id, with_fee=bool(fill.fee_currency), at_ns=fill.venue_ts_ns
        )
        self._fee_to_come(fill)
        self._keep(fill)

    def remember_correction(self, correction: FillCorrection) -> None:
        """A correction the journal holds: its fill stands for the execution now."""
        fill = correction.fill
        self.note(fill.exec_id, fill.venue_ts_ns)
        self.note(correction.replaces, fill.venue_ts_ns)
        self.journaled.add(fill.exec_id)
        self._by_head[exec_head(fill.exec_id)] = fill.exec_id
        if fill.fee_currency:
            self._fee_known.add(fill.exec_id)
        self._without_fee.pop(correction.replaces, None)
        self._fee_to_come(fill)
        self._keep(fill)

    def remember_fee(self, correction: FeeCorrection) -> None:
        """A fee correction the journal holds: the fill it corrects carries it now."""
        until = self._until.get(correction.exec_id)  # (kept as long as its fill)
        at_ns = None if until is None else until - KEPT_NS
        self.remember_journaled(correction.exec_id, with_fee=True, at_ns=at_ns)
        self._without_fee.pop(correction.exec_id, None)
        head = exec_head(correction.exec_id)
        kept = self._latest.get(head)
        if kept is not None and kept.exec_id == correction.exec_id:
            self._latest[head] = kept.model_copy(
                update={
                    "fee": correction.fee,
                    "fee_currency": correction.fee_currency,
                    "fee_value": correction.fee_value,
                }
            )

    def latest(self, exec_id: str) -> Fill | None:
        """The fill journaled last for `exec_id`'s execution, if kept."""
        return self._latest.get(exec_head(exec_id))

    def fills_of(self, client_order_id: str) -> list[Fill]:
        """The fills the journal holds for an order, each execution as journaled last
        (a correction in place of the fill it replaced), of those kept."""
        latest = self._latest
        return [latest[head] for head in self._by_order.get(client_order_id, ())]

    def forget_order(self, client_order_id: str) -> None:
        """An order forgotten (`IdentityMap.finished_kept`): its fills are no longer
        looked up by it (each is kept for its corrections as before)."""
        self._by_order.pop(client_order_id, None)

    def _keep(self, fill: Fill) -> None:
        head = exec_head(fill.exec_id)
        before = self._latest.get(head)
        if before is not None and before.client_order_id != fill.client_order_id:
            self._unindex(before.client_order_id, head)
        self._latest[head] = fill
        self._latest.move_to_end(head)
        self._by_order.setdefault(fill.client_order_id, set()).add(head)
        while len(self._latest) > LATEST_KEPT:
            gone, dropped = self._latest.popitem(last=False)
            self._unindex(dropped.client_order_id, gone)

    def _unindex(self, client_order_id: str, head: str) -> None:
        heads = self._by_order.get(client_order_id)
        if heads is not None:
            heads.discard(head)
            if not heads:
                del self._by_order[client_order_id]

    def remember_adopted(self, exec_id: str) -> None:
        """An execution of an order adopted on reconcile, made before it was adopted:
        what was adopted holds it (its filled quantity, the opening position); it is
        never journaled as a fill, and its commission is no fee of the desk's."""
        self.remember_journaled(exec_id, with_fee=True)
        self.adopted.add(exec_id)

    def add_report(self, report: Any) -> bool:
        """Keep a report; True when it is the fee of a fill journaled without one. One
        whose commission is IB's unset double (not worked out yet: the real one
        follows) is no report: kept, it made the fee known, the fill was journaled
        with none and the real report after it was never taken."""
        if not report.commission < UNSET_DOUBLE:  # (a NaN too)
            return False
        exec_id = report.execId
        self.note(exec_id)
        first = exec_id not in self.reports
        self.reports[exec_id] = copy.copy(report)
        arrived = self._arrived.get(exec_id)
        if arrived is not None:
            arrived.set()
        return first and exec_id in self._without_fee

    def corrected(self, exec_id: str) -> str | None:
        """The fill journaled for `exec_id`'s execution under another execId, if any:
        `exec_id` corrects it when it is newer (`newer`), else it is an earlier report
        of an execution corrected since."""
        journaled = self._by_head.get(exec_head(exec_id))
        if journaled is None or journaled == exec_id or exec_id in self.journaled:
            return None
        return journaled

    def reported(self, fill: Fill) -> None:
        """A fill the engine journaled from a reconcile report (a fill of another
        program's order, one the adapter missed): IB's correction of it is then known
        for one, not taken for another fill, and its fee, when TWS had not worked it
        out yet, comes as a correction (`due`)."""
        head = exec_head(fill.exec_id)
        if head not in self._by_head:
            self._by_head[head] = fill.exec_id
            self.remember_journaled(
                fill.exec_id, with_fee=bool(fill.fee_currency), at_ns=fill.venue_ts_ns
            )
            self._fee_to_come(fill)
            self._keep(fill)

    def _fee_to_come(self, fill: Fill) -> None:
        """A journaled fill whose commission report was not in when it was built (no
        fee currency): its fee is journaled as a correction once the report is in."""
        if not fill.fee_currency and fill.exec_id not in self._fee_known:
            self._without_fee[fill.exec_id] = fill

    def due(self, exec_ids: Iterable[str] | None = None) -> list[str]:
        """Of `exec_ids` (else of all), the fills journaled without their fee whose
        report is in: it came before the desk knew the fill (a restart's first
        catch-up, a reconcile's answer), so `add_report` could not say so."""
        waiting = self._without_fee
        return [
            exec_id
            for exec_id in (waiting if exec_ids is None else exec_ids)
            if exec_id in waiting and exec_id in self.reports
        ]

    def report(self, exec_id: str) -> Any | None:
        return self.reports.get(exec_id)

    async def wait_for(
        self, exec_id: str, timeout_s: float, until: Callable[[], Awaitable[None]]
    ) -> None:
        """Until the execution's report is in, at most `timeout_s`, and no longer than
        `until` takes (TWS answering a request that waits: the report is late, and the
        answer must not wait behind it; the fill's fee then follows as a correction)."""
        if exec_id in self.reports or timeout_s <= 0:
            return
        arrived = self._arrived.setdefault(exec_id, asyncio.Event())
        waits = [asyncio.ensure_future(arrived.wait()), asyncio.ensure_future(until())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            self._arrived.pop(exec_id, None)

    def journal(self, fill: Fill) -> None:
        """`fill` is going to the journal (with its fee, or waiting for it)."""
        self.note(fill.exec_id, fill.venue_ts_ns)
        self.journaled.add(fill.exec_id)
        self._by_head.setdefault(exec_head(fill.exec_id), fill.exec_id)
        self._wait_for_fee(fill)
        self._keep(fill)

    def journal_correction(self, correction: FillCorrection) -> None:
        """`correction` is going to the journal: its fill stands for the execution, and
        the fee of the fill it replaces is no longer waited for."""
        self.remember_correction(correction)
        self._wait_for_fee(correction.fill)

    def _wait_for_fee(self, fill: Fill) -> None:
        if fill.exec_id in self.reports:
            self._fee_known.add(fill.exec_id)
        else:
            self._without_fee[fill.exec_id] = fill

    def correction(self, exec_id: str, *, broker: str, account: str) -> FeeCorrection | None:
        """The fee correction for a fill journaled without its fee, once."""
        fill = self._without_fee.get(exec_id)
        report = self.reports.get(exec_id)
        if fill is None or report is None or exec_id in self._fee_known:
            return None
        if report.commission >= UNSET_DOUBLE:
            return None
        del self._without_fee[exec_id]
        self._fee_known.add(exec_id)
        correction = FeeCorrection(
            exec_id=exec_id,
            client_order_id=fill.client_order_id,
            broker=broker,
            account=account,
            instrument=fill.instrument,
            fee=to_decimal(report.commission),
            fee_currency=report.currency,
            previous_fee=fill.fee,
            previous_currency=fill.fee_currency,
        )
        self.remember_fee(correction)
        return correction


def exec_head(exec_id: str) -> str:
    """An execution id without the digits after its final period, where IB counts the
    execution's corrections."""
    head, dot, _ = exec_id.rpartition(".")
    return head if dot else exec_id


def newer(exec_id: str, than: str) -> bool:
    """Whether `exec_id` is a later correction of the execution `than` is one of."""
    return _count(exec_id) > _count(than)


def _count(exec_id: str) -> int:
    """How many times IB corrected an execution: the digits after its final period."""
    _, dot, count = exec_id.rpartition(".")
    return int(count) if dot and count.isdigit() else 0


def latest_executions(fills: Iterable[Any]) -> list[Any]:
    """ib_async fills with each corrected execution left out (only its latest
    correction kept), in the order given."""
    latest: dict[str, Any] = {}
    for fill in fills:
        head = exec_head(fill.execution.execId)
        held = latest.get(head)
        if held is None or newer(fill.execution.execId, held.execution.execId):
            latest[head] = fill
    kept = {id(fill) for fill in latest.values()}
    return [fill for fill in fills if id(fill) in kept]
