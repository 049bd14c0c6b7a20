"""Reconciliation after a (re)connect, snapshots + replay, and the kill switch."""

from __future__ import annotations

import time
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TradingState,
    VenueOrder,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.order_history import read_order_history
from silvertine_tui.engine.recovery import (
    load_snapshot,
    reconcile,
    recover,
    replay_stream,
    write_snapshot,
)
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import (
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    ReconcileEvent,
    ReconcileKind,
    RiskAction,
    RiskEvent,
)
from silvertine_tui.ui.widgets.blotter import todays_orders
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue


async def make(*names: str) -> tuple[MemoryBus, TradingEngine, list[ScriptedVenue]]:
    bus = MemoryBus()
    await bus.start()
    venues = [ScriptedVenue.build(bus, name) for name in names or ("scripted",)]
    engine = TradingEngine(bus, venues, RiskConfig())
    for venue in venues:
        await venue.connect()
    await engine.load_instruments()
    return bus, engine, venues


async def sync(engine: TradingEngine) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, engine.bus.layout.exec(name, broker.account))
    await replay_stream(engine, engine.bus.layout.risk)


def order(broker: str = "scripted", qty: str = "2", price: str = "10.00") -> OrderRequest:
    return OrderRequest(
        broker=broker,
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
    )


def venue_order(cid: str, qty: str = "3") -> VenueOrder:
    return VenueOrder(
        client_order_id=cid,
        venue_order_id="v-" + cid,
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D("12.00"),
    )


async def test_venue_order_missing_from_the_journal_is_adopted() -> None:
    _, engine, (venue,) = await make()
    venue.venue_orders["ghost"] = venue_order("ghost")
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [f.kind for f in found] == [ReconcileKind.VENUE_ORDER_UNKNOWN]
    view = engine.oms.get("ghost")
    assert view is not None
    assert view.adopted
    assert view.order.status is OrderStatus.NEW
    assert [v.client_order_id for v in engine.oms.working()] == ["ghost"]
    assert venue.sent == []  # nothing was sent to the venue


def ghost_part_filled(venue: ScriptedVenue, *, filled: str, avg: str, missed_at: str) -> None:
    """An order placed elsewhere: SELL 3, `filled` of it at `avg`, the last 1 of which
    (exec x-9 at `missed_at`) came after the journal's last fill; short 1 since."""
    venue.venue_orders["ghost"] = venue_order("ghost", qty="3").model_copy(
        update={
            "status": OrderStatus.PARTIALLY_FILLED,
            "filled_qty": D(filled),
            "avg_price": D(avg),
        }
    )
    venue.venue_fills.append(
        Fill(
            exec_id="x-9",
            client_order_id="ghost",
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.SELL,
            quantity=D("1"),
            price=D(missed_at),
        )
    )
    venue.venue_positions[INSTRUMENT.key] = D("-1")


async def test_an_adopted_order_takes_the_fills_made_while_away() -> None:
    """An order placed elsewhere, part-filled before the journal's last fill and again
    after it: adopted as it stood before the missed fill, which it then takes as its
    own (not an unknown order's fill that only the position takes)."""
    _, engine, (venue,) = await make()
    ghost_part_filled(venue, filled="2", avg="12.50", missed_at="13.00")
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [f.kind for f in found] == [
        ReconcileKind.VENUE_ORDER_UNKNOWN,
        ReconcileKind.MISSED_FILL,
    ]
    assert found[0].venue == "PARTIALLY_FILLED 2/3"  # what the venue said, in the record
    view = engine.oms.get("ghost")
    assert view is not None
    assert view.adopted
    assert view.order.exec_ids == {"x-9"}
    assert view.order.filled_qty == D("2")
    assert view.order.avg_price == D("12.50")
    assert view.order.status is OrderStatus.PARTIALLY_FILLED
    assert engine.anomalies.counts.get("unknown_order", 0) == 0
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("-1")
    # a second reconcile finds nothing new
    assert await reconcile(engine, venue, await venue.reconcile()) == []


