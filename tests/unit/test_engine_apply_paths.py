"""The engine's flat path for the bulk of a journal gives exactly what `apply` gives,
and a recovery from the journal gives exactly the desk that was live.

`TradingEngine.apply_entries` applies new requests, reports and fills of orders in
memory without the layers of `apply` (the projection, the OMS, the order, the
portfolio): any sequence of events — out of order, duplicated, late after the order
finished or left the window, partial fills, overfills, cancels, fee corrections,
adoptions — must leave every field of the desk as the careful path (`_apply_entry` for
each entry, through `apply`) leaves it: the orders with their histories and journal
spans, the retired ids, the finished-order window and its held orders, the duplicate
window, the outcome counters, positions, P&L, fees, last fills, the anomalies, the
change sets and the version. The same journal replayed by `recover` into a fresh engine
gives the same desk too, its anomalies counted as replayed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Fill,
    FillCorrection,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    VenueOrder,
)
from silvertine_tui.domain.orders import FeeCorrection
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.recovery import recover
from silvertine_tui.events import (
    CancelRequest,
    CancelRequestEvent,
    EventBase,
    FeeCorrectionEvent,
    FillCorrectionEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
)

ACCOUNTS = (("paper", "main"), ("paper", "alt"))
COIDS = ("c0", "c1", "c2", "c3", "c4")
INSTRUMENTS = ("X.PAPER", "Y.PAPER")


def _d(tenths: int) -> Decimal:
    return Decimal(tenths) / 10


@st.composite
def journals(draw: st.DrawFn) -> list[EventBase]:
    """A journal of up to 60 events over five orders in two accounts, with the clock
    moving forward (the window's age limit reads it) and earlier events repeated."""
    events: list[EventBase] = []
    clock = 0
    exec_n = 0
    for _ in range(draw(st.integers(0, 60))):
        clock += draw(st.integers(0, 40)) * 10**9
        if events and draw(st.integers(0, 9)) == 0:
            events.append(draw(st.sampled_from(events)))  # the same event again
            continue
        coid = draw(st.sampled_from(COIDS))
        n = COIDS.index(coid)
        broker, account = ACCOUNTS[n % 2]
        source = f"{broker}/{account}"
        instrument = INSTRUMENTS[n % 2 if n < 4 else 0]
        side = Side.BUY if n in (0, 1, 4) else Side.SELL
        kind = draw(
            st.sampled_from(
                ["req", "req", "upd", "upd", "upd", "fill", "fill", "fee", "fix", "cancel", "adopt"]
            )
        )
        if kind == "req":
            by_quote = draw(st.integers(0, 4)) == 0
            event: EventBase = OrderRequestEvent.create(
                source,
                OrderRequest(
                    client_order_id=coid,
                    broker=broker,
                    account=account,
                    instrument=instrument,
                    side=side,
                    order_type=OrderType.MARKET if by_quote else OrderType.LIMIT,
                    quantity=None if by_quote else _d(draw(st.integers(1, 30))),
                    quote_quantity=_d(draw(st.integers(10, 300))) if by_quote else None,
                    limit_price=None if by_quote else _d(draw(st.integers(1, 50))),
                ),
                ts=clock,
            )
        elif kind == "upd":
            event = OrderUpdateEvent.create(
                source,
                OrderUpdate(
                    client_order_id=coid,
                    status=draw(st.sampled_from(list(OrderStatus))),
                    venue_order_id=draw(st.sampled_from([None, None, "v1", "v2"])),
                    filled_qty=draw(st.none() | st.integers(0, 30).map(_d)),
                    quantity=draw(st.none() | st.none() | st.integers(1, 30).map(_d)),
                    limit_price=draw(st.none() | st.none() | st.integers(1, 50).map(_d)),
                    reason=draw(st.sampled_from(["", "", "venue says so"])),
                    triggered=draw(st.sampled_from([None, None, True, False])),
                    inactive=draw(st.sampled_from([None, None, True, False])),
                ),
                ts=clock,
            )
        elif kind == "fix":  # a venue's correction of a fill, maybe one never seen
            exec_n += 1
            event = FillCorrectionEvent.create(
                source,
                FillCorrection(
                    replaces=draw(st.sampled_from(["e1", "e2", f"e{exec_n - 1}"])),
                    fill=Fill(
                        exec_id=f"e{exec_n}.fix",
                        client_order_id=coid,
                        broker=broker,
                        account=account,
                        instrument=instrument,
                        side=side,
                        quantity=_d(draw(st.integers(1, 12))),
                        price=_d(draw(st.integers(1, 50))),
                        fee=_d(draw(st.integers(0, 3))),
                        fee_currency="USDT",
                    ),
                    previous_quantity=_d(draw(st.integers(1, 12))),
                    previous_price=_d(draw(st.integers(1, 50))),
                ),
                ts=clock,
            )
        elif kind in ("fill", "fee"):
            exec_n += 1
            exec_id = draw(st.sampled_from([f"e{exec_n}", f"e{exec_n}", "e1", "e2"]))
            if kind == "fill":
                event = FillEvent.create(
                    source,
                    Fill(
                        exec_id=exec_id,
                        client_order_id=coid,
                        venue_order_id=draw(st.sampled_from([None, "v1"])),
                        broker=broker,
                        account=account,
                        instrument=instrument,
                        side=side,
                        quantity=_d(draw(st.integers(1, 12))),
                        price=_d(draw(st.integers(1, 50))),
                        fee=_d(draw(st.integers(0, 3))),
                        fee_currency=draw(st.sampled_from(["", "USDT", "X", "BNB"])),
                        fee_value=draw(st.none() | st.integers(0, 5).map(_d)),
                        venue_ts_ns=draw(st.none() | st.integers(0, 10).map(lambda s: s * 10**9)),
                    ),
                    ts=clock,
                )
            else:
                event = FeeCorrectionEvent.create(
                    source,
                    FeeCorrection(
                        exec_id=exec_id,
                        client_order_id=coid,
                        broker=broker,
                        account=account,
                        instrument=instrument,
                        fee=_d(draw(st.integers(0, 3))),
                        fee_currency="USDT",
                    ),
                    ts=clock,
                )
        elif kind == "cancel":
            event = CancelRequestEvent.create(source, CancelRequest(client_order_id=coid), ts=clock)
        else:
            event = ReconcileEvent.create(
                source,
                Reconcile(
                    kind=ReconcileKind.VENUE_ORDER_UNKNOWN,
                    instrument=instrument,
                    client_order_id=coid,
                    venue_order=VenueOrder(
                        client_order_id=coid,
                        venue_order_id="v9",
                        instrument=instrument,
                        side=side,
                        order_type=OrderType.LIMIT,
                        quantity=_d(draw(st.integers(1, 30))),
                        limit_price=Decimal("10"),
                        status=OrderStatus.NEW,
                    ),
                ),
                ts=clock,
            )
        events.append(event)
    return events


def _fields(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _fields(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    return obj


def desk_state(engine: TradingEngine, *, replayed: bool = False) -> dict[str, Any]:
    """Every field of the desk, in the order it is held."""
    oms, portfolio = engine.oms, engine.portfolio
    orders = []
    for coid, view in oms.orders.items():
        order = view.order
        orders.append(
            (
                coid,
                view.broker,
                view.account,
                order.model_dump(),
                sorted(order.model_fields_set),
                [e.event_id for e in view.history],
                view.adopted,
                view.created_ns,
                view.first_entry,
                view.last_entry,
                view.history_dropped,
            )
        )
    anomalies = engine.anomalies
    return {
        "orders": orders,
        "retired": list(oms.retired.items()),
        "counters": dict(oms.counters),
        "seen": (set(oms._seen._set), list(oms._seen._order)),
        "parked": {k: [e.event_id for e in v] for k, v in oms._parked.items() if v},
        "finished": list(oms._finished.items()),
        "histories": list(oms._histories),
        "holders": dict(oms._holders),
        "held": dict(oms._held),
        "positions": [(k, _fields(v)) for k, v in portfolio.positions.items()],
        "fills_seen": (set(portfolio._fills._set), list(portfolio._fills._order)),
        "last_fills": {k: dict(v) for k, v in portfolio.last_fills.items()},
        "unplaced": portfolio.unplaced,
        "balances": dict(portfolio.balances),
        "totals": _fields(portfolio.totals()),
        # A replay counts what it finds apart (it was alerted when it happened).
        "anomalies": dict(anomalies.replayed if replayed else anomalies.counts),
        "journal_start": dict(engine.journal_start),
        "applied": dict(engine.applied),
    }


def live_state(engine: TradingEngine) -> dict[str, Any]:
    """The desk plus what only a live desk shows: the change set and version."""
    state = desk_state(engine)
    changes = _fields(engine.projection.peek())
    if changes["everything"]:
        # The next frame redraws every row: the rows listed beside it are not read.
        for rows in ("orders", "positions", "balances"):
            changes[rows] = "everything"
    state["changes"] = changes
    state["version"] = engine.projection.version
    state["anomaly_messages"] = [_fields(a) for a in engine.anomalies.pending]
    state["evicted"] = list(engine.oms.evicted)
    state["changed"] = engine._changed.is_set()
    return state


def _engine(bus: MemoryBus, window: FinishedWindow, spot: bool) -> TradingEngine:
    engine = TradingEngine(bus, [], RiskConfig(), window=window)
    if spot:
        engine.portfolio.spot_brokers.add("paper")
    return engine


async def _journal(events: list[EventBase]) -> tuple[MemoryBus, list[BusEntry]]:
    bus = MemoryBus()
    await bus.start()
    for event in events:
        await bus.publish(event)
    entries: list[BusEntry] = []
    for broker, account in ACCOUNTS:
        async for entry in bus.replay(bus.layout.exec(broker, account)):
            entries.append(entry)
    return bus, entries


@settings(max_examples=300, deadline=None)
@given(
    events=journals(),
    keep=st.integers(0, 3),
    histories=st.integers(0, 3),
    minutes=st.sampled_from([0.0, 0.0, 0.5, 1.0]),
    spot=st.booleans(),
    batches=st.lists(st.integers(1, 7), min_size=1, max_size=5),
)
def test_the_flat_path_and_a_recovery_give_the_desk_the_careful_path_gives(
    events: list[EventBase],
    keep: int,
    histories: int,
    minutes: float,
    spot: bool,
    batches: list[int],
) -> None:
    window = FinishedWindow(orders=keep, minutes=minutes, histories=histories)

    async def run() -> None:
        bus, entries = await _journal(events)
        careful = _engine(bus, window, spot)
        one_by_one = _engine(bus, window, spot)
        in_batches = _engine(bus, window, spot)
        for entry in entries:
            careful._apply_entry(entry)
            one_by_one.apply_entry(entry)
        start, n = 0, 0
        while start < len(entries):
            size = batches[n % len(batches)]
            in_batches.apply_entries(entries[start : start + size])
            start += size
            n += 1
        expected = live_state(careful)
        assert live_state(one_by_one) == expected
        assert live_state(in_batches) == expected

        recovered = _engine(bus, window, spot)
        await recover(recovered, ACCOUNTS)
        assert desk_state(recovered, replayed=True) == desk_state(careful)
        await bus.close()

    asyncio.run(run())


def test_a_recovery_has_the_next_frame_redraw_everything() -> None:
    """A recovered desk is drawn whole, however short its journal (the replay need not
    list its rows in the change set)."""
    events = [
        OrderRequestEvent.create(
            "paper/main",
            OrderRequest(
                client_order_id="c1",
                broker="paper",
                account="main",
                instrument="X.PAPER",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=Decimal("1"),
                limit_price=Decimal("10"),
            ),
        ),
        OrderUpdateEvent.create(
            "paper/main", OrderUpdate(client_order_id="c1", status=OrderStatus.NEW)
        ),
    ]

    async def run() -> None:
        bus, _ = await _journal(events)
        engine = TradingEngine(bus, [], RiskConfig())
        await recover(engine, [("paper", "main")])
        changes = engine.projection.take()
        assert changes.everything
        assert engine.oms.get("c1") is not None
        assert engine.version > 0
        await bus.close()

    asyncio.run(run())


@settings(max_examples=200, deadline=None)
@given(
    events=journals(),
    back_at=st.integers(0, 60),
    spot=st.booleans(),
    batches=st.lists(st.integers(1, 7), min_size=1, max_size=5),
)
def test_entries_below_the_cursor_are_skipped_on_both_paths(
    events: list[EventBase], back_at: int, spot: bool, batches: list[int]
) -> None:
    """A stream read again from its start after Redis came back below this reader's
    cursor (`RedisBus._rebase`, a watching desk: said, "restart this desk")
    hands over entries whose ids are below what the engine applied there. The careful
    path skips them (`applied` never steps back); the flat path took the new ones of
    orders in memory and stepped `applied` back: a fill below the cursor moved the
    position on one path and not on the other."""
    window = FinishedWindow(orders=2, minutes=0.0, histories=2)

    async def run() -> None:
        bus, entries = await _journal(events)
        # From `back_at` on, each stream's entries come again with ids from the start.
        kept = entries[:back_at]
        behind: dict[str, int] = {}
        for stream, _, event in entries[back_at:]:
            behind[stream] = behind.get(stream, 0) + 1
            kept.append(BusEntry(stream, f"0-{behind[stream]}", event))
        careful = _engine(bus, window, spot)
        in_batches = _engine(bus, window, spot)
        for entry in kept:
            careful._apply_entry(entry)
        start, n = 0, 0
        while start < len(kept):
            size = batches[n % len(batches)]
            in_batches.apply_entries(kept[start : start + size])
            start += size
            n += 1
        assert live_state(in_batches) == live_state(careful)
        assert in_batches.applied == careful.applied
        await bus.close()

    asyncio.run(run())
