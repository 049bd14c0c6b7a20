"""An order's events read back from its journal, for an order whose history left memory.

The OMS remembers, per order, the journal entry ids of its first and last event
(`OrderView.first_entry`/`last_entry`, kept in `Retired` once the order is evicted): the
read is then one XRANGE over that span, in pages, keeping the order's own events. A
snapshot keeps each order's span (`Snapshot.spans`); an order loaded from one written
before spans were kept has none: the whole journal is read, in pages, with progress.
Each page is one awaited bus read, so the event loop keeps running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from ..bus import EventBus
from ..domain import OrderRequest, OrderType, Side
from ..events import (
    EventBase,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    ReconcileEvent,
)
from .oms import OMS, OrderView

PAGE = 2_000

Progress = Callable[[int, int], None]
"""(entries read so far, entries in the stream or 0 when not known)."""


@dataclass(frozen=True, slots=True)
class JournalSpan:
    """Where an order's events are: its account's journal, between two entry ids."""

    broker: str
    account: str
    first: str = "-"
    last: str = "+"

    @property
    def known(self) -> bool:
        return self.first != "-"


def belongs(event: EventBase, client_order_id: str) -> bool:
    """Whether a journal event is one of this order's (as the OMS files them)."""
    payload = event.payload
    if getattr(payload, "client_order_id", None) == client_order_id:
        return True
    if isinstance(event, ReconcileEvent):
        venue = event.payload.venue_order
        return venue is not None and venue.client_order_id == client_order_id
    return False


async def read_order_history(
    bus: EventBus,
    client_order_id: str,
    span: JournalSpan,
    *,
    progress: Progress | None = None,
    page: int = PAGE,
) -> list[EventBase]:
    """The order's events in journal order (empty if the journal holds none)."""
    stream = bus.layout.exec(span.broker, span.account)
    total = 0
    if progress is not None and not span.known:
        info = await bus.info(stream)
        total = info.length if info is not None else 0
    found: list[EventBase] = []
    start, read = span.first, 0
    while True:
        entries = await bus.read(stream, start, span.last, page)
        read += len(entries)
        for entry in entries:
            if entry.ok and belongs(entry.event, client_order_id):  # type: ignore[arg-type]
                found.append(entry.event)  # type: ignore[arg-type]
        if progress is not None:
            progress(read, total)
        if len(entries) < page:
            return found
        start = f"({entries[-1].id}"
        await asyncio.sleep(0)  # the memory bus answers without yielding


def order_from_events(client_order_id: str, events: list[EventBase]) -> OrderView | None:
    """The order as its own journal events make it (an order that left memory, for the
    history screen): a fresh OMS applies them, as recovery would. None only when there
    are none.

    Events whose start the journal's trim by age took (its request and NEW gone, its
    fills and its end left: `first_events_trimmed`) make the order on a stand-in of
    its request (`stand_in_request`: what the events say of it, never shown as its
    terms), and its history is what is left: a fresh OMS would hold every report for
    a request that never comes."""
    oms = OMS()
    for event in events:
        oms.apply(event)
    view = oms.get(client_order_id)
    if view is not None or not events:
        return view
    first = events[0]
    stand_in = OrderRequestEvent.create(
        first.source, stand_in_request(client_order_id, events), ts=first.ts
    )
    oms = OMS()
    oms.apply(stand_in)
    for event in events:
        oms.apply(event)
    view = oms.get(client_order_id)
    if view is not None:
        view.history.remove(stand_in)  # not one of its events: the journal's are shown
    return view


def starts_order(event: EventBase, client_order_id: str) -> bool:
    """Whether `event` begins the order's life in the journal: its request, or the
    reconcile that adopted it (or re-seeded it after Redis lost the journal)."""
    if isinstance(event, OrderRequestEvent):
        return event.payload.client_order_id == client_order_id
    if isinstance(event, ReconcileEvent):
        venue = event.payload.venue_order
        return venue is not None and venue.client_order_id == client_order_id
    return False


def first_events_trimmed(client_order_id: str, events: list[EventBase]) -> bool:
    """Whether the order's events read back lack their start (`starts_order`): the
    journal's retention trimmed its first events, what is left came after."""
    return bool(events) and not any(starts_order(e, client_order_id) for e in events)


STAND_IN_INSTRUMENT = "unknown"
"""A stand-in request's instrument when no event left names it (only statuses left)."""


def stand_in_request(client_order_id: str, events: list[EventBase]) -> OrderRequest:
    """A request for an order whose own was trimmed from the journal, from what its
    events left say: its broker and account, the side and instrument of its fills (or
    the instrument a reconcile names), and a quantity no fill left goes past (the
    newest terms a replace reported, else what filled). Only for rebuilding what is
    left (`order_from_events`): its terms are not the order's, and are never shown."""
    fills = [e.payload for e in events if isinstance(e, FillEvent)]
    instrument = next((f.instrument for f in fills), "")
    if not instrument:
        instrument = next(
            (
                e.payload.instrument
                for e in events
                if isinstance(e, ReconcileEvent) and e.payload.instrument
            ),
            "",
        )
    quantity = sum((f.quantity for f in fills), Decimal(0))
    limit_price: Decimal | None = None
    for event in events:
        if isinstance(event, OrderUpdateEvent):
            update = event.payload
            if update.quantity is not None:
                quantity = max(quantity, update.quantity)
            if update.filled_qty is not None:
                quantity = max(quantity, update.filled_qty)
            if update.limit_price is not None:
                limit_price = update.limit_price
    first = events[0]
    return OrderRequest(
        client_order_id=client_order_id,
        broker=first.broker or "unknown",
        account=first.account or "unknown",
        instrument=instrument if len(instrument) >= 3 else STAND_IN_INSTRUMENT,
        side=fills[0].side if fills else Side.BUY,
        order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
        quantity=quantity,
        limit_price=limit_price,
    )
