"""Executions TWS counted before it reported them.

TWS's orderStatus runs ahead of its execDetails: an order can read `Filled 5` (or a
partial) before its execution is reported, live or in a reqExecutions answer. Whatever
the desk takes from TWS in that moment already holds the execution, without its id:

- an order adopted on reconcile takes its filled quantity as TWS counts it
  (`VenueOrder.filled_qty`): every execution of it up to that count is in what was
  adopted (IB's `cumQty`, the order's filled quantity with the execution, says which),
  except those the reconcile journaled as missed fills;
- a status journaled ahead of its executions, then the venue's position taken for the
  instrument (a reconcile's `POSITION_MISMATCH` or `OPENING_POSITION`, or one taken
  once TWS's position reports stood): that position holds every execution the status
  counted.

Journaled again as a fill when it came, such an execution counted twice: the position
doubled (and an adopted order read 4 filled of 5 with 2 done) until the next reconcile,
and a reconcile after a restart reported it as a fill "made while we were away". Each
such execution is remembered by its id as held (`CommissionBook.remember_adopted`),
never journaled, never reported as missed, and its commission stays in IB's average
cost as for any execution the desk did not journal.

What is kept, per client order id: `adopted` (the count an adoption took, for good) and
`owed` (each count a status journaled ahead of its executions, with the journal entry
before it: a position taken after that entry holds the executions it counted; a
reconcile notes the counts of the orders it does not hear of otherwise, another
program's among them); per permId, the executions heard (`cumQty`, shares: TWS may
report a later one first) that a count is compared with. The journal is read for
positions taken once, from the oldest entry asked about (`JournalScan`). A restart reads
it back from the journal (`JournalReading`): the adoption's count is the adopted order's
filled quantity plus the missed fills the same reconcile journaled for it; a status's
count is owed while the journal holds fewer fills; another program's order, from the
entry before its first fill. Not read back: another program's order none of whose
executions TWS had reported before the desk restarts (nothing of it is in the journal):
the reconcile that first hears them journals them as missed and takes TWS's position
again in the same pass.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Container
from dataclasses import dataclass
from decimal import Decimal

from ...domain import Fill, FillCorrection, OrderUpdate, VenueOrder
from ...events import Reconcile, ReconcileKind
from .fees import exec_head

HEARD_KEPT = 20_000
"""Orders (by permId) whose executions heard are kept, orders of other programs whose
first fill the journal holds (`first_fill`), and orders with a count owed."""

TAKES = frozenset({ReconcileKind.POSITION_MISMATCH, ReconcileKind.OPENING_POSITION})
"""Reconcile records by which the journal took the venue's position for an instrument."""

TAKES_KEPT = 1_000
"""Positions taken that the journal scan keeps (`JournalScan`): they are rare."""