async def test_an_adopted_order_all_of_whose_fills_were_missed_starts_unfilled() -> None:
    _, engine, (venue,) = await make()
    ghost_part_filled(venue, filled="1", avg="12", missed_at="12.00")
    await reconcile(engine, venue, await venue.reconcile())
    view = engine.oms.get("ghost")
    assert view is not None
    adopted = view.history[0]
    assert isinstance(adopted, ReconcileEvent)
    assert adopted.payload.venue_order is not None
    assert adopted.payload.venue_order.filled_qty == 0
    assert adopted.payload.venue_order.status is OrderStatus.NEW
    assert adopted.payload.venue_order.avg_price is None
    assert (view.order.status, view.order.filled_qty) == (OrderStatus.PARTIALLY_FILLED, D("1"))
    assert view.order.avg_price == D("12")
    assert engine.anomalies.counts.get("unknown_order", 0) == 0


async def test_journal_order_unknown_to_the_venue_is_closed_not_resent() -> None:
    bus, engine, (venue,) = await make()
    cid = await engine.submit(order())
    await sync(engine)
    assert engine.oms.get(cid).order.status is OrderStatus.NEW  # type: ignore[union-attr]
    venue.venue_orders.clear()  # cancelled behind our back (another terminal, the venue)
    # and one we journaled as PENDING_NEW but crashed before sending
    lost = order()
    await bus.publish(OrderRequestEvent.create("scripted/main", lost))
    await bus.publish(
        OrderUpdateEvent.create(
            "scripted/main",
            OrderUpdate(client_order_id=lost.client_order_id, status=OrderStatus.PENDING_NEW),
        )
    )
    await sync(engine)
    found = await reconcile(engine, venue, await venue.reconcile())
    assert sorted(f.client_order_id for f in found) == sorted([cid, lost.client_order_id])
    assert {f.kind for f in found} == {ReconcileKind.LOCAL_ORDER_UNKNOWN}
    closed = engine.oms.get(cid)
    never = engine.oms.get(lost.client_order_id)
    assert closed is not None
    assert never is not None
    assert closed.order.status is OrderStatus.CANCELED
    assert never.order.status is OrderStatus.REJECTED
    # (Said as what the reconcile found, whether it followed a restart or a reconnect.)
    assert never.order.reason == (
        "not found at the venue when the desk read its orders again: it never reached it"
    )
    assert venue.sent == [cid]  # the lost order was NOT sent again


async def test_an_order_moved_at_the_venue_while_away_takes_the_venues_terms() -> None:
    """Moved in place at the venue (another terminal, TWS) while the desk was away:
    same status, same venue id, another price and quantity. The journal takes them."""
    _, engine, (venue,) = await make()
    cid = await engine.submit(order(qty="2", price="10.00"))
    await sync(engine)
    moved = venue.venue_orders[cid].model_copy(
        update={"limit_price": D("10.50"), "quantity": D("3")}
    )
    venue.venue_orders[cid] = moved
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [f.kind for f in found] == [ReconcileKind.TERMS_MISMATCH]
    assert "@ 10.00" in found[0].ours
    assert "@ 10.50" in found[0].venue
    view = engine.oms.get(cid)
    assert view is not None
    assert (view.order.status, view.order.limit_price, view.order.quantity) == (
        OrderStatus.NEW,
        D("10.50"),
        D("3"),
    )
    assert view.order.venue_order_id == moved.venue_order_id
    assert await reconcile(engine, venue, await venue.reconcile()) == []


async def test_a_replace_whose_answer_never_came_ends_at_the_venues_terms() -> None:
    """The journal stopped at PENDING_REPLACE at the old price (the desk went down before
    the answer); the venue works the replacement, under a new venue id, at the new price.
    Reconcile leaves the order NEW at the new price, so a later cancel or modify starts
    from what the venue holds."""
    bus, engine, (venue,) = await make()
    cid = await engine.submit(order(qty="2", price="10.00"))
    await bus.publish(
        OrderUpdateEvent.create(
            "scripted/main",
            OrderUpdate(client_order_id=cid, status=OrderStatus.PENDING_REPLACE),
        )
    )
    await sync(engine)
    venue.venue_orders[cid] = venue.venue_orders[cid].model_copy(
        update={"limit_price": D("9.80"), "venue_order_id": "replacement"}
    )
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [f.kind for f in found] == [ReconcileKind.STATUS_MISMATCH]
    view = engine.oms.get(cid)
    assert view is not None
    assert (view.order.status, view.order.limit_price, view.order.venue_order_id) == (
        OrderStatus.NEW,
        D("9.80"),
        "replacement",
    )
    assert await reconcile(engine, venue, await venue.reconcile()) == []


