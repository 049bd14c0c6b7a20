"""Rebuild the paper venue from its own execution journal (restart with Redis).

A live venue remembers its orders, fills and cash across a client's restart; the
paper venue's memory is its journal, `{prefix}:exec:{broker}:{account}`. On connect it
replays that stream and puts back exactly what it had reported:

- orders: from their request, then every update and fill, through the same checked
  state machine the engine uses (`domain.Order`), so duplicates and late reports are
  ignored as they are there. Orders never acknowledged (still PENDING_NEW) never
  reached the venue and are not restored; a cancel or replace that was sent but not
  answered had not reached it either (the order keeps working with its old terms).
  A working order keeps its time priority: its venue number `P<n>`, or, once a replace
  sent it to the back of its queue, the number the venue's sequence was at then (each
  accepted order and each replace takes the next one). A DAY order keeps its session:
  the venue's time of its acceptance, not the time its request was sent.
- cash and positions: every fill is applied again (once per execution id), and every
  published Balance/Position event is a checkpoint that overrides the running value,
  so a crash between a fill and its balance event loses nothing.
- a re-seed: Redis lost the journal while the desk ran, and the adapter wrote back what
  the venue held in memory (`PaperBroker.reseed_journal`): a DATA_LOSS reconcile, one
  per working order (with the order as the venue held it), then every position and
  balance. The venue starts again from there: what the replay held before it is let
  go (that journal may be an older copy Redis came back with), and each working order
  is held as the venue had it, its fills before the loss counted in it. A fill the
  venue made by the re-seed (its venue time at or before the re-seed's) that the
  journal holds after it is in that state already: a fill Redis lost before the desk
  read it, journaled again by the reconcile that follows (a missed fill). Its order
  knows its execution id (a duplicate, and its next execution ids count on after it),
  nothing else takes it again: before, the account (cash and position) and a working
  order's filled quantity counted it twice on a restart.

Venue and execution ids never repeat one the desk remembers: they continue after the
journal's and after those in the desk's newest snapshot of the account
(`continue_after_snapshot`), which still lists orders a re-seeded journal lost.

The replay streams: an order is held only while it works and, once finished, while it
is inside the venue's archive window (`PaperRetentionConfig`, counted in the order the
orders finished, aged on the venue's own timestamps), so a restart holds what the live
venue held, whatever the journal's length. What it keeps of an archived order is its
venue number (`P<n>`), in runs (`_NumberRuns`: a few runs, however many orders), so a
duplicate or late fill of an archived order is still recognised and never applied twice.

Nothing is re-sent or re-filled: restoring publishes no event.
"""

from __future__ import annotations

import logging
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TypeVar

from ...bus import EventBus, parse_id
from ...domain import (
    ZERO,
    ApplyResult,
    Fill,
    Instrument,
    Liquidity,
    Order,
    OrderStatus,
    OrderUpdate,
    ReferencePrice,
    mid_of,
)
from ...events import (
    BalanceEvent,
    BookEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
    ReconcileEvent,
    ReconcileKind,
    ReferencePriceEvent,
    SnapshotEvent,
)
from .account import PositionState, average
from .orders import TRIGGERED_REASON, SimFill, SimOrder
from .venue import PaperVenue

log = logging.getLogger(__name__)
T = TypeVar("T")

_VENUE_ID = re.compile(r"P(\d+)")
_EXEC_ID = re.compile(r"P(\d+)-(\d+)")

_PENDING = frozenset({OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE})