class JournalScan:
    """The journal read for positions taken (`TAKES`), once: from the oldest entry a
    status was noted after, on to the end as asked, each entry once."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()  # one reader at a time (`IBState._taken_since`)
        self._from: tuple[int, int] | None = None  # (the entry read from: exclusive)
        self._to = "0-0"  # the last entry read
        self._takes: list[tuple[tuple[int, int], str]] = []  # (entry, instrument)

    def start(self, mark: str) -> str:
        """Where to read on from for a status noted after `mark`: the last entry read,
        or `mark` itself when the scan has not read back that far (read again from
        there)."""
        key = entry_key(mark)
        if self._from is None or key < self._from:
            self._from, self._to, self._takes = key, mark, []
        return self._to

    def read(self, entry_id: str) -> None:
        self._to = entry_id

    def took(self, entry_id: str, instrument: str) -> None:
        self._takes.append((entry_key(entry_id), instrument))
        del self._takes[:-TAKES_KEPT]

    def taken_after(self, mark: str, instrument: str) -> bool:
        key = entry_key(mark)
        return any(at > key and took == instrument for at, took in self._takes)


def entry_key(entry_id: str) -> tuple[int, int]:
    """A journal entry id as a pair that sorts as the stream does (ms, seq)."""
    ms, _, seq = entry_id.partition("-")
    return (int(ms) if ms.isdigit() else 0, int(seq) if seq.isdigit() else 0)


@dataclass(slots=True)
class Owed:
    """A status journaled ahead of its executions: TWS had counted `through` of the
    order filled; `mark` is the journal's entry id before that status (a position taken
    after it holds the executions it counted beyond the order's previous status owed);
    `taken` once one was found."""

    through: Decimal
    instrument: str
    mark: str
    taken: bool = False


class CountedAhead:
    def __init__(self) -> None:
        self.adopted: dict[str, Decimal] = {}
        # client order id -> its statuses ahead of their executions, by count (each
        # with its own mark: a position taken after the first holds only what it
        # counted)
        self.owed: dict[str, list[Owed]] = {}
        # permId -> its executions heard: execution (without its correction count) ->
        # (cumQty, shares, execution id)
        self._heard: OrderedDict[int, dict[str, tuple[Decimal, Decimal, str]]] = OrderedDict()
        self.scan = JournalScan()
        # orders the desk never followed (another program's, ended before any reconcile
        # listed them open) -> the journal's entry before their first fill, read back at
        # a restart: TWS had counted all their executions by then (`first_fill`)
        self._first_fill: OrderedDict[str, str] = OrderedDict()

    def heard(self, perm_id: int, exec_id: str, cum_qty: Decimal, shares: Decimal) -> None:
        """An execution of the order `perm_id` was heard (live or in an answer; a
        correction stands for the execution it corrects)."""
        if perm_id <= 0:
            return
        executions = self._heard.setdefault(perm_id, {})
        executions[exec_head(exec_id)] = (cum_qty, shares, exec_id)
        self._heard.move_to_end(perm_id)
        while len(self._heard) > HEARD_KEPT:
            self._heard.popitem(last=False)

    def accounted(
        self,
        coid: str,
        perm_id: int,
        through: Decimal,
        done: Callable[[str], bool] | Container[str] | None = None,
    ) -> bool:
        """Whether every execution in a count of `through` filled is accounted for:
        what an adoption took, and the executions heard (of those, only the ones in
        `done` when given) whose `cumQty` is within the count (TWS may report a later
        execution before an earlier one)."""
        adopted = self.adopted.get(coid, Decimal(0))
        if through <= adopted:
            return True
        within = Decimal(0)
        for cum, shares, exec_id in self._heard.get(perm_id, {}).values():
            if adopted < cum <= through and (done is None or _in(done, exec_id)):
                within += shares
        return adopted + within >= through

    def first_fill(self, coid: str, mark: str) -> None:
        self._first_fill[coid] = mark
        while len(self._first_fill) > HEARD_KEPT:
            self._first_fill.popitem(last=False)

    def mark_for(self, coid: str, now: str) -> str:
        """The entry a position taken after holds the order's executions TWS counts now:
        `now`, or for an order the desk never followed whose fills the journal holds,
        the entry before the first of them (the order had ended when a reconcile first
        journaled them: TWS's count was what it is now)."""
        return self._first_fill.get(coid, now)

    def adopt(self, coid: str, through: Decimal) -> None:
        """An adoption took the order filled `through` (kept: a later reconcile's
        listing does not move it)."""
        self.adopted.setdefault(coid, through)

    def in_adoption(self, coid: str, cum_qty: Decimal) -> bool:
        through = self.adopted.get(coid)
        return through is not None and Decimal(0) < cum_qty <= through

    def owes(self, coid: str, through: Decimal) -> bool:
        """Whether a count of `through` is noted already (or a higher one)."""
        held = self.owed.get(coid)
        return bool(held) and through <= held[-1].through  # type: ignore[index]

    def owe(self, coid: str, through: Decimal, instrument: str, mark: str) -> None:
        """A status counting `through` filled is about to be journaled ahead of its
        executions (`mark`: the journal's last entry before it)."""
        if not self.owes(coid, through):
            self.owed.setdefault(coid, []).append(Owed(through, instrument, mark))
            while len(self.owed) > HEARD_KEPT:  # (another program's orders: never forgotten)
                del self.owed[next(iter(self.owed))]

    def owed_for(self, coid: str, cum_qty: Decimal) -> Owed | None:
        """The first status that counted an execution of `cum_qty`."""
        if cum_qty <= 0:
            return None
        for owed in self.owed.get(coid, ()):
            if cum_qty <= owed.through:
                return owed
        return None

    def settled(self, coid: str, perm_id: int, done: Container[str]) -> None:
        """An execution of the order was journaled or held: once those `done` account
        for all the status counted, nothing of it is owed (by their shares: TWS may
        report the last before an earlier one)."""
        held = self.owed.get(coid)
        if held and self.accounted(coid, perm_id, held[-1].through, done):
            del self.owed[coid]

    def forget(self, coid: str) -> None:
        self.adopted.pop(coid, None)
        self.owed.pop(coid, None)


class JournalReading:
    """What `CountedAhead` keeps, read back from the journal at start (in its order)."""

    def __init__(self) -> None:
        self._adopted: dict[str, Decimal] = {}
        # adopted orders whose reconcile may still journal missed fills for them (each
        # a MISSED_FILL record, then its fill), until another event of theirs
        self._adopting: set[str] = set()
        self._missed_next: set[str] = set()
        self._instrument: dict[str, str] = {}
        # client order id -> quantity the journal holds filled (fills, an adoption's count)
        self._filled: dict[str, Decimal] = {}
        # client order id -> each status that raised TWS's count: (count, entry before)
        self._status: dict[str, list[tuple[Decimal, str]]] = {}
        self._own: set[str] = set()  # orders placed by the desk (their requests)
        self._first_fill: dict[str, str] = {}  # others' -> the entry before their first fill
        self._last_id = "0-0"

    def entry(self, entry_id: str) -> None:
        """Call after each entry is read (the id of the entry before the next one)."""
        self._last_id = entry_id

    def request(self, coid: str, instrument: str) -> None:
        self._own.add(coid)
        self._instrument.setdefault(coid, instrument)

    def reconcile(self, rec: Reconcile) -> None:
        coid = rec.client_order_id
        venue: VenueOrder | None = rec.venue_order
        if rec.kind is ReconcileKind.VENUE_ORDER_UNKNOWN and venue is not None:
            coid = coid or venue.client_order_id
            self._adopted[coid] = venue.filled_qty
            self._filled[coid] = self._filled.get(coid, Decimal(0)) + venue.filled_qty
            self._instrument.setdefault(coid, venue.instrument)
            self._adopting.add(coid)
        elif rec.kind is ReconcileKind.MISSED_FILL and coid in self._adopting:
            self._missed_next.add(coid)
        elif coid:
            self._adopting.discard(coid)

    def fill(self, fill: Fill) -> None:
        coid = fill.client_order_id
        if coid not in self._own and coid not in self._adopted:
            self._first_fill.setdefault(coid, self._last_id)
        self._filled[coid] = self._filled.get(coid, Decimal(0)) + fill.quantity
        if coid in self._missed_next:
            self._missed_next.discard(coid)
            self._adopted[coid] += fill.quantity  # made before the adoption's listing
        else:
            self._adopting.discard(coid)

    def correction(self, correction: FillCorrection) -> None:
        coid = correction.fill.client_order_id
        if coid in self._filled:
            self._filled[coid] += correction.quantity_change
        self._adopting.discard(coid)

    def update(self, update: OrderUpdate) -> None:
        coid = update.client_order_id
        self._adopting.discard(coid)
        self._missed_next.discard(coid)
        filled = update.filled_qty
        if filled is None or filled <= 0:
            return
        held = self._status.setdefault(coid, [])
        if not held or filled > held[-1][0]:
            held.append((filled, self._last_id))

    def into(self, counted: CountedAhead) -> None:
        for coid, mark in self._first_fill.items():
            if coid not in self._adopted:  # (adopted after its first fill: followed)
                counted.first_fill(coid, mark)
        for coid, through in self._adopted.items():
            counted.adopted.setdefault(coid, through)
        for coid, counts in self._status.items():
            instrument = self._instrument.get(coid)
            if instrument is None or counts[-1][0] <= self._filled.get(coid, Decimal(0)):
                continue  # every execution they counted is in the journal
            for through, mark in counts:  # (each with its own mark, as when journaled)
                counted.owe(coid, through, instrument, mark)


def _in(done: Callable[[str], bool] | Container[str], exec_id: str) -> bool:
    return done(exec_id) if callable(done) else exec_id in done
