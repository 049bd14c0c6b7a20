"""A journal of interleaved order lifecycles, and what each order's events are."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.bus import EventBus
from silvertine_tui.domain import Fill, OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from silvertine_tui.events import EventBase, FillEvent, OrderRequestEvent, OrderUpdateEvent

SOURCE = "paper/main"
INSTRUMENT = "ETHUSDT.PAPER"


def lifecycle(cid: str, n: int) -> list[EventBase]:
    """Request, NEW, then a fill and FILLED (even n) or CANCELED (odd n)."""
    request = OrderRequest(
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument=INSTRUMENT,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("3000.00"),
    )
    events: list[EventBase] = [
        OrderRequestEvent.create(SOURCE, request),
        OrderUpdateEvent.create(SOURCE, OrderUpdate(client_order_id=cid, status=OrderStatus.NEW)),
    ]
    if n % 2 == 0:
        made = Fill(
            exec_id=f"{cid}-x",
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument=INSTRUMENT,
            side=Side.BUY,
            quantity=D("1"),
            price=D("3000.00"),
        )
        events.append(FillEvent.create(SOURCE, made))
        status = OrderStatus.FILLED
    else:
        status = OrderStatus.CANCELED
    events.append(OrderUpdateEvent.create(SOURCE, OrderUpdate(client_order_id=cid, status=status)))
    return events


async def write_interleaved(bus: EventBus, orders: int) -> dict[str, list[str]]:
    """Publish `orders` lifecycles two at a time, interleaved (each order's events
    among another's); returns each order's event ids in journal order."""
    ids: dict[str, list[str]] = {}
    for pair in range(0, orders, 2):
        lives = [lifecycle(f"h{n:05d}", n) for n in range(pair, min(pair + 2, orders))]
        for step in range(max(len(life) for life in lives)):
            for life in lives:
                if step < len(life):
                    event = life[step]
                    await bus.publish(event)
                    ids.setdefault(event.payload.client_order_id, []).append(event.event_id)
    return ids
