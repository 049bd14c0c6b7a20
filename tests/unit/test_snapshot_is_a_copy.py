"""A snapshot on the memory bus is the state as it stood when it was written, as on
Redis: it held the live `Order` objects, so a snapshot read back later showed the orders
as they are now, and memory-bus restart tests compared the live desk with itself."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Fill,
    FillCorrection,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import (
    EventBase,
    FillCorrectionEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
)

SRC = "paper/main"
INST = "X.PAPER"
ACCOUNT = ("paper", "main")


def req(cid: str, qty: str = "1", side: Side = Side.BUY) -> OrderRequestEvent:
    return OrderRequestEvent.create(
        SRC,
        OrderRequest(
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument=INST,
            side=side,
            order_type=OrderType.LIMIT,
            quantity=D(qty),
            limit_price=D("10"),
        ),
    )


def a_fill(exec_id: str, cid: str, price: str = "10", side: Side = Side.BUY) -> Fill:
    return Fill(
        exec_id=exec_id,
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument=INST,
        side=side,
        quantity=D(1),
        price=D(price),
    )


def fill(exec_id: str, cid: str, price: str = "10", side: Side = Side.BUY) -> FillEvent:
    return FillEvent.create(SRC, a_fill(exec_id, cid, price, side))


async def desk(bus: MemoryBus, window: FinishedWindow | None = None) -> TradingEngine:
    engine = TradingEngine(bus, [], RiskConfig(), window=window)
    await recover(engine, [ACCOUNT])
    return engine


async def publish(engine: TradingEngine, *events: EventBase) -> None:
    for event in events:
        await engine.bus.publish(event)
    await replay_stream(engine, engine.bus.layout.exec(*ACCOUNT))


async def test_a_snapshot_read_back_holds_the_orders_as_they_stood() -> None:
    bus = MemoryBus()
    await bus.start()
    live = await desk(bus)
    await publish(live, req("c1", "2"), upd_new("c1"), fill("e1", "c1"))
    await write_snapshot(live, *ACCOUNT)
    await publish(live, fill("e2", "c1"))
    assert live.oms.orders["c1"].order.status is OrderStatus.FILLED

    snapshot = await latest_snapshot(bus, *ACCOUNT)

    assert snapshot is not None
    (order,) = snapshot.orders
    assert (order.status, order.filled_qty, order.exec_ids) == (
        OrderStatus.PARTIALLY_FILLED,
        D(1),
        {"e1"},
    )


async def test_a_reader_cannot_change_the_snapshot_the_bus_holds() -> None:
    bus = MemoryBus()
    await bus.start()
    live = await desk(bus)
    await publish(live, req("c1", "2"), upd_new("c1"), fill("e1", "c1"))
    await write_snapshot(live, *ACCOUNT)
    first = await latest_snapshot(bus, *ACCOUNT)
    assert first is not None
    first.orders[0].exec_ids.add("made-up")

    again = await latest_snapshot(bus, *ACCOUNT)

    assert again is not None
    assert again.orders[0].exec_ids == {"e1"}


async def test_a_fill_correction_after_a_snapshot_restarts_as_it_was_live() -> None:
    """The review's case: on Redis the restarted desk was the live one; on the memory
    bus the snapshot held the corrected order, and the correction was refused as a
    duplicate on restart."""
    bus = MemoryBus()
    await bus.start()
    window = FinishedWindow(orders=100, histories=0)
    live = await desk(bus, window)
    await publish(live, req("c1"), fill("e1.01", "c1", "10"))
    await publish(live, req("c2"), fill("e2.01", "c2", "12"))
    await publish(live, req("c3", side=Side.SELL), fill("e3.01", "c3", "13", Side.SELL))
    await write_snapshot(live, *ACCOUNT)
    correction = FillCorrection(
        replaces="e1.01",
        fill=a_fill("e1.02", "c1", "9"),
        previous_quantity=D(1),
        previous_price=D(10),
    )
    await publish(live, FillCorrectionEvent.create(SRC, correction))
    await publish(live, req("c4", side=Side.SELL), fill("e4.01", "c4", "14", Side.SELL))

    fresh = await desk(bus, window)

    assert shown(fresh) == shown(live)
    assert live.oms.orders["c1"].order.avg_price == D(9)


def shown(engine: TradingEngine) -> object:
    positions = engine.portfolio.positions.items()
    orders = engine.oms.orders.items()
    return (
        {k: (s.quantity, s.avg_price, s.realized_pnl) for k, s in positions},
        {c: (v.order.status, v.order.filled_qty, v.order.avg_price) for c, v in orders},
    )


def upd_new(cid: str) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=OrderStatus.NEW))