def filled_while_away(venue: ScriptedVenue, cid: str) -> None:
    """The venue filled our order of 2 while we were away (its report never came)."""
    venue.venue_orders.pop(cid)
    venue.venue_fills.append(
        Fill(
            exec_id="x-1",
            client_order_id=cid,
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            quantity=D("2"),
            price=D("10.00"),
        )
    )
    venue.venue_positions[INSTRUMENT.key] = D("2")


async def test_missed_fill_is_the_venues_fill_and_moves_the_position() -> None:
    _, engine, (venue,) = await make()
    cid = await engine.submit(order(qty="2"))
    await sync(engine)
    filled_while_away(venue, cid)
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [f.kind for f in found] == [ReconcileKind.MISSED_FILL]
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is OrderStatus.FILLED
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("2")
    # a second reconcile finds nothing new: the fill is not applied twice
    assert await reconcile(engine, venue, await venue.reconcile()) == []
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("2")


async def test_position_mismatch_adopts_the_venue_without_a_fill() -> None:
    _, engine, (venue,) = await make()
    cid = await engine.submit(order(qty="2"))
    await sync(engine)
    filled_while_away(venue, cid)
    await reconcile(engine, venue, await venue.reconcile())
    venue.venue_positions[INSTRUMENT.key] = D("5")  # 3 more, and no fill says why
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [(f.kind, f.ours, f.venue) for f in found] == [
        (ReconcileKind.POSITION_MISMATCH, "2", "5")
    ]
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("5")
    assert engine.anomalies.counts["position_mismatch"] == 1
    assert [f.exec_id for f in await journal_fills(engine)] == ["x-1"]  # none made up


async def test_a_holding_from_before_the_journal_is_the_opening_position() -> None:
    """A first connect to an account that already holds an asset: the holding is where
    the journal starts, not a disagreement with fills we never had."""
    _, engine, (venue,) = await make()
    venue.venue_positions[INSTRUMENT.key] = D("5")
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [(f.kind, f.ours, f.venue) for f in found] == [
        (ReconcileKind.OPENING_POSITION, "0", "5")
    ]
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("5")
    assert sum(engine.anomalies.counts.values()) == 0
    assert await journal_fills(engine) == []
    # From then on the holding is ours: the venue saying otherwise is a mismatch.
    venue.venue_positions[INSTRUMENT.key] = D("4")
    found = await reconcile(engine, venue, await venue.reconcile())
    assert [f.kind for f in found] == [ReconcileKind.POSITION_MISMATCH]
    assert engine.anomalies.counts["position_mismatch"] == 1


async def journal_fills(engine: TradingEngine) -> list[Fill]:
    journal = await engine.bus.read(engine.bus.layout.exec("scripted", "main"))
    return [e.event.payload for e in journal if isinstance(e.event, FillEvent)]


async def test_snapshot_plus_replay_equals_full_replay() -> None:
    bus, engine, (venue,) = await make()
    first = await engine.submit(order(qty="1"))
    await sync(engine)
    await write_snapshot(engine, "scripted", "main")
    second = await engine.submit(order(qty="4", price="11.00"))
    await engine.cancel(first)
    await sync(engine)

    fresh = TradingEngine(bus, [venue], RiskConfig())
    replayed = await recover(fresh, [("scripted", "main")])
    # only the events after the snapshot were replayed
    assert (
        0
        < replayed[bus.layout.exec("scripted", "main")]
        < len(await bus.read(bus.layout.exec("scripted", "main")))
    )
    for cid in (first, second):
        a, b = engine.oms.get(cid), fresh.oms.get(cid)
        assert a is not None
        assert b is not None
        assert a.order.model_dump() == b.order.model_dump()