@dataclass(slots=True)
class JournalState:
    """What the replay found, for the adapter's bookkeeping."""

    entries: int = 0
    last_id: str = ""
    restored_orders: int = 0
    working_orders: int = 0
    skipped: int = 0
    # Orders the replay saw finish and let go (outside the archive window).
    archived_orders: int = 0
    # Most orders held at once during the replay (working + window + not yet answered).
    peak_orders: int = 0
    # Execution ids and last statuses of the restored orders (what the adapter must not
    # publish again); archived orders are not in them.
    published_execs: set[str] = field(default_factory=set)
    published_status: dict[str, OrderStatus] = field(default_factory=dict)
    last_fill_price: dict[str, Decimal] = field(default_factory=dict)
    # A re-seed started the venue again (what it held before it is let go).
    reseeded: bool = False
    # Entries the journal lost from its start before the venue's state was re-seeded
    # (XINFO's entries-added above its length, no re-seed in what is left): an
    # operator's XTRIM, or a build that trimmed it behind a snapshot. The venue is its
    # journal: what they held is not restored (`PaperBroker` tells the trader).
    trimmed: int = 0
    # The newest entry an XDEL took from the journal's middle (or end), when XINFO says
    # so (`StreamInfo.deleted_within`): then the entries gone are not only its first.
    deleted_within: str = ""


class _NumberRuns:
    """A set of positive integers kept as sorted runs [start, end]: venue numbers of
    archived orders. Orders finish roughly in the order they came, so the runs stay few
    (about one per order still held between archived ones)."""

    __slots__ = ("ends", "starts")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self.starts, n) - 1
        return i >= 0 and self.ends[i] >= n

    def __len__(self) -> int:
        return len(self.starts)

    def add(self, n: int) -> None:
        starts, ends = self.starts, self.ends
        i = bisect_right(starts, n) - 1
        if i >= 0 and ends[i] >= n:
            return
        joins_left = i >= 0 and ends[i] == n - 1
        joins_right = i + 1 < len(starts) and starts[i + 1] == n + 1
        if joins_left and joins_right:
            ends[i] = ends[i + 1]
            del starts[i + 1]
            del ends[i + 1]
        elif joins_left:
            ends[i] = n
        elif joins_right:
            starts[i + 1] = n
        else:
            starts.insert(i + 1, n)
            ends.insert(i + 1, n)


@dataclass(slots=True)
class _Held:
    """One order the replay holds: the engine's order and what the venue needs of it."""

    order: Order
    created_ns: int  # the request's time, until the venue's accept time is seen
    triggered: bool = False
    # Time priority at the venue (`SimOrder.seq`): its venue number `P<n>` once
    # accepted, a later number once a replace sent it to the back of its queue.
    seq: int = 0
    last_replace: OrderUpdate | None = None
    fills: list[Fill] = field(default_factory=list)
    execs: set[str] = field(default_factory=set)
    finished_ns: int | None = None
    # Filled before a re-seed (the fills themselves were lost with the journal).
    prior_qty: Decimal = ZERO
    prior_value: Decimal = ZERO
    # Held from a re-seed (`_Replay.reseed`): its fills up to it are in `prior_qty`.
    reseeded: bool = False
    # Execution ids of fills in `prior_qty` the journal holds after the re-seed (a
    # fill Redis lost, journaled again by the reconcile): known, not counted again.
    prior_execs: list[str] = field(default_factory=list)


def _venue_number(venue_order_id: str | None) -> int | None:
    match = _VENUE_ID.fullmatch(venue_order_id or "")
    return int(match.group(1)) if match else None


def _new_terms(update: OrderUpdate) -> bool:
    """The update confirms a replace (the paper venue's only reports with terms)."""
    return not (
        update.quantity is None and update.limit_price is None and update.stop_price is None
    )


