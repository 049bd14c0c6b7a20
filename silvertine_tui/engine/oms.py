"""The order management system: the one owner of order state.

It applies events read from the bus — never adapter callbacks — so replaying the
journal rebuilds it exactly. It is idempotent on `event_id`, on `client_order_id` (a
request seen twice creates one order) and on execution id (the `Order` refuses a fill
it has seen). Reports for an order whose request has not been seen yet are parked and
applied when it arrives. Every event of an order is kept as its audit trail.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from ..domain import ApplyResult, Fill, Order, OrderRequest, OrderStatus, OrderUpdate, VenueOrder
from ..events import (
    CancelRequestEvent,
    EventBase,
    FeeCorrectionEvent,
    FillEvent,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    ReconcileEvent,
    ReconcileKind,
)
from .dedupe import SeenIds

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

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id


def order_from_venue(broker: str, account: str, venue: VenueOrder) -> Order:
    """An order found at the venue that our journal lacks (adopted on reconcile)."""
    request = OrderRequest(
        client_order_id=venue.client_order_id,
        broker=broker,
        account=account,
        instrument=venue.instrument,
        side=venue.side,
        order_type=venue.order_type,
        quantity=venue.quantity,
        limit_price=venue.limit_price,
        stop_price=venue.stop_price,
        tif=venue.tif,
        tag="adopted",
    )
    order = Order.from_request(request)
    order.status = venue.status
    order.venue_order_id = venue.venue_order_id
    order.filled_qty = venue.filled_qty
    order.avg_price = venue.avg_price
    return order


class OMS:
    def __init__(self) -> None:
        self.orders: dict[str, OrderView] = {}
        self.counters: Counter[str] = Counter()
        self._seen = SeenIds()
        self._parked: dict[str, list[EventBase]] = defaultdict(list)

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

    def open_count(self, broker: str | None = None) -> int:
        return len(self.working(broker))

    # -- applying events -----------------------------------------------------------

    def apply(self, event: EventBase) -> Outcome:
        if not self._seen.add(event.event_id):
            self.counters[Outcome.DUPLICATE_EVENT] += 1
            return Outcome.DUPLICATE_EVENT
        match event:
            case OrderUpdateEvent():
                outcome = self._on_report(event, event.payload.client_order_id)
            case OrderRequestEvent():
                outcome = self._on_request(event)
            case FillEvent():
                outcome = self._on_report(event, event.payload.client_order_id)
            case FeeCorrectionEvent():
                outcome = self._on_fee_correction(event)
            case CancelRequestEvent() | ModifyRequestEvent():
                view = self.orders.get(event.payload.client_order_id)
                if view is not None:
                    view.history.append(event)
                outcome = Outcome.APPLIED if view is not None else Outcome.IGNORED
            case ReconcileEvent():
                outcome = self._on_reconcile(event)
            case _:
                return Outcome.IGNORED
        self.counters[outcome] += 1
        return outcome

    def _on_request(self, event: OrderRequestEvent) -> Outcome:
        request = event.payload
        if request.client_order_id in self.orders:
            return Outcome.DUPLICATE
        view = OrderView(request.broker, request.account, Order.from_request(request))
        view.history.append(event)
        self.orders[request.client_order_id] = view
        for parked in self._parked.pop(request.client_order_id, []):
            self._apply_report(view, parked)
        return Outcome.APPLIED

    def _on_report(self, event: OrderUpdateEvent | FillEvent, client_order_id: str) -> Outcome:
        view = self.orders.get(client_order_id)
        if view is None:
            self._parked[client_order_id].append(event)
            log.warning("oms.report_parked", extra={"client_order_id": client_order_id})
            return Outcome.PARKED
        return self._apply_report(view, event)

    def _apply_report(self, view: OrderView, event: EventBase) -> Outcome:
        view.history.append(event)
        payload = event.payload
        if isinstance(payload, Fill):
            result = view.order.apply_fill(payload)
        elif isinstance(payload, OrderUpdate):
            result = view.order.apply_update(payload)
        else:  # pragma: no cover - only fills and updates are parked
            return Outcome.IGNORED
        if result is not ApplyResult.APPLIED:
            log.info(
                "oms.report_not_applied",
                extra={"client_order_id": view.client_order_id, "result": result},
            )
        return _FROM_ORDER[result]

    def _on_fee_correction(self, event: FeeCorrectionEvent) -> Outcome:
        """A fill's fee reported after the fill: applied to its order once."""
        view = self.orders.get(event.payload.client_order_id)
        if view is None:
            return Outcome.IGNORED
        view.history.append(event)
        return _FROM_ORDER[view.order.apply_fee_correction(event.payload)]

    def _on_reconcile(self, event: ReconcileEvent) -> Outcome:
        rec = event.payload
        if rec.kind is ReconcileKind.VENUE_ORDER_UNKNOWN and rec.venue_order is not None:
            if rec.venue_order.client_order_id in self.orders:
                return Outcome.DUPLICATE
            order = order_from_venue(event.broker, event.account, rec.venue_order)
            view = OrderView(event.broker, event.account, order, adopted=True)
            view.history.append(event)
            self.orders[order.client_order_id] = view
            return Outcome.APPLIED
        known = self.orders.get(rec.client_order_id)
        if known is not None:
            known.history.append(event)
        return Outcome.APPLIED

    def parked_count(self) -> int:
        return sum(len(v) for v in self._parked.values())

    def pending_new(self) -> list[OrderView]:
        return [v for v in self.orders.values() if v.order.status is OrderStatus.PENDING_NEW]
