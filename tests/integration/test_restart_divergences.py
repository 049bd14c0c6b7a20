"""A desk restarted from its journal (the newest snapshot and the journal after it) shows
what the live desk showed, where a review found it did not (each on a Redis bus of its
own server, and on the memory bus):

- a fill the live desk had taken, journaled again after the snapshot: its order
  evicted before the snapshot, or another program's order (reports parked for a
  request that never comes). Live refuses the exec id again; a restart booked it twice.
- a fee correction journaled again after the snapshot: a restart doubled the fee.
- an opening position whose venue report came before the snapshot and its
  OPENING_POSITION reconcile after: a restart lost the venue's average.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal as D
from typing import Any

import pytest

from silvertine_tui.bus import BusOptions, EventBus, MemoryBus
from silvertine_tui.bus.redis_streams import RedisBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    FeeCorrection,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Quote,
    Side,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.recovery import (
    build_snapshot,
    recover,
    replay_stream,
    write_snapshot,
)
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import (
    EventBase,
    FeeCorrectionEvent,
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    Reconcile,
    ReconcileEvent,
    ReconcileKind,
    SnapshotEvent,
)
from tests.support.redis_server import RedisServer

SRC = "paper/main"
INST = "X.PAPER"
ACCOUNT = ("paper", "main")

NewBus = Callable[[], Awaitable[EventBus]]


@pytest.fixture(params=["redis", "memory"])
async def new_bus(request: pytest.FixtureRequest, key_prefix: str) -> AsyncIterator[NewBus]:
    """A bus on the same journal each call: on Redis a new connection to the test
    session's own server under this test's prefix; on memory the one bus (a restart
    in the same process)."""
    opened: list[EventBus] = []
    memory = MemoryBus()

    async def make() -> EventBus:
        bus: EventBus
        if request.param == "memory":
            bus = memory
        else:
            server: RedisServer = request.getfixturevalue("redis_server")
            bus = RedisBus(server.url, BusOptions(prefix=key_prefix))
        await bus.start()
        opened.append(bus)
        return bus

    yield make
    for bus in opened:
        await bus.close()


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


def upd(status: OrderStatus, cid: str) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=status))


def fill(exec_id: str, cid: str, qty: str = "1", price: str = "10", side: Side = Side.BUY) -> Any:
    return FillEvent.create(
        SRC,
        Fill(
            exec_id=exec_id,
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument=INST,
            side=side,
            quantity=D(qty),
            price=D(price),
        ),
    )


def fee_correction(exec_id: str, cid: str, fee: str) -> FeeCorrectionEvent:
    return FeeCorrectionEvent.create(
        SRC,
        FeeCorrection(
            exec_id=exec_id,
            client_order_id=cid,
            broker="paper",
            account="main",
            instrument=INST,
            fee=D(fee),
            fee_currency="USD",
        ),
    )


async def desk(bus: EventBus, window: FinishedWindow | None = None) -> TradingEngine:
    engine = TradingEngine(bus, [], RiskConfig(), window=window)
    await recover(engine, [ACCOUNT])
    return engine


async def publish(engine: TradingEngine, *events: EventBase) -> None:
    """Journal `events` as a broker would, and apply them as the engine's reader does."""
    for event in events:
        await engine.bus.publish(event)
    await replay_stream(engine, engine.bus.layout.exec(*ACCOUNT))


async def restarted(new_bus: NewBus, window: FinishedWindow | None = None) -> TradingEngine:
    """A desk started anew on the same journal."""
    return await desk(await new_bus(), window)


def shown(engine: TradingEngine) -> dict[str, Any]:
    """What the desk shows of the account: positions, P&L, fees, orders."""
    portfolio = engine.portfolio
    return {
        "positions": {
            key: (
                s.quantity,
                s.avg_price,
                s.realized_pnl,
                dict(s.fees),
                portfolio.unrealized(s),
            )
            for key, s in portfolio.positions.items()
        },
        "totals": portfolio.totals(),
        "orders": {
            cid: (v.order.status, v.order.filled_qty, dict(v.order.fees))
            for cid, v in engine.oms.orders.items()
        },
    }


async def test_a_fill_of_an_order_evicted_before_the_snapshot_is_not_booked_twice(
    new_bus: NewBus,
) -> None:
    window = FinishedWindow(orders=1, histories=1)
    live = await desk(await new_bus(), window)
    await publish(live, req("c1"), fill("e1", "c1"))
    await publish(live, req("c2"), fill("e2", "c2"))  # holds the last fill
    await publish(live, req("c3"), upd(OrderStatus.CANCELED, "c3"))  # c1 evicted
    assert "c1" not in live.oms.orders
    await write_snapshot(live, *ACCOUNT)
    await publish(live, fill("e1", "c1"))  # the same execution journaled again
    assert live.portfolio.position("paper", "main", INST) == D(2)

    fresh = await restarted(new_bus, window)

    assert shown(fresh) == shown(live)