class _Replay:
    """The streaming state of one replay."""

    def __init__(self, venue: PaperVenue, state: JournalState) -> None:
        self.venue = venue
        self.state = state
        self.instruments = venue.instruments
        self.held: dict[str, _Held] = {}
        self.finished: deque[str] = deque()  # held finished orders, oldest first
        self.now_ns = 0  # the latest venue timestamp seen
        # The venue's sequence as the journal shows it: each accepted order takes its
        # number, each replace the next one (as `PaperVenue.replace` does).
        self.seq = 0
        self.reseeded: list[_Held] = []  # the working orders of the last re-seed
        # The venue's time of the last re-seed (its first entry's): a fill made by then
        # is in the state it wrote back (`_in_reseed`).
        self.reseed_ns: int | None = None
        self.archived_numbers = _NumberRuns()
        # Archived orders whose venue id is not `P<n>` (a journal the paper venue did
        # not write), and fills of orders the journal never asked for: exact sets.
        self.archived_ids: set[str] = set()
        self.orphan_execs: set[str] = set()

    def request(self, event: OrderRequestEvent) -> None:
        request = event.payload
        coid = request.client_order_id
        if coid not in self.held and coid not in self.archived_ids:
            self.held[coid] = _Held(Order.from_request(request), event.ts)
            if len(self.held) > self.state.peak_orders:
                self.state.peak_orders = len(self.held)

    def update(self, event: OrderUpdateEvent) -> None:
        update = event.payload
        if update.venue_ts_ns is not None and update.venue_ts_ns > self.now_ns:
            self.now_ns = update.venue_ts_ns
        held = self.held.get(update.client_order_id)
        if held is None:
            return
        before = held.order.status
        applied = held.order.apply_update(update) is ApplyResult.APPLIED
        if not held.seq:
            self._accepted(held, held.order.venue_order_id, update.venue_ts_ns)
        elif (
            applied
            and before is OrderStatus.PENDING_REPLACE
            and _new_terms(update)
            and update != held.last_replace
        ):
            # The venue replaced it: the back of its queue (a re-sent old confirmation
            # is not a new replace).
            held.last_replace = update
            self.seq += 1
            held.seq = self.seq
        if update.triggered or update.reason.startswith(TRIGGERED_REASON):
            held.triggered = True
        self._maybe_finished(held, update.venue_ts_ns or event.ts)

    def fill(self, event: FillEvent) -> None:
        fill = event.payload
        if fill.venue_ts_ns is not None and fill.venue_ts_ns > self.now_ns:
            self.now_ns = fill.venue_ts_ns
        held = self.held.get(fill.client_order_id)
        in_reseed = self._in_reseed(fill, held)
        if held is not None:
            if fill.exec_id in held.execs:
                return
            held.execs.add(fill.exec_id)
            if in_reseed:
                held.prior_execs.append(fill.exec_id)  # in its `prior_qty` already
            else:
                held.order.apply_fill(fill)
                held.fills.append(fill)
            if not held.seq:  # its acknowledgement was lost: the fill came first
                self._accepted(held, fill.venue_order_id, fill.venue_ts_ns)
        elif self._archived(fill):
            return  # a duplicate or late fill of an order already archived
        elif fill.exec_id in self.orphan_execs:
            return
        else:
            self.orphan_execs.add(fill.exec_id)
        self.state.last_fill_price[fill.instrument] = fill.price
        if in_reseed:
            return  # the re-seed's positions and balances hold it
        inst = self.instruments.get(fill.instrument)
        if inst is not None:
            # A fee in the base asset came out of the position, not the cash.
            in_base = fill.fee_currency not in ("", inst.quote_currency)
            self.venue.account.apply_fill(
                fill.instrument,
                inst.quote_currency,
                fill.side,
                fill.quantity,
                fill.price,
                ZERO if in_base else fill.fee,
                inst.multiplier,
                fee_qty=fill.fee if in_base else ZERO,
            )
        if held is not None:
            self._maybe_finished(held, fill.venue_ts_ns or event.ts)

    def _in_reseed(self, fill: Fill, held: _Held | None) -> bool:
        """Whether `fill`, read after the last re-seed, is in the state the re-seed wrote
        back: the venue made it by then (venue time at or before the re-seed's, the
        rule `Portfolio.take_standing`'s standing follows), and its order is one the
        re-seed wrote back working or one the journal no longer asks for (finished
        before the loss). An order asked for after the re-seed traded after it."""
        at = self.reseed_ns
        if at is None or fill.venue_ts_ns is None or fill.venue_ts_ns > at:
            return False
        return held is None or held.reseeded

    def reseed(self, event: ReconcileEvent) -> None:
        """A re-seed after Redis lost the journal (`PaperBroker.reseed_journal`): its
        first entry (no order) starts the venue again from the state that follows; each
        next one is a working order as the venue held it."""
        venue = event.payload.venue_order
        if venue is None:
            self.state.reseeded = True
            self.reseed_ns = event.ts
            for coid, held in list(self.held.items()):
                self._let_go(coid, held)  # its number stays used
            self.finished.clear()
            self.reseeded = []
            return
        order = Order.from_venue(event.broker, event.account, venue)
        number = _venue_number(venue.venue_order_id)
        held = _Held(
            order,
            event.ts,
            triggered=bool(venue.triggered) or event.payload.detail.endswith(TRIGGERED_REASON),
            seq=number or 0,
            prior_qty=venue.filled_qty,
            prior_value=venue.filled_qty * (venue.avg_price or ZERO),
            reseeded=True,
        )
        self.held[venue.client_order_id] = held
        if number is not None:
            self.seq = max(self.seq, number)
            # The venue writes its working orders in their time priority (a replace
            # sent some back): their numbers, dealt out in that order, keep it.
            reseeded = self.reseeded
            reseeded.append(held)
            for each, seq in zip(reseeded, sorted(h.seq for h in reseeded), strict=True):
                each.seq = seq
        self.state.peak_orders = max(self.state.peak_orders, len(self.held))

    def _accepted(self, held: _Held, venue_id: str | None, venue_ts_ns: int | None) -> None:
        """The first report of an order from the venue: its number is its time
        priority, and the venue's time is when it was accepted (a DAY order's session
        is the one it reached the venue in, not the one its request was sent in)."""
        number = _venue_number(venue_id)
        if number is None:
            return
        held.seq = number
        if number > self.seq:
            self.seq = number
        if venue_ts_ns is not None:
            held.created_ns = venue_ts_ns

    def _archived(self, fill: Fill) -> bool:
        if fill.client_order_id in self.archived_ids:
            return True
        number = _venue_number(fill.venue_order_id)
        if number is None:
            match = _EXEC_ID.fullmatch(fill.exec_id)
            number = int(match.group(1)) if match else None
        return number is not None and number in self.archived_numbers

    def _maybe_finished(self, held: _Held, ts_ns: int) -> None:
        order = held.order
        if held.finished_ns is not None or not order.status.is_terminal:
            return
        if order.venue_order_id is None:
            # Refused before the venue had it (never acknowledged): the venue never
            # held it, so it takes no place in the window.
            self._let_go(order.client_order_id, held)
            return
        held.finished_ns = ts_ns
        self.finished.append(order.client_order_id)
        self._trim()

    def _trim(self) -> None:
        finished = self.finished
        while finished:
            oldest = self.held[finished[0]]
            if not self.venue.beyond_window(len(finished), oldest.finished_ns, self.now_ns):
                return
            coid = finished.popleft()
            self._let_go(coid, oldest)
            self.state.archived_orders += 1

    def _let_go(self, coid: str, held: _Held) -> None:
        del self.held[coid]
        venue_id = held.order.venue_order_id
        number = _venue_number(venue_id)
        if number is not None:
            self.archived_numbers.add(number)
        elif venue_id is not None:
            self.archived_ids.add(coid)

    def restore(self) -> None:
        """Put the held orders into the venue: the finished ones in the order they
        finished (the window), then the working ones."""
        state = self.state
        self._trim()
        max_seq = 0
        finished = set(self.finished)
        ordered = [*self.finished, *(c for c in self.held if c not in finished)]
        for coid in ordered:
            held = self.held[coid]
            sim = _to_sim(held, self.instruments)
            if sim is None:
                continue
            if sim.instrument not in self.instruments:
                state.skipped += 1
                log.warning(
                    "paper.restore_unknown_instrument",
                    extra={"order": coid, "instrument": sim.instrument},
                )
                continue
            if sim.status.is_terminal:
                sim.finished_ns = held.finished_ns
            max_seq = max(max_seq, sim.seq)
            self.venue.restore(sim)
            state.restored_orders += 1
            if not sim.status.is_terminal:
                state.working_orders += 1
            state.published_status[coid] = sim.status
            state.published_execs.update(f.exec_id for f in held.fills)
            state.published_execs.update(held.prior_execs)
        # Venue ids stay unique over restarts, archived orders' included.
        if self.archived_numbers.ends:
            max_seq = max(max_seq, self.archived_numbers.ends[-1])
        self.venue.set_sequence(max(max_seq, self.seq))


