"""The session's executions per contract, for the desk's average price of IB's
positions (`translate.average_price`) without replaying the whole day on every fill.

IB's position comes with its average cost, commissions in; the desk takes out those of
its own fills by replaying the day's executions in the contract (oldest first) from
the quantity they do not explain. Walked over every execution TWS reported this
session on each position update and each fill, that cost O(fills so far) per fill: a
busy day's 5,000th fill walked 5,000 executions twice. Here each contract keeps its
executions in order and the replay's state after each of them; a new execution (at
the end, as they come) is one more step, and only a change before the end (a
commission learnt late, a correction, an execution TWS reported out of order, a
position that does not fit the executions yet) replays from there.

Bounded: a contract keeps its newest `ExecutionLedger.rows_kept` executions (up to
twice as many between folds, and those of the second a fold would end in), and older
ones only while a commission of theirs that may still change is in the position
(pins, below). Every execution of the session was kept before, each holding
ib_async's Fill after ib_async had let go of it (`IBBroker._tidy_wrapper`): 9 MB for
5,000 fills, 94 MB for 50,000, for as long as the desk ran; now about 2 MB at 5,000
and 4 MB from some 20,000 on (`FOLDED_HEADS_KEPT` heads and 1,000 rows of one
contract). Once a contract holds more than twice `rows_kept`, its older executions
are folded (`_fold`): each replay kept (`REPLAYS_KEPT` starts) starts the rest from
its state after them, the commission a unit in IB's average there. The state after
an execution is all the later ones need, so for the position that fits the
executions the average is the whole day's replay, and what the replay must still see
is kept:

- an execution TWS sends again (a catch-up's or a reconcile's reqExecutions, a
  duplicated replay) is known by its id while kept, once folded by its head (for the
  newest `heads_kept` folded) and by its time: a fold ends between two of TWS's
  seconds, and an execution at or before the last one folded is the fold's;
- an execution whose commission may still change (`Commission` not final: the desk's
  fill whose report has not come, another program's fill that may yet be adopted or
  journaled, one not known as the desk's yet) is pinned when folded: its row stays,
  with how much of its commission each start's state after the fold holds, so a
  report that comes later moves that state as a replay would have; it goes once its
  commission is final, or once no start holds any of it (a close or a trade through
  zero came after it);
- a correction (the execution's id with a higher count after its final period) of a
  kept execution takes that execution's place in the replay, whatever time TWS gave
  it; one of a folded execution is the fold's (known by its head, or by its time).

What a fold cannot take back, taken as a quantity traded at the fold commission-free
(`_new_replay`), as the replay takes a position that does not fit the executions at
the start of the day: a correction of a folded execution's size, an execution TWS
reports only after later ones were folded (IB's position holds it), and a final
commission (the desk's fill with its report in) that changes after all. A new
ib_async session (a reconnect) is read anew (`follow`), every execution TWS replayed,
and folded once the session is rebuilt (`fold_all`, flat contracts too).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .contracts import to_decimal
from .fees import LATEST_KEPT, exec_head, newer
from .translate import replay_step, without_commission

# Replays kept per contract, each from another start (`ExecutionLedger.average`).
REPLAYS_KEPT = 4

# Executions kept per contract before older ones are folded (`ExecutionLedger._fold`):
# a correction of one of them takes its place in the replay.
ROWS_KEPT = 500

# Heads (`fees.exec_head`) of folded executions remembered, the newest: a correction
# TWS stamps later than the execution is then the fold's too. As many as the
# executions a correction can still be journaled for (`fees.LATEST_KEPT`).
FOLDED_HEADS_KEPT = LATEST_KEPT

Commission = Callable[[Any, str], tuple[Decimal, bool]]
"""An ib_async fill and the contract's currency -> the commission the desk takes out
of IB's average for it (zero: it stays in), and whether that is final (the desk's
fill with its report in, or one it never takes out): then only a `touch` of the
execution itself works it out again, not a `touch()` of all, and once folded nothing
does (`ExecutionLedger`)."""


@dataclass(eq=False)
class _Row:
    order: tuple[datetime, int]  # when, then as TWS sent them
    fill: Any  # ib_async's Fill
    signed: Decimal
    commission: Decimal = Decimal(0)
    final: bool = False  # worked out for good: only its own `touch` works it out again


@dataclass(eq=False)
class _Replay:
    """The replay from one start (the quantity before the book's first row)."""

    # the commission a unit in IB's average before the first row: zero until rows are
    # folded, then the replay's after them
    base: Decimal = Decimal(0)
    # pinned rows (by id()) -> how far `base` moves for each unit their commission does
    weights: dict[int, Decimal] = field(default_factory=dict)
    # the state after each of the first rows (held, commission a unit in IB's average)
    states: list[tuple[Decimal, Decimal]] = field(default_factory=list)


@dataclass(eq=False)
class _Book:
    """One contract's executions, oldest first, and the replay over them."""

    currency: str
    rows: list[_Row] = field(default_factory=list)
    total: Decimal = Decimal(0)  # the executions' signed quantities summed
    # rows whose commission is to be worked out again, by id()
    dirty: dict[int, _Row] = field(default_factory=dict)
    multiplier: Decimal = Decimal(1)
    replays: dict[Decimal, _Replay] = field(default_factory=dict)  # by start, used last last
    # TWS's time of the last execution folded: any at or before it is the fold's
    folded_until: datetime | None = None
    # folded rows whose commission may still change, by id()
    pins: dict[int, _Row] = field(default_factory=dict)

    def index(self, row: _Row) -> int:
        at = bisect.bisect_left(self.rows, row.order, key=lambda r: r.order)
        while self.rows[at] is not row:
            at += 1
        return at

    def replay_from(self, at: int) -> None:
        for replay in self.replays.values():
            del replay.states[at:]


class ExecutionLedger:
    """The executions of the account TWS reported this session (ib_async's
    `wrapper.fills`, kept in step through `add`), by contract: the newest `rows_kept`
    of each and the replay's state before them (the module's docstring)."""

    def __init__(self, account: str) -> None:
        self.account = account
        self.rows_kept = ROWS_KEPT
        self.heads_kept = FOLDED_HEADS_KEPT
        self._source: dict[str, Any] | None = None  # the wrapper's fills these follow
        self._books: dict[int, _Book] = {}
        self._rows: dict[str, tuple[_Book, _Row]] = {}  # exec id -> its row (pins too)
        self._heads: dict[str, str] = {}  # exec_head -> the exec id kept for it
        self._folded_heads: dict[str, None] = {}  # exec_heads folded, the newest last
        self._seq = itertools.count()

    @property
    def held(self) -> int:
        """Executions held: those kept and those pinned."""
        return len(self._rows)

    def follow(self, fills: dict[str, Any]) -> None:
        """Follow ib_async's fills: a new dict (its reset on connect) is read anew."""
        if fills is self._source:
            return
        self._source = fills
        self._books.clear()
        self._rows.clear()
        self._heads.clear()
        self._folded_heads.clear()
        for fill in list(fills.values()):
            self._add(fill)

    def add(self, fills: dict[str, Any], fill: Any) -> None:
        """A fill ib_async just took (`fills` its dict of them)."""
        if fills is not self._source:
            self.follow(fills)  # (holds `fill` already)
            return
        self._add(fill)

    def touch(self, exec_ids: Iterable[str] | None = None) -> None:
        """The desk's commission of these executions (else of all) may have changed: a
        report came, it was journaled, its order adopted."""
        if exec_ids is None:
            for book in self._books.values():
                book.dirty.update((id(row), row) for row in book.rows if not row.final)
                book.dirty.update(book.pins)
            return
        for exec_id in exec_ids:
            found = self._rows.get(exec_id)
            if found is not None:
                book, row = found
                book.dirty[id(row)] = row

    def fold_all(self, commission: Commission, quantities: Mapping[int, Decimal]) -> None:
        """Fold each contract's older executions as its position report would
        (`average`), from the position TWS holds now (`quantities` by conId; one not in
        it is flat): a session read anew (`follow`: a reconnect) holds every execution
        of the day until then, and a contract flat since gets no report that would."""
        keep = max(1, self.rows_kept)
        for con_id, book in list(self._books.items()):
            if len(book.rows) > 2 * keep:
                quantity = quantities.get(con_id, Decimal(0))
                self.average(con_id, commission, Decimal(0), quantity, book.multiplier)

    def average(
        self,
        con_id: int,
        commission: Commission,
        avg_cost: Decimal,
        quantity: Decimal,
        multiplier: Decimal,
    ) -> Decimal:
        """`average_price(avg_cost, quantity, <the contract's executions>, multiplier)`,
        the replay taken on from where it is still good."""
        book = self._books.get(con_id)
        if book is None or (not book.rows and book.folded_until is None):
            return avg_cost
        if book.dirty:
            self._work_out(book, commission)
        start = quantity - book.total
        if multiplier != book.multiplier:
            # (a commission a unit is the commission over the multiplier)
            scale = book.multiplier / multiplier
            for kept in book.replays.values():
                kept.base *= scale
                kept.weights = {pin: weight * scale for pin, weight in kept.weights.items()}
                kept.states.clear()
            book.multiplier = multiplier
        # The replay from `start`: a position that does not fit the executions (sent
        # before the latest ones reached the adapter, or after executions TWS does not
        # report to this client) is another start; the last few are kept.
        replay = book.replays.pop(start, None)
        if replay is None:
            replay = self._new_replay(book, start)
            while len(book.replays) >= REPLAYS_KEPT:
                del book.replays[next(iter(book.replays))]
        book.replays[start] = replay
        states = replay.states
        held, embedded = states[-1] if states else (start, replay.base)
        for row in book.rows[len(states) :]:
            held, embedded = replay_step(held, embedded, row.signed, row.commission, multiplier)
            states.append((held, embedded))
        keep = max(1, self.rows_kept)
        if len(book.rows) > 2 * keep:
            self._fold(book, len(book.rows) - keep)
        return without_commission(avg_cost, embedded)

    def _new_replay(self, book: _Book, start: Decimal) -> _Replay:
        """The replay from a start not kept: from the fold's state for the start used
        last, the quantity between the two taken as traded there, commission-free (at
        IB's cost), as the replay takes a quantity the executions do not explain."""
        if book.folded_until is None or not book.replays:
            return _Replay()
        last = next(reversed(book.replays))
        kept = book.replays[last]
        carried = _carried(last, start - last)
        weights = {pin: w * carried for pin, w in kept.weights.items() if w * carried}
        return _Replay(base=kept.base * carried, weights=weights)

    def _work_out(self, book: _Book, commission: Commission) -> None:
        first = len(book.rows)
        for row in book.dirty.values():
            worked, row.final = commission(row.fill, book.currency)
            if id(row) in book.pins:
                change, row.commission = worked - row.commission, worked
                for replay in book.replays.values():
                    weight = replay.weights.get(id(row))
                    if weight and change:
                        replay.base += weight * change
                        first = 0
                if row.final:
                    self._unpin(book, row)
                continue
            if worked != row.commission:
                row.commission = worked
                first = min(first, book.index(row))
        book.dirty.clear()
        book.replay_from(first)

    def _fold(self, book: _Book, limit: int) -> None:
        """Fold the book's rows before `limit` (as many as end between two of TWS's
        seconds) into the start of the rest: each replay kept, taken through them,
        starts the rest from its state after them; a row whose commission may still
        change stays as a pin, with how much of its commission each start's state
        holds (none once a close or a trade through zero came after it)."""
        rows = book.rows
        count = limit
        while count and rows[count].order[0] <= rows[count - 1].order[0]:
            count -= 1
        if not count:
            return
        folded = rows[:count]
        unsettled = any(not row.final for row in folded)
        replays: dict[Decimal, _Replay] = {}
        for start, replay in book.replays.items():
            states = replay.states
            held, embedded = states[-1] if states else (start, replay.base)
            for row in rows[len(states) : count]:
                held, embedded = replay_step(
                    held, embedded, row.signed, row.commission, book.multiplier
                )
                states.append((held, embedded))
            # How far the state after the fold moves for a unit of each commission that
            # may still change: the rows after it carry part of it, or none.
            weights: dict[int, Decimal] = {}
            carried = Decimal(1)
            for at in range(count - 1 if unsettled or replay.weights else -1, -1, -1):
                row = folded[at]
                before = states[at - 1][0] if at else start
                if not row.final:
                    weight = carried * _share(before, row.signed, book.multiplier)
                    if weight:
                        weights[id(row)] = weight
                carried *= _carried(before, row.signed)
                if not carried:
                    break
            for pin, weight in replay.weights.items():
                if weight * carried:
                    weights[pin] = weight * carried
            held, base = states[count - 1]
            replays[held] = _Replay(base=base, weights=weights, states=states[count:])
        book.replays = replays
        weighed = {pin for replay in replays.values() for pin in replay.weights}
        for row in folded:
            if id(row) in weighed:
                book.pins[id(row)] = row
            else:
                self._let_go(row)
        for pin, row in list(book.pins.items()):
            if pin not in weighed:
                self._unpin(book, row)
        del rows[:count]
        book.total -= sum((row.signed for row in folded), Decimal(0))
        book.folded_until = folded[-1].order[0]

    def _unpin(self, book: _Book, row: _Row) -> None:
        del book.pins[id(row)]
        for replay in book.replays.values():
            replay.weights.pop(id(row), None)
        self._let_go(row)

    def _let_go(self, row: _Row) -> None:
        """What is kept of a folded execution: its head, for a correction TWS stamps
        later than the fold."""
        exec_id = row.fill.execution.execId
        self._rows.pop(exec_id, None)
        head = exec_head(exec_id)
        if self._heads.get(head) == exec_id:
            del self._heads[head]
        self._folded_heads.pop(head, None)
        self._folded_heads[head] = None
        while len(self._folded_heads) > self.heads_kept:
            del self._folded_heads[next(iter(self._folded_heads))]

    def _add(self, fill: Any) -> None:
        execution = fill.execution
        if execution.acctNumber not in ("", self.account):
            return
        exec_id = execution.execId
        if exec_id in self._rows:
            return
        head = exec_head(exec_id)
        if head in self._folded_heads:
            return  # sent again, or corrected, once folded: the fold's
        con_id = fill.contract.conId
        book = self._books.get(con_id)
        if book is None:
            book = self._books[con_id] = _Book(currency=fill.contract.currency)
        when = execution.time
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        order = (when, next(self._seq))
        held = self._heads.get(head)
        if held is not None:
            if not newer(exec_id, held):
                return  # an earlier report of an execution corrected since
            kept, corrected = self._rows[held]
            if id(corrected) in kept.pins:
                return  # a correction of a folded execution: the fold's
            order = corrected.order  # the correction takes the execution's place
            self._remove(held)
        elif book.folded_until is not None and when <= book.folded_until:
            return  # sent again once folded, or reported only now: the fold's
        self._heads[head] = exec_id
        shares = to_decimal(execution.shares)
        row = _Row(order, fill, shares if execution.side == "BOT" else -shares)
        at = bisect.bisect_right(book.rows, row.order, key=lambda r: r.order)
        book.rows.insert(at, row)
        book.total += row.signed
        book.dirty[id(row)] = row
        book.replay_from(at)
        self._rows[exec_id] = (book, row)

    def _remove(self, exec_id: str) -> None:
        book, row = self._rows.pop(exec_id)
        at = book.index(row)
        del book.rows[at]
        book.total -= row.signed
        book.dirty.pop(id(row), None)
        book.replay_from(at)


def _carried(held: Decimal, signed: Decimal) -> Decimal:
    """How much of the commission a unit in IB's average before a trade of `signed`
    from `held` is in it after (`translate.replay_step`): an opening or adding trade
    spreads it over the new quantity, a reduction keeps it, a close or a trade through
    zero leaves none."""
    if not signed:
        return Decimal(1)
    after = held + signed
    if held == 0 or (held > 0) == (signed > 0):
        return held / after
    if after == 0 or (after > 0) != (held > 0):
        return Decimal(0)
    return Decimal(1)


def _share(held: Decimal, signed: Decimal, multiplier: Decimal) -> Decimal:
    """How far the commission a unit in IB's average after a trade of `signed` from
    `held` moves for a unit of the trade's own commission (`translate.replay_step`):
    an opening or adding trade puts it in, over the new quantity; others do not."""
    if signed and (held == 0 or (held > 0) == (signed > 0)):
        return 1 / (multiplier * (held + signed))
    return Decimal(0)