async def test_a_restart_from_a_snapshot_knows_when_and_where_each_order_lived() -> None:
    """The snapshot keeps each order's first-event time, journal span and finish time:
    today's finished orders stay in the desk's "today" after a restart, an order's
    history is read back over its own span (not the whole journal), and the window
    holds finished orders by when they finished."""
    bus, engine, (venue,) = await make()
    done = await engine.submit(order(qty="1"))
    await sync(engine)
    await engine.cancel(done)
    await sync(engine)
    working = await engine.submit(order(qty="3"))
    await sync(engine)
    await write_snapshot(engine, "scripted", "main")

    fresh = TradingEngine(bus, [venue], RiskConfig())
    await recover(fresh, [("scripted", "main")])
    for cid in (done, working):
        live, loaded = engine.oms.get(cid), fresh.oms.get(cid)
        assert live is not None
        assert loaded is not None
        assert loaded.created_ns > 0
        assert loaded.first_entry not in ("", "-")
        assert (loaded.created_ns, loaded.first_entry, loaded.last_entry) == (
            live.created_ns,
            live.first_entry,
            live.last_entry,
        )
    assert fresh.oms.finished_ns(done) == engine.oms.finished_ns(done) > 0
    assert fresh.oms.finished_ns(working) == 0

    now_s = time.time()
    assert [v.client_order_id for v in todays_orders(fresh.oms.orders.values(), now_s)] == [
        done,
        working,
    ]

    span = fresh.projection.history_span(done)
    assert span is not None
    assert span.known
    read: list[int] = []
    events = await read_order_history(bus, done, span, progress=lambda n, _: read.append(n))
    live_view = engine.oms.get(done)
    assert live_view is not None
    assert [e.event_id for e in events] == [e.event_id for e in live_view.history]
    journal = await bus.read(bus.layout.exec("scripted", "main"))
    assert read[-1] < len(journal)  # the working order's entries were not read

    # A snapshot written before spans were kept still loads: no time, the whole journal.
    snapshot = await latest_snapshot(bus, "scripted", "main")
    assert snapshot is not None
    older = TradingEngine(bus, [venue], RiskConfig())
    load_snapshot(older, snapshot.model_copy(update={"spans": ()}))
    loaded = older.oms.get(done)
    assert loaded is not None
    assert (loaded.created_ns, loaded.first_entry) == (0, "-")
    assert loaded.order.model_dump() == engine.oms.get(done).order.model_dump()  # type: ignore[union-attr]


async def test_kill_switch_cancels_on_every_broker_and_survives_restart() -> None:
    bus, engine, venues = await make("alpha", "beta")
    for venue in venues:
        await engine.submit(order(broker=venue.name))
        await engine.submit(order(broker=venue.name, price="9.00"))
    await sync(engine)
    assert len(engine.oms.working()) == 4

    report = await engine.kill("test drill")
    await sync(engine)
    assert len(report.cancelled) == 4
    assert report.ok
    assert all(not v.venue_orders for v in venues)
    assert engine.oms.working() == []
    assert engine.gate.state is TradingState.HALTED
    risk = [e.event for e in await bus.read(bus.layout.risk)]
    assert isinstance(risk[-1], RiskEvent)
    assert risk[-1].payload.action is RiskAction.KILL

    with pytest.raises(RiskRejected, match="HALTED"):
        await engine.submit(order(broker="alpha"))
    assert sum(len(v.sent) for v in venues) == 4  # nothing more was sent

    restarted = TradingEngine(bus, venues, RiskConfig())
    await recover(restarted, [(v.name, v.account) for v in venues])
    assert restarted.gate.state is TradingState.HALTED

    # The restarted engine drives the brokers now (their send guard is its own):
    # it resumes, and sends again.
    await restarted.resume()
    assert restarted.gate.state is TradingState.ACTIVE
    await restarted.submit(order(broker="beta"))
    assert len(venues[1].sent) == 3