async def restore_from_journal(bus: EventBus, stream: str, venue: PaperVenue) -> JournalState:
    """Replay `stream` into `venue` (which must be fresh). Publishes nothing.

    The journal is never trimmed (`recovery.journal_kept_whole`); one that was anyway
    is said in `JournalState.trimmed`. (Trimmed under a running desk, the bus finds it
    and the venue writes its journal back from memory, `PaperBroker.reseed_journal`:
    the re-seed is where a restore starts, and nothing before it is missed.)"""
    state = JournalState()
    replay = _Replay(venue, state)
    info = await bus.info(stream)
    async for entry in bus.replay(stream):
        state.entries += 1
        state.last_id = entry.id
        event = entry.event
        if isinstance(event, OrderRequestEvent):
            replay.request(event)
        elif isinstance(event, OrderUpdateEvent):
            replay.update(event)
        elif isinstance(event, FillEvent):
            replay.fill(event)
            venue.note_trade(event.payload.instrument, event.payload.price)
        elif isinstance(event, BalanceEvent):
            venue.account.restore_cash(event.payload.currency, event.payload.total)
        elif isinstance(event, PositionEvent):
            pos = event.payload
            venue.account.restore_position(
                PositionState(
                    pos.instrument,
                    pos.currency,
                    pos.quantity,
                    pos.avg_price,
                    pos.realized_pnl,
                    pos.fees.get(pos.currency, ZERO),
                )
            )
        elif isinstance(event, ReconcileEvent) and event.payload.kind is ReconcileKind.DATA_LOSS:
            replay.reseed(event)
    replay.restore()
    if info is not None and info.counts_added and not state.reseeded:
        state.trimmed = max(info.entries_added - info.length, 0)
        if info.deleted_within:
            state.deleted_within = info.max_deleted_id
    return state