async def test_a_parked_fill_of_another_programs_order_is_not_booked_twice(
    new_bus: NewBus,
) -> None:
    live = await desk(await new_bus())
    await publish(live, fill("x1", "bot-1"))  # parked: no request ever comes
    await publish(live, req("c1"), fill("e1", "c1"))  # ours: the instrument's last fill
    assert live.oms.parked_count() == 1
    await write_snapshot(live, *ACCOUNT)
    await publish(live, fill("x1", "bot-1"))  # journaled again
    assert live.portfolio.position("paper", "main", INST) == D(2)

    fresh = await restarted(new_bus)

    assert shown(fresh) == shown(live)


async def test_a_snapshot_without_the_seen_exec_ids_still_loads(new_bus: NewBus) -> None:
    """A snapshot written before it carried the seen exec ids (the field absent from
    its JSON) loads as before."""
    live = await desk(await new_bus())
    await publish(live, req("c1"), fill("e1", "c1"))
    await write_snapshot(live, *ACCOUNT)
    snapshot = await latest_snapshot(live.bus, *ACCOUNT)
    assert snapshot is not None
    older = snapshot.model_dump(mode="json", exclude={"seen_exec_ids", "seen_fee_ids"})
    assert type(snapshot).model_validate(older).seen_exec_ids == ()


async def test_a_fee_correction_journaled_again_after_a_snapshot_is_booked_once(
    new_bus: NewBus,
) -> None:
    live = await desk(await new_bus())
    await publish(live, req("c1", "2"), upd(OrderStatus.NEW, "c1"), fill("e1", "c1"))
    await publish(live, fee_correction("e1", "c1", "1.25"))
    await write_snapshot(live, *ACCOUNT)
    await publish(live, fee_correction("e1", "c1", "1.25"))  # the report journaled again
    assert live.portfolio.totals().fees == {"USD": D("1.25")}

    fresh = await restarted(new_bus)

    assert shown(fresh) == shown(live)


async def test_a_snapshot_from_before_the_seen_ids_refuses_a_listed_orders_fee_again(
    new_bus: NewBus,
) -> None:
    """A snapshot written before it carried the seen ids still refuses a repeat of a
    fee correction of an order it lists (the order's `fee_corrected`)."""
    live = await desk(await new_bus())
    await publish(live, req("c1", "2"), upd(OrderStatus.NEW, "c1"), fill("e1", "c1"))
    await publish(live, fee_correction("e1", "c1", "1.25"))
    snapshot = build_snapshot(live, *ACCOUNT)
    assert snapshot is not None
    assert snapshot.seen_fee_ids == ("e1",)
    older = type(snapshot).model_validate(
        snapshot.model_dump(exclude={"seen_exec_ids", "seen_fee_ids", "venue_positions"})
    )
    await live.bus.publish(SnapshotEvent.create(SRC, older))
    await publish(live, fee_correction("e1", "c1", "1.25"))

    fresh = await restarted(new_bus)

    assert fresh.portfolio.totals().fees == {"USD": D("1.25")}
    assert shown(fresh) == shown(live)


async def test_a_fee_correction_of_an_evicted_orders_fill_is_booked_once(
    new_bus: NewBus,
) -> None:
    window = FinishedWindow(orders=1, histories=1)
    live = await desk(await new_bus(), window)
    await publish(live, req("c1"), fill("e1", "c1"), fee_correction("e1", "c1", "0.5"))
    await publish(live, req("c2"), fill("e2", "c2"))
    await publish(live, req("c3"), upd(OrderStatus.CANCELED, "c3"))  # c1 evicted
    assert "c1" not in live.oms.orders
    await write_snapshot(live, *ACCOUNT)
    await publish(live, fee_correction("e1", "c1", "0.5"))
    assert live.portfolio.totals().fees == {"USD": D("0.5")}

    fresh = await restarted(new_bus, window)

    assert shown(fresh) == shown(live)


async def test_an_opening_position_keeps_the_venues_average_across_a_snapshot(
    new_bus: NewBus,
) -> None:
    live = await desk(await new_bus())
    await publish(live, req("c0"), upd(OrderStatus.NEW, "c0"))  # the journal has begun
    venue = Position(
        broker="paper", account="main", instrument=INST, quantity=D(5), avg_price=D("101.5")
    )
    await publish(live, PositionEvent.create(SRC, venue))
    await write_snapshot(live, *ACCOUNT)  # the periodic snapshot lands here
    opening = Reconcile(
        kind=ReconcileKind.OPENING_POSITION,
        instrument=INST,
        ours="0",
        venue="5",
        detail="held at the venue before this journal: the opening position",
        venue_quantity=D(5),
    )
    await publish(live, ReconcileEvent.create(SRC, opening))
    # (quotes go to the market-data stream, which a restart does not replay: both
    # desks are marked by hand)
    quote = Quote(instrument=INST, bid=D("103"), ask=D("103"))
    live.portfolio.apply_quote(quote)
    assert live.portfolio.positions[("paper", "main", INST)].avg_price == D("101.5")

    fresh = await restarted(new_bus)
    fresh.portfolio.apply_quote(quote)
    assert shown(fresh) == shown(live)

    # and closing it realizes the same on both
    close = (req("c9", "2", Side.SELL), fill("e9", "c9", "2", "104", Side.SELL))
    await publish(live, *close)
    await replay_stream(fresh, fresh.bus.layout.exec(*ACCOUNT))
    assert live.portfolio.positions[("paper", "main", INST)].realized_pnl == D(5)
    assert shown(fresh) == shown(live)
