"""A journal of interleaved order lifecycles, and what each order's events are."""

from __future__ import annotations

from benchmarks.engine import order_lifecycle
from silvertine_tui.bus import EventBus
from silvertine_tui.events import EventBase
from silvertine_tui.events.codec import decode


def lifecycle(n: int) -> list[EventBase]:
    """Order `h{n:010d}`: request, PENDING_NEW, NEW, a fill, FILLED (the start-up
    benchmark's lifecycle, decoded)."""
    events = [decode(fields) for fields in order_lifecycle(n, prefix="h")]
    assert all(isinstance(e, EventBase) for e in events)
    return events  # type: ignore[return-value]


async def write_interleaved(bus: EventBus, orders: int) -> dict[str, list[str]]:
    """Publish `orders` lifecycles two at a time, interleaved (each order's events
    among another's); returns each order's event ids in journal order."""
    ids: dict[str, list[str]] = {}
    for pair in range(0, orders, 2):
        lives = [lifecycle(n) for n in range(pair, min(pair + 2, orders))]
        for step in range(max(len(life) for life in lives)):
            for life in lives:
                if step < len(life):
                    event = life[step]
                    await bus.publish(event)
                    ids.setdefault(event.payload.client_order_id, []).append(event.event_id)
    return ids