def _to_sim(held: _Held, instruments: Mapping[str, Instrument]) -> SimOrder | None:
    order, fills = held.order, held.fills
    venue_id = order.venue_order_id
    if venue_id is None or order.status is OrderStatus.PENDING_NEW:
        return None  # never acknowledged: the venue never had it
    match = _VENUE_ID.fullmatch(venue_id)
    seq = held.seq or (int(match.group(1)) if match else 0)
    request = order.request
    inst = instruments.get(request.instrument)
    # (An instrument the venue does not trade: the order is skipped, its places moot.)
    tick_places = inst.tick_places if inst is not None else 0
    status = order.status
    if status in _PENDING:
        status = OrderStatus.PARTIALLY_FILLED if order.filled_qty > 0 else OrderStatus.NEW
    sim = SimOrder(
        seq=seq,
        client_order_id=order.client_order_id,
        venue_order_id=venue_id,
        instrument=request.instrument,
        side=request.side,
        order_type=request.order_type,
        tif=request.tif,
        quantity=order.quantity,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        created_ns=held.created_ns,
        tick_places=tick_places,
        status=status,
        triggered=held.triggered,
        reduce_only=request.reduce_only,
    )
    cum = held.prior_qty
    value = held.prior_value
    for fill in fills:
        cum += fill.quantity
        value += fill.quantity * fill.price
        if fill.fee_value is None:
            sim.fees += fill.fee  # (in the quote currency; a base-asset fee is apart)
        sim.fills.append(
            SimFill(
                exec_id=fill.exec_id,
                client_order_id=fill.client_order_id,
                venue_order_id=fill.venue_order_id or venue_id,
                instrument=fill.instrument,
                side=fill.side,
                quantity=fill.quantity,
                price=fill.price,
                fee=fill.fee,
                fee_currency=fill.fee_currency,
                liquidity=Liquidity(fill.liquidity)
                if fill.liquidity in Liquidity.__members__
                else Liquidity.UNKNOWN,
                ts_ns=fill.venue_ts_ns or 0,
                cum_qty=cum,
                avg_price=average(value, cum, tick_places),
                fee_value=fill.fee_value,
            )
        )
    sim.filled_qty = cum
    sim.filled_value = value
    # (The order's fills the journal holds count on from the last of them, those in the
    # re-seed's `prior_qty` too.)
    execs = [*held.prior_execs, *(f.exec_id for f in fills)]
    sim.fills_before = max(_last_fill_number(sim, execs) - len(fills), 0)
    return sim


