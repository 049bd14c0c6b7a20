"""The order management system: the one owner of order state.

It applies events read from the bus — never adapter callbacks — so replaying the
journal rebuilds it exactly. It is idempotent on `event_id`, on `client_order_id` (a
request seen twice creates one order) and on execution id (the `Order` refuses a fill
it has seen). Reports for an order whose request has not been seen yet are parked and
applied when it arrives. Every event of an order is kept as its audit trail.

Memory is bounded by a window of finished orders (`FinishedWindow`): working orders
always stay; of the finished ones (FILLED, CANCELED, REJECTED, EXPIRED) the newest
`orders` stay (and none older than `minutes`, by the events' own clock so that a
replay evicts the same orders), and of those the newest `histories` keep their events.
An order holding an instrument's last fill (`hold`) is not evicted while it does:
reconcile asks the venue for the fills from that one on, and a snapshot must carry its
execution ids so that a fill at the same venue time is not taken as missed (at most
one such order per instrument and account, beside the window; the other fills at that
time are kept by exec id, `Portfolio.same_time`).
An evicted order leaves a compact `Retired` record: enough to refuse its id again and
to find its events in the journal (the entry ids of its first and last event), which
keeps everything (a snapshot does not list them; it carries a bound over their ids,
`TradingEngine.id_bound`). A late report for an evicted order is counted (`EVICTED`),
logged and not applied; it never brings the order back (a reconcile's re-opening
does: the venue lists the order open, `_take_again`). Reports parked wait for the
requests of the last `PARKED_ORDERS` orders at most: those of another program's orders
on the account (a Binance account shared with a bot, a fill of another client at IB)
never get one, and parked for ever they grew with that program's trading all day.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from ..domain import (
    TERMINAL_STATUSES,
    ApplyResult,
    FeeCorrection,
    Fill,
    FillCorrection,
    Order,
    OrderStatus,
    OrderUpdate,
    Side,
)
from ..domain.seen import SeenIds
from ..events import (
    CancelRequestEvent,
    EventBase,
    FeeCorrectionEvent,
    FillCorrectionEvent,
    FillEvent,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    ReconcileEvent,
    ReconcileKind,
)

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    APPLIED = "APPLIED"
    DUPLICATE_EVENT = "DUPLICATE_EVENT"
    DUPLICATE = "DUPLICATE"
    STALE = "STALE"
    OVERFILL = "OVERFILL"
    TERMINAL = "TERMINAL"
    PARKED = "PARKED"
    IGNORED = "IGNORED"
    EVICTED = "EVICTED"
    """A report for an order that finished and left memory: counted, not applied."""


PARKED_ORDERS = 1_000
"""Orders whose reports wait for their request, the oldest let go beyond it (counted
`parked_dropped`): a request follows its reports by moments, if ever."""

# Read as module globals on every event (from the enum class: about 0.1 µs on 3.11).
_APPLIED, _EVICTED = Outcome.APPLIED, Outcome.EVICTED
_ORDER_APPLIED = ApplyResult.APPLIED

_FROM_ORDER = {
    ApplyResult.APPLIED: Outcome.APPLIED,
    ApplyResult.DUPLICATE: Outcome.DUPLICATE,
    ApplyResult.STALE: Outcome.STALE,
    ApplyResult.OVERFILL: Outcome.OVERFILL,
    ApplyResult.TERMINAL: Outcome.TERMINAL,
    ApplyResult.WRONG_ORDER: Outcome.IGNORED,
}


@dataclass(slots=True)
class OrderView:
    """An order with where it lives and everything that happened to it."""

    broker: str
    account: str
    order: Order
    history: list[EventBase] = field(default_factory=list)
    adopted: bool = False
    created_ns: int = 0
    """Time of its first event (0 when not known: loaded from a snapshot written before
    snapshots kept it)."""
    first_entry: str = ""
    last_entry: str = ""
    """Journal entry ids of its first and last event ("" when not known)."""
    history_dropped: bool = False
    """Its events left memory (the history window): the journal has them."""

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id


@dataclass(frozen=True, slots=True)
class FinishedWindow:
    """How many finished orders stay in memory (see the module docstring)."""

    orders: int = 1_000
    minutes: float = 0.0
    """0: no age limit."""
    histories: int = 200


Retired = tuple[str, str, str, str]
"""What stays of an order evicted from memory: broker, account, and the journal entry
ids of its first and last event (a plain tuple: one is made per finished order)."""


class OMS:
    def __init__(self, window: FinishedWindow | None = None) -> None:
        self.window = window or FinishedWindow()
        self.orders: dict[str, OrderView] = {}
        self.retired: dict[str, Retired] = {}
        self.counters: Counter[str] = Counter()
        self._seen: SeenIds[str] = SeenIds()
        self._parked: dict[str, list[EventBase]] = {}  # oldest first
        # Finished orders in memory, oldest first: id -> when it finished (ns).
        self._finished: OrderedDict[str, int] = OrderedDict()
        # Of those, the ones whose history is still held, oldest first.
        self._histories: OrderedDict[str, None] = OrderedDict()
        # (broker, account, instrument) -> the order holding its last fill; finished
        # ones among them wait here (id -> when it finished) instead of in `_finished`.
        self._holders: dict[tuple[str, str, str], str] = {}
        self._held: dict[str, int] = {}
        self.evicted: list[str] = []
        """Ids evicted since the last `take_evicted`."""
        # Orders evicted before the snapshot this run started from, as it names them
        # (`Snapshot.evicted_ids`): `retired` does not go into snapshots, and a late
        # report of such an order was parked for a request that never comes, said as
        # an order placed elsewhere.
        self._forgotten: dict[str, tuple[str, str]] = {}  # id -> broker, account
        # (broker, account) -> the entry the snapshot covered: their events are before
        self._forgotten_until: dict[tuple[str, str], str] = {}
        # Orders out of memory -> the exec ids of their fills: those the order counted
        # when it was evicted, and those heard since (`EVICTED`, in the position). An
        # order taken again (`_take_again`) knows them, so a fill heard again is a
        # repeat. Only orders with fills; one a snapshot named evicted has those heard
        # since alone (snapshots do not carry them).
        self._retired_fills: dict[str, tuple[str, ...]] = {}

    # -- queries --------------------------------------------------------------------

    def get(self, client_order_id: str) -> OrderView | None:
        return self.orders.get(client_order_id)

    def working(self, broker: str | None = None, account: str | None = None) -> list[OrderView]:
        return [
            v
            for v in self.orders.values()
            if not v.order.status.is_terminal
            and (broker is None or v.broker == broker)
            and (account is None or v.account == account)
        ]

    def exposed(
        self,
        broker: str,
        account: str,
        instrument: str,
        side: Side | None = None,
        exclude: str = "",
    ) -> list[OrderView]:
        """The working orders in `instrument` (on `side`; but `exclude`) and the FILLED
        ones whose fills are owed (`Order.owed_qty`): what may still move the position.
        The gate, the desk's preview and the reduce-only trim count these."""
        return [
            v
            for v in self.orders.values()
            if (not v.order.status.is_terminal or v.order.owed_qty)
            and v.broker == broker
            and v.account == account
            and v.order.request.instrument == instrument
            and (side is None or v.order.request.side is side)
            and v.client_order_id != exclude
        ]

    def owed(
        self, broker: str, account: str, instrument: str, side: Side, exclude: str = ""
    ) -> Decimal:
        """The base quantity of `exposed` FILLED at the venue whose fills are owed."""
        return sum(
            (v.order.owed_qty for v in self.exposed(broker, account, instrument, side, exclude)),
            Decimal(0),
        )

    def write_off_owed(self, broker: str, account: str, instrument: str) -> list[str]:
        """The venue's position for `instrument` was taken (a reconcile): the fills the
        FILLED orders there still owed are in it, whether or not they ever come. Counted
        as owed for good, they kept reduce-only orders out with nothing working. The
        ids of the orders written off."""
        off = [
            v
            for v in self.orders.values()
            if v.order.owed_qty
            and v.broker == broker
            and v.account == account
            and v.order.request.instrument == instrument
        ]
        for v in off:
            v.order.owed_written_off = True
        return [v.client_order_id for v in off]

    def open_count(self, broker: str | None = None) -> int:
        return len(self.working(broker))

    def evicted_last(self, broker: str, account: str, count: int) -> tuple[str, ...]:
        """The ids of `(broker, account)`'s orders evicted last, at most `count`, newest
        last: those left by a run before this one's snapshot included."""
        found: list[str] = []
        for coid in reversed(self.retired):
            if len(found) >= count:
                break
            held = self.retired[coid]
            if (held[0], held[1]) == (broker, account):
                found.append(coid)
        for coid in reversed(self._forgotten):
            if len(found) >= count:
                break
            if self._forgotten[coid] == (broker, account) and coid not in self.retired:
                found.append(coid)
        return tuple(reversed(found))

    def forget(
        self, broker: str, account: str, client_order_ids: Iterable[str], until: str = "+"
    ) -> None:
        """`(broker, account)`'s orders evicted before the snapshot loaded (oldest
        first): what `retired` held of them; `until`, the journal entry the snapshot
        covers (their events are at or before it)."""
        self._forgotten_until[(broker, account)] = until
        for coid in client_order_ids:
            if coid not in self.orders:
                self._forgotten[coid] = (broker, account)

    def forgotten(self, client_order_id: str) -> tuple[str, str, str] | None:
        """Of an order evicted before the snapshot loaded: its broker, account, and the
        journal entry its events are at or before (None for any other order)."""
        held = self._forgotten.get(client_order_id)
        if held is None or client_order_id in self.orders or client_order_id in self.retired:
            return None
        return (*held, self._forgotten_until.get(held, "+"))

    def forgotten_ids(self) -> Iterator[str]:
        """Those orders' ids, newest first (`forgotten`)."""
        return reversed(self._forgotten)

    def evicted_from(self, client_order_id: str) -> tuple[str, str] | None:
        """The broker and account of an order that finished and left memory (evicted
        this run, or before the snapshot it started from: `forgotten`); None for an
        order in memory or one the journal does not hold."""
        if client_order_id in self.orders:
            return None
        held = self.retired.get(client_order_id)
        if held is not None:
            return held[0], held[1]
        return self._forgotten.get(client_order_id)

    def known(self, client_order_id: str) -> bool:
        """In memory or evicted from it: an id the journal holds an order for."""
        return client_order_id in self.orders or client_order_id in self.retired

    def finished_ns(self, client_order_id: str) -> int:
        """When an order in the window finished (0 for a working or unknown order)."""
        return self._finished.get(client_order_id) or self._held.get(client_order_id) or 0

    def finished_count(self) -> int:
        """Finished orders in memory, those holding an instrument's last fill apart."""
        return len(self._finished)

    def hold(self, key: tuple[str, str, str], client_order_id: str) -> None:
        """The order holding the last fill of `key` (broker, account, instrument)."""
        before = self._holders.get(key)
        if before == client_order_id:
            return
        self._holders[key] = client_order_id
        if client_order_id in self._finished:
            self._held[client_order_id] = self._finished.pop(client_order_id)
        if before is not None and before in self._held and before not in self._holders.values():
            self._finished[before] = self._held.pop(before)  # back in the window

    def take_evicted(self) -> list[str]:
        """Ids evicted since the last call (their rows leave the desk)."""
        evicted = self.evicted
        if evicted:
            self.evicted = []
        return evicted

    # -- applying events -----------------------------------------------------------

    def apply(self, event: EventBase, entry_id: str = "") -> Outcome:
        """Apply one event; `entry_id` is its journal entry id (kept to find the
        order's events again once they left memory).

        Replay's hot path (a journal is mostly reports and fills): the order a report
        is for is looked up once, and the window is only walked when it is over."""
        if not self._seen.add(event.event_id):
            self.counters[Outcome.DUPLICATE_EVENT] += 1
            return Outcome.DUPLICATE_EVENT
        view: OrderView | None = None
        match event:
            case OrderUpdateEvent() | FillEvent():
                coid = event.payload.client_order_id
                view = self.orders.get(coid)
                if view is not None:
                    outcome = self._apply_report(view, event)
                else:
                    outcome = self._on_unknown_report(event, coid)
            case OrderRequestEvent():
                coid = event.payload.client_order_id
                outcome = self._on_request(event)
            case FeeCorrectionEvent() | FillCorrectionEvent():
                coid = event.payload.client_order_id
                outcome = self._on_correction(event)
            case CancelRequestEvent() | ModifyRequestEvent():
                coid = event.payload.client_order_id
                view = self.orders.get(coid)
                if view is not None:
                    view.history.append(event)
                    outcome = Outcome.APPLIED
                else:
                    gone = coid in self.retired or coid in self._forgotten
                    outcome = _EVICTED if gone else Outcome.IGNORED
            case ReconcileEvent():
                coid, outcome = self._on_reconcile(event)
            case _:
                return Outcome.IGNORED
        self.counters[outcome] += 1
        if outcome is _EVICTED:
            log.info("oms.report_for_evicted_order", extra={"client_order_id": coid})
        if view is None and coid:
            view = self.orders.get(coid)
        if view is not None:
            if entry_id:
                view.first_entry = view.first_entry or entry_id
                view.last_entry = entry_id
            if outcome is _APPLIED and view.order.status in TERMINAL_STATUSES:
                self._finish(view, event.ts)
        window = self.window
        if (
            len(self._finished) > window.orders
            or len(self._histories) > window.histories
            or (window.minutes > 0 and self._finished)
        ):
            self._evict(event.ts)
        return outcome

    # -- the window of finished orders ------------------------------------------------

    def add(self, view: OrderView, finished_ns: int = 0) -> None:
        """An order loaded from a snapshot (its history is in the journal)."""
        self.orders[view.client_order_id] = view
        view.history_dropped = not view.history
        # Where its events begin, if the snapshot did not say: "-" (the journal's
        # start), never the entry of the first event applied after the snapshot.
        view.first_entry = view.first_entry or "-"
        if view.order.status.is_terminal:
            self._finish(view, finished_ns)
        # Evicted at the next event: the snapshot's last fills are held by then.

    def _finish(self, view: OrderView, now_ns: int) -> None:
        coid = view.client_order_id
        if coid in self._finished or coid in self._held:
            return
        if coid in self._holders.values():
            self._held[coid] = now_ns
        else:
            self._finished[coid] = now_ns
        if not view.history_dropped:
            self._histories[coid] = None

    def _evict(self, now_ns: int) -> None:
        window = self.window
        finished, histories, orders = self._finished, self._histories, self.orders
        oldest = now_ns - int(window.minutes * 60e9) if window.minutes > 0 else None
        while finished and (
            len(finished) > window.orders
            or (oldest is not None and next(iter(finished.values())) < oldest)
        ):
            coid, _ = finished.popitem(last=False)
            histories.pop(coid, None)
            view = orders.pop(coid)
            self.retired[coid] = (view.broker, view.account, view.first_entry, view.last_entry)
            if view.order.exec_ids:
                self._retired_fills[coid] = tuple(view.order.exec_ids)
            self.evicted.append(coid)
        while len(histories) > window.histories:
            coid, _ = histories.popitem(last=False)
            view = orders[coid]
            view.history = []
            view.history_dropped = True

    def _on_request(self, event: OrderRequestEvent) -> Outcome:
        request = event.payload
        if self.known(request.client_order_id):
            return Outcome.DUPLICATE
        view = OrderView(
            request.broker, request.account, Order.from_request(request), created_ns=event.ts
        )
        view.history.append(event)
        self.orders[request.client_order_id] = view
        for parked in self._parked.pop(request.client_order_id, []):
            self._apply_report(view, parked)
        return Outcome.APPLIED

    def _on_unknown_report(self, event: EventBase, client_order_id: str) -> Outcome:
        """A report for an order not in memory: evicted (a fill's exec id kept with it,
        `_retired_fills`), or parked for its request."""
        if client_order_id in self.retired or client_order_id in self._forgotten:
            payload = event.payload
            fill = payload.fill if isinstance(payload, FillCorrection) else payload
            if isinstance(fill, Fill):
                kept = self._retired_fills.get(client_order_id, ())
                if fill.exec_id not in kept:
                    self._retired_fills[client_order_id] = (*kept, fill.exec_id)
            return Outcome.EVICTED
        parked = self._parked
        reports = parked.get(client_order_id)
        if reports is None:
            reports = parked[client_order_id] = []
            if len(parked) > PARKED_ORDERS:
                oldest = next(iter(parked))
                dropped = len(parked.pop(oldest))
                self.counters["parked_dropped"] += dropped
                log.info(
                    "oms.parked_dropped",
                    extra={"client_order_id": oldest, "reports": dropped},
                )
        reports.append(event)
        log.warning("oms.report_parked", extra={"client_order_id": client_order_id})
        return Outcome.PARKED

    def _apply_report(self, view: OrderView, event: EventBase) -> Outcome:
        view.history.append(event)
        payload = event.payload
        # Updates first: most reports are, and an isinstance miss costs here.
        if isinstance(payload, OrderUpdate):
            result = view.order.apply_update(payload)
        elif isinstance(payload, Fill):
            result = view.order.apply_fill(payload)
        elif isinstance(payload, FillCorrection):
            result = view.order.apply_fill_correction(payload)
        elif isinstance(payload, FeeCorrection):
            result = view.order.apply_fee_correction(payload)
        else:  # pragma: no cover - only reports, fills and their corrections are parked
            return Outcome.IGNORED
        if result is not _ORDER_APPLIED:
            log.info(
                "oms.report_not_applied",
                extra={"client_order_id": view.client_order_id, "result": result},
            )
        return _FROM_ORDER[result]

    def _on_correction(self, event: FeeCorrectionEvent | FillCorrectionEvent) -> Outcome:
        """A fill's fee reported after it, or the venue's correction of a fill: applied
        to its order once; parked with the fill while the order is not known yet."""
        coid = event.payload.client_order_id
        view = self.orders.get(coid)
        if view is None:
            return self._on_unknown_report(event, coid)
        return self._apply_report(view, event)

    def _on_reconcile(self, event: ReconcileEvent) -> tuple[str, Outcome]:
        rec = event.payload
        if rec.kind is ReconcileKind.VENUE_ORDER_UNKNOWN and rec.venue_order is not None:
            coid = rec.venue_order.client_order_id
            if coid in self.orders:
                return coid, Outcome.DUPLICATE
            if coid in self.retired or coid in self._forgotten:
                return coid, Outcome.EVICTED  # finished here: never adopted again
            order = Order.from_venue(event.broker, event.account, rec.venue_order, tag="adopted")
            view = OrderView(event.broker, event.account, order, adopted=True, created_ns=event.ts)
            view.history.append(event)
            self.orders[coid] = view
            return coid, Outcome.APPLIED
        known = self.orders.get(rec.client_order_id)
        if known is not None:
            known.history.append(event)
            if (
                rec.kind is ReconcileKind.STATUS_MISMATCH
                and rec.venue_order is not None
                and known.order.reopen(rec.venue_order, rec.detail)
            ):
                self._unfinish(known.client_order_id)
        elif rec.kind is ReconcileKind.STATUS_MISMATCH and rec.venue_order is not None:
            return rec.client_order_id, self._take_again(event)
        return rec.client_order_id, Outcome.APPLIED

    def _take_again(self, event: ReconcileEvent) -> Outcome:
        """A re-opening (`recovery._reopen`) of an order that finished and left memory
        (`evicted_from`): the venue lists it open, so what ended it here was wrong. It
        is taken again as the venue holds it (`Order.from_venue`: its terms, status,
        venue id and count; its earlier fills are in the position already), followed
        as an adopted order, its span in the journal from its first event on (its
        history is read back from there: `history_dropped`). From the journal's own
        event, so a replay that evicted it too takes it again the same way. Before, the
        reconcile said it "adopted" such an order and the OMS refused it (`EVICTED`):
        the venue's working order was on no row and `c` could not reach it.

        It knows the exec ids of its fills kept since it left memory (`_retired_fills`:
        those it had counted, and those heard while out of memory), all in the
        venue's count it is taken at: a fill heard again (TWS's execDetails re-sent
        on a reconnect, a catch-up of trades) is a DUPLICATE. Before, the order counted
        it a second time: 1 filled of 2 read 2 of 2, FILLED while the venue worked the
        rest (the position took it once: the portfolio refuses an exec id it applied)."""
        rec = event.payload
        venue = rec.venue_order
        coid = rec.client_order_id
        if (
            venue is None
            or venue.client_order_id != coid
            or venue.status.is_terminal
            or self.evicted_from(coid) != (event.broker, event.account)
        ):
            return Outcome.IGNORED  # (nothing of this account's to take again)
        retired = self.retired.pop(coid, None)
        self._forgotten.pop(coid, None)
        order = Order.from_venue(event.broker, event.account, venue, tag="reopened")
        order.exec_ids.update(self._retired_fills.pop(coid, ()))
        order.reason = rec.detail
        view = OrderView(
            event.broker,
            event.account,
            order,
            [event],
            adopted=True,
            created_ns=event.ts,
            first_entry=(retired[2] if retired is not None else "") or "-",
            history_dropped=True,
        )
        self.orders[coid] = view
        return Outcome.APPLIED

    def _unfinish(self, client_order_id: str) -> None:
        """An order that ended here works again (`Order.reopen`): out of the window of
        finished orders, where it would be evicted while it works."""
        self._finished.pop(client_order_id, None)
        self._held.pop(client_order_id, None)
        self._histories.pop(client_order_id, None)

    def parked_count(self) -> int:
        return sum(len(v) for v in self._parked.values())

    def pending_new(self) -> list[OrderView]:
        return [v for v in self.orders.values() if v.order.status is OrderStatus.PENDING_NEW]
