"""Start-up recovery, snapshots, and reconciliation against the venues.

On start: load each account's newest snapshot (one XREVRANGE COUNT 1), replay its
journal after the entry the snapshot covers, replay the risk stream (trading state),
then — once each broker is
connected — compare its reconcile report with what the journal says. Differences
are *published* as reconcile events (and the venue's own fills and status reports),
so they land in the journal and are shown to the trader; the engine applies them
like any other event. Nothing is ever sent to a venue here, so nothing is sent twice,
and no fill is made up: a fill is only ever one the venue reported.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable
from decimal import Decimal

from ..brokers import Broker, ReconcileReport
from ..bus import EventBus
from ..domain import Order, OrderStatus, OrderUpdate, Position
from ..events import (
    FillEvent,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
    Risk,
    RiskAction,
    RiskEvent,
    Snapshot,
    SnapshotEvent,
)
from .core import ENGINE_SOURCE, TradingEngine
from .oms import OrderView
from .portfolio import PositionState

log = logging.getLogger(__name__)


# -- snapshots ------------------------------------------------------------------------


def build_snapshot(engine: TradingEngine, broker: str, account: str) -> Snapshot | None:
    stream = engine.bus.layout.exec(broker, account)
    covers = engine.applied.get(stream)
    if covers is None:
        return None
    views = [v for v in engine.oms.orders.values() if (v.broker, v.account) == (broker, account)]
    positions = [
        Position(
            broker=s.broker,
            account=s.account,
            instrument=s.instrument,
            quantity=s.quantity,
            avg_price=s.avg_price,
            realized_pnl=s.realized_pnl,
            currency=s.currency,
            fees=dict(s.fees),
        )
        for s in engine.portfolio.positions.values()
        if (s.broker, s.account) == (broker, account)
    ]
    balances = [b for key, b in engine.portfolio.balances.items() if key[:2] == (broker, account)]
    return Snapshot(
        broker=broker,
        account=account,
        covers=covers,
        orders=tuple(v.order for v in views),
        adopted=tuple(v.client_order_id for v in views if v.adopted),
        positions=tuple(positions),
        balances=tuple(balances),
    )


async def write_snapshot(engine: TradingEngine, broker: str, account: str) -> str | None:
    snapshot = build_snapshot(engine, broker, account)
    if snapshot is None:
        return None
    entry_id = await engine.bus.publish(SnapshotEvent.create(f"{broker}/{account}", snapshot))
    if entry_id is not None:
        await engine.bus.set_snapshot_floor(
            engine.bus.layout.exec(broker, account), snapshot.covers
        )
    return entry_id


async def latest_snapshot(bus: EventBus, broker: str, account: str) -> Snapshot | None:
    """The newest snapshot, read from the end of the stream (XREVRANGE COUNT 1).

    Should the newest entry not decode (damaged, or written by a newer build), the
    newest one that does among the few kept is used, and a warning says which.
    """
    stream = bus.layout.snap(broker, account)
    newest = await bus.read_last(stream, 1)
    if not newest:
        return None
    if isinstance(newest[0].event, SnapshotEvent):
        return newest[0].event.payload
    for entry in await bus.read_last(stream, max(bus.options.snapshot_keep, 2)):
        if isinstance(entry.event, SnapshotEvent):
            log.warning(
                "recovery.newest_snapshot_unreadable",
                extra={"stream": stream, "skipped": newest[0].id, "used": entry.id},
            )
            return entry.event.payload
    return None


# -- the risk stream's end ------------------------------------------------------------

CARRIED_STATE = "trading state {state} carried forward: older risk entries are trimmed"
TRIM_SLACK = 200


async def trim_risk_stream(engine: TradingEngine, keep: int) -> int:
    """Keep the risk stream to about its newest `keep` entries without losing the state.

    The trading state is replayed from this stream on start (HALTED must survive a
    restart), and a burst of rejects could push the last state change out of any
    window. So, before trimming, the current state is written as a STATE entry: the
    newest entry then holds it, and a trim keeps at least the newest `keep`. Runs only
    once the stream is 10% (and at least `TRIM_SLACK`) over `keep`: a carried state
    every `keep / 10` entries at most, and never for what `MAXLEN ~` leaves over (whole
    nodes of up to 100 entries); and not while Redis is unreachable (the carried entry would only be
    buffered). Returns the entries removed. Rejects trimmed away take their order ids
    with them: `id_used` then no longer knows those ids (fresh ids are unique anyway).
    """
    bus = engine.bus
    stream = bus.layout.risk
    info = await bus.info(stream)
    if info is None or info.length <= keep + max(keep // 10, TRIM_SLACK):
        return 0
    state = engine.gate.state
    carried = RiskEvent.create(
        ENGINE_SOURCE,
        Risk(
            action=RiskAction.STATE,
            trading_state=state,
            message=CARRIED_STATE.format(state=state),
        ),
    )
    if await bus.publish(carried) is None:
        return 0  # buffered, not journaled: trim once it is
    removed = await bus.trim(stream, keep)
    log.info("recovery.risk_trimmed", extra={"removed": removed, "kept_at_least": keep})
    return removed


def load_snapshot(engine: TradingEngine, snapshot: Snapshot) -> None:
    adopted = set(snapshot.adopted)
    for order in snapshot.orders:
        view = OrderView(
            snapshot.broker,
            snapshot.account,
            order.model_copy(deep=True),
            adopted=order.client_order_id in adopted,
        )
        engine.oms.orders[order.client_order_id] = view
    for pos in snapshot.positions:
        state = PositionState(
            pos.broker,
            pos.account,
            pos.instrument,
            currency=pos.currency,
            quantity=pos.quantity,
            avg_price=pos.avg_price,
            # the snapshot holds realized P&L net of quote-currency fees
            realized_gross=pos.realized_pnl
            + (pos.fees.get(pos.currency, Decimal(0)) if pos.currency else Decimal(0)),
            fees=dict(pos.fees),
        )
        engine.portfolio.positions[(pos.broker, pos.account, pos.instrument)] = state
    for order in snapshot.orders:
        for exec_id in order.exec_ids:
            engine.portfolio.mark_fill_seen(snapshot.broker, snapshot.account, exec_id)
    for bal in snapshot.balances:
        engine.portfolio.balances[(bal.broker, bal.account, bal.currency)] = bal
    engine.applied[engine.bus.layout.exec(snapshot.broker, snapshot.account)] = snapshot.covers


async def replay_stream(engine: TradingEngine, stream: str) -> int:
    """Apply everything in `stream` after the last applied entry. Returns the count."""
    count = 0
    async for entry in engine.bus.replay(stream, after=engine.applied.get(stream, "0-0")):
        engine.apply_entry(entry)
        count += 1
    return count


async def recover(engine: TradingEngine, accounts: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Snapshot + journal replay for each (broker, account), then the risk stream.

    The cyclic garbage collector is paused meanwhile: replay creates hundreds of
    thousands of long-lived objects (orders and their audit trails), and collecting
    while they are young would scan them over and over for nothing (it halves the
    replay time). Nothing replayed is garbage, so nothing is lost by waiting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    engine.replaying = True  # what the journal holds was alerted when it happened
    try:
        return await _recover(engine, accounts)
    finally:
        engine.replaying = False
        if was_enabled:
            gc.enable()


async def _recover(engine: TradingEngine, accounts: Iterable[tuple[str, str]]) -> dict[str, int]:
    replayed: dict[str, int] = {}
    for broker, account in accounts:
        snapshot = await latest_snapshot(engine.bus, broker, account)
        if snapshot is not None:
            load_snapshot(engine, snapshot)
        stream = engine.bus.layout.exec(broker, account)
        replayed[stream] = await replay_stream(engine, stream)
    replayed[engine.bus.layout.risk] = await replay_stream(engine, engine.bus.layout.risk)
    log.info("recovery.replayed", extra={"streams": replayed})
    return replayed


# -- reconciliation -------------------------------------------------------------------


def _describe(order: Order) -> str:
    return f"{order.status} {order.filled_qty:f}/{order.quantity:f}"


async def reconcile(
    engine: TradingEngine, broker: Broker, report: ReconcileReport
) -> list[Reconcile]:
    """Compare the journal with the venue and publish the differences. The venue wins."""
    source = broker.source
    found: list[Reconcile] = []

    async def publish(rec: Reconcile) -> None:
        found.append(rec)
        await engine.bus.publish(ReconcileEvent.create(source, rec))

    # 1. Fills the venue has that the journal lacks: publish the venue's own fills.
    ours = {
        exec_id
        for v in engine.oms.orders.values()
        if (v.broker, v.account) == (broker.name, broker.account)
        for exec_id in v.order.exec_ids
    }
    for fill in report.fills:
        if fill.exec_id in ours or engine.portfolio.fill_seen(
            broker.name, broker.account, fill.exec_id
        ):
            continue
        await publish(
            Reconcile(
                kind=ReconcileKind.MISSED_FILL,
                instrument=fill.instrument,
                client_order_id=fill.client_order_id,
                venue=f"{fill.side} {fill.quantity:f} @ {fill.price:f} ({fill.exec_id})",
                detail="fill made while we were away, as the venue reported it",
            )
        )
        await engine.bus.publish(FillEvent.create(source, fill))
    await catch_up(engine, source)

    # 2. Orders open at the venue.
    venue_open = {o.client_order_id: o for o in report.open_orders}
    for cid, venue in venue_open.items():
        view = engine.oms.get(cid)
        if view is None:
            await publish(
                Reconcile(
                    kind=ReconcileKind.VENUE_ORDER_UNKNOWN,
                    instrument=venue.instrument,
                    client_order_id=cid,
                    venue=f"{venue.status} {venue.filled_qty:f}/{venue.quantity:f}",
                    detail="open at the venue, not in our journal: adopted",
                    venue_order=venue,
                )
            )
        elif view.order.status != venue.status:
            await publish(
                Reconcile(
                    kind=ReconcileKind.STATUS_MISMATCH,
                    instrument=venue.instrument,
                    client_order_id=cid,
                    ours=_describe(view.order),
                    venue=f"{venue.status} {venue.filled_qty:f}/{venue.quantity:f}",
                )
            )
            await engine.bus.publish(
                OrderUpdateEvent.create(
                    source,
                    OrderUpdate(
                        client_order_id=cid,
                        status=venue.status,
                        venue_order_id=venue.venue_order_id,
                        reason="status from the venue on reconcile",
                    ),
                )
            )

    # 3. Orders we think open that the venue does not hold.
    for view in engine.oms.working(broker.name, broker.account):
        if view.client_order_id in venue_open:
            continue
        never_acked = view.order.status is OrderStatus.PENDING_NEW
        status = OrderStatus.REJECTED if never_acked else OrderStatus.CANCELED
        reason = (
            "not found at the venue after a restart: it never reached it"
            if never_acked
            else "no longer open at the venue (found on reconcile)"
        )
        await publish(
            Reconcile(
                kind=ReconcileKind.LOCAL_ORDER_UNKNOWN,
                instrument=view.order.request.instrument,
                client_order_id=view.client_order_id,
                ours=_describe(view.order),
                venue="not open",
                detail=reason,
            )
        )
        await engine.bus.publish(
            OrderUpdateEvent.create(
                source,
                OrderUpdate(client_order_id=view.client_order_id, status=status, reason=reason),
            )
        )
    await catch_up(engine, source)

    # 4. Positions.
    venue_positions = {p.instrument: p.quantity for p in report.positions}
    ours_pos = {
        s.instrument: s.quantity
        for s in engine.portfolio.positions.values()
        if (s.broker, s.account) == (broker.name, broker.account)
    }
    for instrument in sorted(set(venue_positions) | set(ours_pos)):
        mine = ours_pos.get(instrument, Decimal(0))
        theirs = venue_positions.get(instrument, Decimal(0))
        if mine != theirs:
            await publish(
                Reconcile(
                    kind=ReconcileKind.POSITION_MISMATCH,
                    instrument=instrument,
                    ours=f"{mine:f}",
                    venue=f"{theirs:f}",
                    detail="position taken from the venue; no fill was made up",
                    venue_quantity=theirs,
                )
            )
    await catch_up(engine, source)
    if found:
        log.warning(
            "recovery.reconcile_differences",
            extra={"broker": source, "count": len(found), "kinds": [r.kind for r in found]},
        )
    return found


async def catch_up(engine: TradingEngine, source: str) -> None:
    broker, _, account = source.partition("/")
    await replay_stream(engine, engine.bus.layout.exec(broker, account))
    await engine.publish_anomalies()