def _last_fill_number(sim: SimOrder, exec_ids: Iterable[str]) -> int:
    """The highest `k` of the execution ids `P<n>-<k>` of `sim` among `exec_ids`."""
    last = 0
    for exec_id in exec_ids:
        match = _EXEC_ID.fullmatch(exec_id)
        if match is not None and int(match.group(1)) == sim.number:
            last = max(last, int(match.group(2)))
    return last


async def continue_after_snapshot(bus: EventBus, stream: str, venue: PaperVenue) -> None:
    """Continue the venue's ids after those the desk's newest snapshot of this account
    (`stream`) holds: order ids `P<n>` after its orders', and each working order's
    execution ids after the ones it lists for it.

    The journal is the venue's memory, and its ids continue after the journal's. A
    journal Redis lost, and the desk re-seeded from the venue, no longer holds the
    orders and fills from before the loss; the desk's snapshot still does, and a fill
    under an execution id the desk has seen is never applied (fills are taken once).
    A snapshot that cannot be read changes nothing (the engine says so on its start).
    """
    newest = await bus.read_last(stream, 1)
    if not newest or not isinstance(newest[0].event, SnapshotEvent):
        return
    snapshot = newest[0].event.payload
    last = 0
    for order in snapshot.orders:
        last = max(last, _venue_number(order.venue_order_id) or 0)
        sim = venue.order(order.client_order_id)
        if sim is not None and not sim.status.is_terminal:
            known = _last_fill_number(sim, order.exec_ids) - len(sim.fills)
            sim.fills_before = max(sim.fills_before, known)
    for fill in snapshot.last_fills:
        last = max(last, _venue_number(fill.venue_order_id) or 0)
    venue.set_sequence(last)


async def last_mids(bus: EventBus, stream: str, keys: set[str]) -> dict[str, Decimal]:
    """The last mid published per instrument in the market-data stream `stream`: of a
    book or quote with both sides priced above 0 and not crossed (`mid_of`; the one
    before stands over any other)."""

    def event_mid(event: object) -> tuple[str, Decimal | None]:
        if isinstance(event, BookEvent):
            book = event.payload
            if book.bids and book.asks:
                return book.instrument, mid_of(book.bids[0].price, book.asks[0].price)
            return book.instrument, None
        if isinstance(event, QuoteEvent):
            return event.payload.instrument, event.payload.mid
        return "", None

    return await _read_back(bus, stream, keys, event_mid)


async def last_references(bus: EventBus, stream: str, keys: set[str]) -> dict[str, ReferencePrice]:
    """The last reference price published per instrument in the market-data stream
    `stream` (the venue's day opens: published again every few seconds while it ran,
    so they are among the stream's newest entries)."""

    def reference_of(event: object) -> tuple[str, ReferencePrice | None]:
        if isinstance(event, ReferencePriceEvent):
            return event.payload.instrument, event.payload
        return "", None

    return await _read_back(bus, stream, keys, reference_of)


async def _read_back(
    bus: EventBus,
    stream: str,
    keys: set[str],
    pick: Callable[[object], tuple[str, T | None]],
) -> dict[str, T]:
    """The last value `pick` finds per instrument of `keys` in `stream`.

    Reads backwards in growing time windows from the stream's last entry (ids are
    millisecond stamps), so a long stream is not read whole.
    """
    info = await bus.info(stream)
    if info is None or info.last_id is None:
        return {}
    last_ms, _ = parse_id(info.last_id)
    found: dict[str, T] = {}
    window = 2_000
    while True:
        start = max(0, last_ms - window)
        for entry in await bus.read(stream, f"{start}-0", "+"):
            key, value = pick(entry.event)
            if value is not None and key in keys:
                found[key] = value
        if len(found) == len(keys) or start == 0:
            return found
        window *= 10
