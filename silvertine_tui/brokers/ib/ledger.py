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
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .contracts import to_decimal
from .fees import exec_head, newer
from .translate import replay_step, without_commission

# Replays kept per contract, each from another start (`ExecutionLedger.average`).
REPLAYS_KEPT = 4

Commission = Callable[[Any, str], tuple[Decimal, bool]]
"""An ib_async fill and the contract's currency -> the commission the desk takes out
of IB's average for it (zero: it stays in), and whether that is final (the desk's
fill with its report in, or one it never takes out): then only a `touch` of the
execution itself works it out again, not a `touch()` of all."""


@dataclass(eq=False)
class _Row:
    order: tuple[datetime, int]  # when, then as TWS sent them
    fill: Any  # ib_async's Fill
    signed: Decimal
    commission: Decimal = Decimal(0)
    final: bool = False  # worked out for good: only its own `touch` works it out again


@dataclass(eq=False)
class _Book:
    """One contract's executions, oldest first, and the replay over them."""

    currency: str
    rows: list[_Row] = field(default_factory=list)
    total: Decimal = Decimal(0)  # the executions' signed quantities summed
    # rows whose commission is to be worked out again, by id()
    dirty: dict[int, _Row] = field(default_factory=dict)
    # the replays: from a start (the quantity before the first execution), the state
    # after each of the first rows (held, commission a unit in IB's average)
    multiplier: Decimal = Decimal(1)
    replays: dict[Decimal, list[tuple[Decimal, Decimal]]] = field(default_factory=dict)

    def index(self, row: _Row) -> int:
        at = bisect.bisect_left(self.rows, row.order, key=lambda r: r.order)
        while self.rows[at] is not row:
            at += 1
        return at

    def replay_from(self, at: int) -> None:
        for states in self.replays.values():
            del states[at:]


class ExecutionLedger:
    """Every execution of the account TWS reported this session (ib_async's
    `wrapper.fills`, kept in step through `add`), by contract."""

    def __init__(self, account: str) -> None:
        self.account = account
        self._source: dict[str, Any] | None = None  # the wrapper's fills these follow
        self._books: dict[int, _Book] = {}
        self._rows: dict[str, tuple[_Book, _Row]] = {}  # exec id -> its row
        self._heads: dict[str, str] = {}  # exec_head -> the exec id kept for it
        self._seq = itertools.count()

    def follow(self, fills: dict[str, Any]) -> None:
        """Follow ib_async's fills: a new dict (its reset on connect) is read anew."""
        if fills is self._source:
            return
        self._source = fills
        self._books.clear()
        self._rows.clear()
        self._heads.clear()
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
            return
        for exec_id in exec_ids:
            found = self._rows.get(exec_id)
            if found is not None:
                book, row = found
                book.dirty[id(row)] = row

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
        if book is None or not book.rows:
            return avg_cost
        if book.dirty:
            self._work_out(book, commission)
        start = quantity - book.total
        if multiplier != book.multiplier:
            book.multiplier = multiplier
            book.replays.clear()
        # The replay from `start`: a position that does not fit the executions (sent
        # before the latest ones reached the adapter, or after executions TWS does not
        # report to this client) is another start; the last few are kept.
        states = book.replays.pop(start, None)
        if states is None:
            states = []
            while len(book.replays) >= REPLAYS_KEPT:
                del book.replays[next(iter(book.replays))]
        book.replays[start] = states
        held, embedded = states[-1] if states else (start, Decimal(0))
        for row in book.rows[len(states) :]:
            held, embedded = replay_step(held, embedded, row.signed, row.commission, multiplier)
            states.append((held, embedded))
        return without_commission(avg_cost, embedded)

    def _work_out(self, book: _Book, commission: Commission) -> None:
        first = len(book.rows)
        for row in book.dirty.values():
            worked, row.final = commission(row.fill, book.currency)
            if worked != row.commission:
                row.commission = worked
                first = min(first, book.index(row))
        book.dirty.clear()
        book.replay_from(first)

    def _add(self, fill: Any) -> None:
        execution = fill.execution
        if execution.acctNumber not in ("", self.account):
            return
        exec_id = execution.execId
        if exec_id in self._rows:
            return
        head = exec_head(exec_id)
        held = self._heads.get(head)
        if held is not None:
            if not newer(exec_id, held):
                return  # an earlier report of an execution corrected since
            self._remove(held)
        self._heads[head] = exec_id
        con_id = fill.contract.conId
        book = self._books.get(con_id)
        if book is None:
            book = self._books[con_id] = _Book(currency=fill.contract.currency)
        when = execution.time
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        shares = to_decimal(execution.shares)
        row = _Row((when, next(self._seq)), fill, shares if execution.side == "BOT" else -shares)
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
