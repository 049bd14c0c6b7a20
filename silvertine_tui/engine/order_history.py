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

from ..bus import EventBus
from ..events import EventBase, ReconcileEvent
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
    history screen): a fresh OMS applies them, as recovery would."""
    oms = OMS()
    for event in events:
        oms.apply(event)
    return oms.get(client_order_id)
