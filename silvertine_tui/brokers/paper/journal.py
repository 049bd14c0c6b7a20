"""Rebuild the paper venue from its own execution journal (restart with Redis).

A live venue remembers its orders, fills and cash across a client's restart; the
paper venue's memory is its journal, `{prefix}:exec:{broker}:{account}`. On connect it
replays that stream and puts back exactly what it had reported:

- orders: from their request, then every update and fill, through the same checked
  state machine the engine uses (`domain.Order`), so duplicates and late reports are
  ignored as they are there. Orders never acknowledged (still PENDING_NEW) never
  reached the venue and are not restored; a cancel or replace that was sent but not
  answered had not reached it either (the order keeps working with its old terms).
- cash and positions: every fill is applied again (once per execution id), and every
  published Balance/Position event is a checkpoint that overrides the running value,
  so a crash between a fill and its balance event loses nothing.

Nothing is re-sent or re-filled: restoring publishes no event.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal

from ...bus import EventBus, parse_id
from ...domain import ZERO, Fill, Liquidity, Order, OrderStatus
from ...events import (
    BalanceEvent,
    BookEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
)
from .account import PositionState
from .orders import TRIGGERED_REASON, SimFill, SimOrder
from .venue import PaperVenue

log = logging.getLogger(__name__)

_VENUE_ID = re.compile(r"P(\d+)")

_PENDING = frozenset({OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE})


@dataclass(slots=True)
class JournalState:
    """What the replay found, for the adapter's bookkeeping."""

    entries: int = 0
    last_id: str = ""
    restored_orders: int = 0
    working_orders: int = 0
    skipped: int = 0
    published_execs: set[str] = field(default_factory=set)
    published_status: dict[str, OrderStatus] = field(default_factory=dict)
    last_fill_price: dict[str, Decimal] = field(default_factory=dict)


async def restore_from_journal(bus: EventBus, stream: str, venue: PaperVenue) -> JournalState:
    """Replay `stream` into `venue` (which must be fresh). Publishes nothing."""
    state = JournalState()
    orders: dict[str, Order] = {}
    created: dict[str, int] = {}
    triggered: set[str] = set()
    fills: dict[str, list[Fill]] = {}
    instruments = venue.instruments
    async for entry in bus.replay(stream):
        state.entries += 1
        state.last_id = entry.id
        event = entry.event
        if isinstance(event, OrderRequestEvent):
            request = event.payload
            orders.setdefault(request.client_order_id, Order.from_request(request))
            created.setdefault(request.client_order_id, event.ts)
        elif isinstance(event, OrderUpdateEvent):
            update = event.payload
            order = orders.get(update.client_order_id)
            if order is not None:
                order.apply_update(update)
            if update.reason.startswith(TRIGGERED_REASON):
                triggered.add(update.client_order_id)
        elif isinstance(event, FillEvent):
            fill = event.payload
            if fill.exec_id in state.published_execs:
                continue
            state.published_execs.add(fill.exec_id)
            order = orders.get(fill.client_order_id)
            if order is not None:
                order.apply_fill(fill)
            fills.setdefault(fill.client_order_id, []).append(fill)
            state.last_fill_price[fill.instrument] = fill.price
            inst = instruments.get(fill.instrument)
            if inst is not None:
                # A fee in the base asset came out of the position, not the cash.
                in_base = fill.fee_currency not in ("", inst.quote_currency)
                venue.account.apply_fill(
                    fill.instrument,
                    inst.quote_currency,
                    fill.side,
                    fill.quantity,
                    fill.price,
                    ZERO if in_base else fill.fee,
                    inst.multiplier,
                    fee_qty=fill.fee if in_base else ZERO,
                )
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
    max_seq = 0
    for coid, order in orders.items():
        sim = _to_sim(order, created.get(coid, 0), coid in triggered, fills.get(coid, []))
        if sim is None:
            continue
        if sim.instrument not in instruments:
            state.skipped += 1
            log.warning(
                "paper.restore_unknown_instrument",
                extra={"order": coid, "instrument": sim.instrument},
            )
            continue
        max_seq = max(max_seq, sim.seq)
        venue.restore(sim)
        state.restored_orders += 1
        if not sim.status.is_terminal:
            state.working_orders += 1
        state.published_status[coid] = sim.status
    venue.set_sequence(max_seq)
    return state


def _to_sim(order: Order, created_ns: int, triggered: bool, fills: list[Fill]) -> SimOrder | None:
    venue_id = order.venue_order_id
    if venue_id is None or order.status is OrderStatus.PENDING_NEW:
        return None  # never acknowledged: the venue never had it
    match = _VENUE_ID.fullmatch(venue_id)
    seq = int(match.group(1)) if match else 0
    request = order.request
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
        created_ns=created_ns,
        status=status,
        triggered=triggered,
    )
    cum = ZERO
    value = ZERO
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
                avg_price=value / cum,
                fee_value=fill.fee_value,
            )
        )
    sim.filled_qty = cum
    sim.filled_value = value
    return sim


async def last_mids(bus: EventBus, stream: str, keys: set[str]) -> dict[str, Decimal]:
    """The last mid published per instrument in the market-data stream `stream`.

    Reads backwards in growing time windows from the stream's last entry (ids are
    millisecond stamps), so a long stream is not read whole.
    """
    info = await bus.info(stream)
    if info is None or info.last_id is None:
        return {}
    last_ms, _ = parse_id(info.last_id)
    found: dict[str, Decimal] = {}
    window = 2_000
    while True:
        start = max(0, last_ms - window)
        for entry in await bus.read(stream, f"{start}-0", "+"):
            event = entry.event
            mid: Decimal | None = None
            key = ""
            if isinstance(event, BookEvent):
                book = event.payload
                key = book.instrument
                if book.bids and book.asks:
                    mid = (book.bids[0].price + book.asks[0].price) / 2
            elif isinstance(event, QuoteEvent):
                key = event.payload.instrument
                mid = event.payload.mid
            if mid is not None and key in keys:
                found[key] = mid
        if len(found) == len(keys) or start == 0:
            return found
        window *= 10
