"""The engine against a venue that changes order ids, charges fees in the asset, drops
and comes back: reconcile from the last journaled fill, on every reconnect (issue 11)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.brokers import BrokerRegistry
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import (
    Capabilities,
    ConnectionState,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    VenueOrder,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import (
    build_snapshot,
    load_snapshot,
    reconcile_broker,
    replay_stream,
)
from silvertine_tui.engine.session import Session
from silvertine_tui.events import FillEvent, HealthEvent, OrderUpdateEvent, ReconcileKind
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

SPOT = Capabilities(short_selling=False)


async def make(*, spot: bool = False) -> tuple[MemoryBus, TradingEngine, ScriptedVenue]:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    if spot:
        venue.capabilities = SPOT
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


async def sync(engine: TradingEngine) -> None:
    await replay_stream(engine, engine.bus.layout.exec("scripted", "main"))


def buy(qty: str = "3", price: str = "10.00") -> OrderRequest:
    return OrderRequest(
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
    )


def venue_fill(
    n: int, cid: str, qty: str, *, fee: str = "0", currency: str = "USD", ts: int = 0
) -> Fill:
    return Fill(
        exec_id=f"t{n}",
        client_order_id=cid,
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        quantity=D(qty),
        price=D("10.00"),
        fee=D(fee),
        fee_currency=currency,
        fee_value=D(fee) * 10 if currency == "XYZ" else None,
        venue_ts_ns=ts or None,
    )


async def filled_with_base_fee(bus: MemoryBus, engine: TradingEngine, venue: ScriptedVenue) -> str:
    """Buy 3 XYZ; the venue charges 0.003 XYZ, so the asset balance is 2.997."""
    cid = await engine.submit(buy("3"))
    made = venue_fill(1, cid, "3", fee="0.003", currency="XYZ", ts=1_000)
    venue.venue_orders.pop(cid)
    venue.venue_fills.append(made)
    venue.venue_positions[INSTRUMENT.key] = D("2.997")
    await bus.publish(FillEvent.create("scripted/main", made))
    await sync(engine)
    return cid


# -- fees in the base asset ------------------------------------------------------------


async def test_a_base_asset_fee_is_no_position_mismatch_on_reconcile() -> None:
    bus, engine, venue = await make(spot=True)
    cid = await filled_with_base_fee(bus, engine, venue)
    assert engine.position("scripted", "main", INSTRUMENT.key) == D("2.997")
    assert engine.oms.orders[cid].order.fees == {"XYZ": D("0.003")}
    found = await reconcile_broker(engine, venue)
    assert [f.kind for f in found] == []
    assert engine.position("scripted", "main", INSTRUMENT.key) == D("2.997")


async def test_fees_in_two_currencies_survive_a_snapshot() -> None:
    bus, engine, _ = await make(spot=True)
    cid = await engine.submit(buy("4"))
    first = venue_fill(1, cid, "3", fee="0.003", currency="XYZ", ts=1_000)
    more = venue_fill(2, cid, "1", fee="0.25", currency="USD", ts=2_000)
    for made in (first, more):
        await bus.publish(FillEvent.create("scripted/main", made))
    await sync(engine)
    snapshot = build_snapshot(engine, "scripted", "main")
    assert snapshot is not None

    fresh_bus = MemoryBus()
    await fresh_bus.start()
    again = ScriptedVenue.build(fresh_bus)
    again.capabilities = SPOT
    restored = TradingEngine(fresh_bus, [again], RiskConfig())
    load_snapshot(restored, snapshot)
    before = engine.portfolio.positions[("scripted", "main", INSTRUMENT.key)]
    after = restored.portfolio.positions[("scripted", "main", INSTRUMENT.key)]
    assert restored.oms.orders[cid].order.fees == {"XYZ": D("0.003"), "USD": D("0.25")}
    assert after.quantity == before.quantity == D("3.997")
    assert after.fees == before.fees
    assert after.realized_pnl == before.realized_pnl == D("-0.28")  # 0.25 + 0.003 * 10
    assert restored.portfolio.last_fills[("scripted", "main")][INSTRUMENT.key] == more


# -- a venue id that changes ------------------------------------------------------------


async def test_the_order_takes_the_new_venue_id_and_a_late_old_report_changes_nothing() -> None:
    bus, engine, venue = await make()
    cid = await engine.submit(buy("3"))
    await sync(engine)
    order = engine.oms.orders[cid].order
    assert order.venue_order_id == "1"
    # Cancel-replace: the venue's new order carries the new terms and a new id.
    await venue.publish_update(OrderUpdate(client_order_id=cid, status=OrderStatus.PENDING_REPLACE))
    await venue.publish_update(
        OrderUpdate(
            client_order_id=cid,
            status=OrderStatus.NEW,
            venue_order_id="77",
            quantity=D("2"),
        )
    )
    await sync(engine)
    assert (order.venue_order_id, order.quantity, order.status) == ("77", D("2"), OrderStatus.NEW)
    # Late reports of the dead order (it was cancelled) must not bring its id back,
    # nor end the live one.
    for late in (OrderStatus.NEW, OrderStatus.CANCELED):
        await bus.publish(
            OrderUpdateEvent.create(
                "scripted/main",
                OrderUpdate(client_order_id=cid, status=late, venue_order_id="1"),
            )
        )
    await sync(engine)
    assert (order.venue_order_id, order.quantity, order.status) == ("77", D("2"), OrderStatus.NEW)


# -- reconcile from the last fill, on every reconnect ------------------------------------


def scripted_session(bus: MemoryBus) -> Session:
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", ScriptedVenue)
    config = ExternalBrokerConfig(name="scripted", type="scripted", account="main")
    return Session(Settings(brokers=[config]), bus=bus, registry=registry)


async def test_reconcile_asks_from_the_last_journaled_fill() -> None:
    bus, engine, venue = await make(spot=True)
    cid = await filled_with_base_fee(bus, engine, venue)
    venue.venue_fills.append(venue_fill(2, cid, "1", ts=2_000))  # made while we were away
    found = await reconcile_broker(engine, venue)
    assert venue.reconcile_asks[-1] == {INSTRUMENT.key: venue.venue_fills[0]}
    assert [f.kind for f in found] == [ReconcileKind.MISSED_FILL, ReconcileKind.POSITION_MISMATCH]
    assert engine.portfolio.last_fills[("scripted", "main")][INSTRUMENT.key].exec_id == "t2"
    await reconcile_broker(engine, venue)
    assert venue.reconcile_asks[-1][INSTRUMENT.key].exec_id == "t2"


async def test_a_broker_that_cannot_connect_leaves_the_session_running() -> None:
    bus = MemoryBus()
    session = scripted_session(bus)
    venue = session.brokers[0]
    assert isinstance(venue, ScriptedVenue)
    venue.connect_error = "venue unreachable: connection refused"
    await session.start()
    try:
        assert session.ready
        assert venue.state is ConnectionState.DISCONNECTED
        message = await broker_health_message(bus)
        assert "connect failed: venue unreachable: connection refused" in message
        assert venue.reconcile_asks == []
        assert INSTRUMENT.key in session.engine.instruments["scripted"]
        # The venue comes back by itself: the session reconciles against it.
        venue.venue_orders["ghost"] = ghost_order()
        await venue.come_back()
        assert len(venue.reconcile_asks) == 1
        assert session.engine.oms.get("ghost") is not None
        assert [f.kind for f in session.reconcile_findings] == [ReconcileKind.VENUE_ORDER_UNKNOWN]
    finally:
        await session.close()


async def test_every_reconnect_reconciles_from_the_last_fill() -> None:
    bus = MemoryBus()
    session = scripted_session(bus)
    venue = session.brokers[0]
    assert isinstance(venue, ScriptedVenue)
    await session.start()
    try:
        assert len(venue.reconcile_asks) == 1
        engine = session.engine
        cid = await engine.submit(buy("2"))
        made = venue_fill(1, cid, "2", ts=1_000)
        venue.venue_fills.append(made)
        venue.venue_orders.pop(cid)
        venue.venue_positions[INSTRUMENT.key] = D("3")
        await bus.publish(FillEvent.create("scripted/main", made))
        await sync(engine)
        await venue.set_state(ConnectionState.DISCONNECTED, "dropped")
        venue.venue_fills.append(venue_fill(2, cid, "1", ts=2_000))
        await venue.come_back()
        assert venue.reconcile_asks[-1] == {INSTRUMENT.key: made}
        assert engine.position("scripted", "main", INSTRUMENT.key) == D("3")
        kinds = [f.kind for f in session.reconcile_findings]
        assert kinds == [ReconcileKind.MISSED_FILL]
    finally:
        await session.close()


def ghost_order() -> VenueOrder:
    return VenueOrder(
        client_order_id="ghost",
        venue_order_id="g1",
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D("12.00"),
    )


async def broker_health_message(bus: MemoryBus) -> str:
    """What the health pane reads last for the scripted broker."""
    entries = await bus.read(bus.layout.health)
    messages = [
        e.event.payload.message
        for e in entries
        if isinstance(e.event, HealthEvent) and e.event.payload.component.startswith("broker:")
    ]
    return messages[-1]


async def test_no_snapshot_while_asset_fees_wait_for_the_instruments() -> None:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    venue.capabilities = SPOT
    engine = TradingEngine(bus, [venue], RiskConfig())
    made = venue_fill(1, "c1", "3", fee="0.003", currency="XYZ", ts=1_000)
    await bus.publish(FillEvent.create("scripted/main", made))
    await sync(engine)  # replayed before the broker's instruments are known
    assert engine.position("scripted", "main", INSTRUMENT.key) == D("3")
    assert build_snapshot(engine, "scripted", "main") is None
    await engine.load_instruments()
    assert engine.position("scripted", "main", INSTRUMENT.key) == D("2.997")
    snapshot = build_snapshot(engine, "scripted", "main")
    assert snapshot is not None
    assert [p.quantity for p in snapshot.positions] == [D("2.997")]


async def test_a_broker_that_keeps_retrying_is_reconciled_when_it_is_back() -> None:
    bus = MemoryBus()
    session = scripted_session(bus)
    venue = session.brokers[0]
    assert isinstance(venue, ScriptedVenue)
    venue.connect_error = "venue unreachable: retrying in 2s"
    venue.connect_raises = False
    await session.start()
    try:
        assert session.ready
        assert venue.state is ConnectionState.DISCONNECTED
        assert venue.reconcile_asks == []  # nothing asked of a venue that is not there
        assert INSTRUMENT.key in session.engine.instruments["scripted"]
        await venue.come_back()
        await venue.come_back()  # every later reconnect reconciles again
        assert len(venue.reconcile_asks) == 2
        assert session.reconcile_findings == []
    finally:
        await session.close()


async def test_bus_data_loss_reconciles_from_the_last_fill_too() -> None:
    bus = MemoryBus()
    session = scripted_session(bus)
    venue = session.brokers[0]
    assert isinstance(venue, ScriptedVenue)
    await session.start()
    try:
        engine = session.engine
        cid = await engine.submit(buy("2"))
        made = venue_fill(1, cid, "2", ts=1_000)
        venue.venue_fills.append(made)
        venue.venue_orders.pop(cid)
        venue.venue_positions[INSTRUMENT.key] = D("2")
        await bus.publish(FillEvent.create("scripted/main", made))
        await sync(engine)
        await session._on_data_loss("Redis restarted without its data")
        assert venue.reconcile_asks[-1] == {INSTRUMENT.key: made}
        assert session.reconcile_findings == []
    finally:
        await session.close()
