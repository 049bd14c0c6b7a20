"""An overfill, then a reconcile that finds the order still open at the venue (a chaos
drill on the Binance fake, the same on IB).

BUY 0.01 BTCUSDT @ 63,900 rested; the venue sent one TRADE report for it with last and
cumulative quantity 0.05, status FILLED. The overfill anomaly was raised, but the order
read FILLED with Filled "-" and Avg "-" (the Log said "filled 0.05"). After a reconnect
the reconcile found `STATUS_MISMATCH ours=FILLED venue=NEW` and journaled the venue's
NEW, which the OMS dropped as a report after the end (`TERMINAL`): the Orders pane kept
FILLED, left the order out of the working list, and `c` said "order ... is FILLED:
nothing to cancel", while the venue held it NEW with its funds locked.

Now:
- the order keeps the fills it refused as an overfill (`Order.overfill`): the desk
  shows every fill the venue reported, flagged, and a FILLED order whose fills came
  past its size owes none (it counted the whole quantity as still to come);
- the reconcile asks the venue again about an order it lists open that ended here,
  and when it still holds it open re-opens it as an explicit, journaled correction
  (`Reconcile.venue_order` on a STATUS_MISMATCH, taken by the OMS: `Order.reopen`),
  said as the `reopened` anomaly: it is working again on the desk, `c` and the kill
  switch cancel it. A listing older than the end (the order filled between the
  listing and the comparison) is not taken for one.

The engine's tests run on the scripted venue; the drill itself on the Binance fake,
where the real python-binance client runs.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import OrderFinished, TradingEngine
from silvertine_tui.engine.oms import OMS
from silvertine_tui.engine.recovery import (
    catch_up,
    load_snapshot,
    reconcile,
    reconcile_broker,
    recover,
    replay_stream,
    write_snapshot,
)
from silvertine_tui.engine.snapshots import latest_snapshot
from silvertine_tui.events import (
    FillEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    ReconcileEvent,
    ReconcileKind,
    SnapshotEvent,
)
from silvertine_tui.events.codec import encode
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.support.binance_broker import binance_session
from tests.support.binance_stream import journaled, o1, stream_back, stream_down

SRC = "scripted/main"
S = OrderStatus


async def make() -> tuple[MemoryBus, TradingEngine, ScriptedVenue]:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


def buy(qty: str = "2") -> OrderRequest:
    return OrderRequest(
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D("10.00"),
    )


def fill(cid: str, exec_id: str, qty: str, price: str = "10.00") -> FillEvent:
    return FillEvent.create(
        SRC,
        Fill(
            exec_id=exec_id,
            client_order_id=cid,
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            quantity=D(qty),
            price=D(price),
        ),
    )


async def overfilled(bus: MemoryBus, engine: TradingEngine, cid: str) -> None:
    """The venue's one report of the order (2 ordered): a fill of 5 at 10.00, FILLED,
    as an adapter journals it (the fill, then the status with the cumulative 5). The
    scripted venue still holds the order NEW, as the Binance fake did."""
    await bus.publish(fill(cid, "x-1", "5"))
    await bus.publish(
        OrderUpdateEvent.create(
            SRC,
            OrderUpdate(
                client_order_id=cid,
                status=S.FILLED,
                filled_qty=D(5),
                avg_price=D("10.00"),
                reason="TRADE",
            ),
        )
    )
    await catch_up(engine, SRC)


async def placed_and_overfilled() -> tuple[MemoryBus, TradingEngine, ScriptedVenue, str]:
    bus, engine, venue = await make()
    cid = await engine.submit(buy("2"))
    await catch_up(engine, SRC)
    await overfilled(bus, engine, cid)
    return bus, engine, venue, cid


# -- M5: what filled, as the venue reported it ---------------------------------------


async def test_an_overfilled_order_holds_every_fill_the_venue_reported_flagged() -> None:
    """Filled "-" and Avg "-" while the Log said "filled 5": the order now keeps the fill
    it refused, beside what it counts (which never passes the quantity), and the
    position and the order agree on what the venue reported."""
    _, engine, _, cid = await placed_and_overfilled()
    view = engine.oms.get(cid)
    assert view is not None
    order = view.order
    assert order.status is S.FILLED
    assert order.filled_qty == 0  # the order's own count never passes its quantity
    assert order.overfill is not None
    assert (order.reported_qty, order.reported_avg) == (D(5), D("10.00"))
    assert order.overfill.exec_ids == {"x-1"}
    assert engine.position("scripted", "main", INSTRUMENT.key) == D(5)
    assert engine.anomalies.counts[AnomalyKind.OVERFILL] == 1


async def test_a_filled_order_whose_fills_came_past_its_size_owes_none() -> None:
    """FILLED with the fills past its size refused, the order counted its whole quantity
    as fills still owed: the gate and the ticket's preview held 2 more to buy coming,
    with the position already holding 5 (until a reconcile wrote it off)."""
    _, engine, _, cid = await placed_and_overfilled()
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.owed_qty == 0
    projection = engine.projection
    assert projection.working_quantity("scripted", "main", INSTRUMENT.key, Side.BUY) == 0
    assert projection.exposed("scripted", "main", INSTRUMENT.key, Side.BUY) == []


async def test_a_repeat_of_the_overfilling_fill_is_not_a_second_overfill() -> None:
    """The same execution reported again (a user stream's duplicate, a catch-up's copy
    under another event id): it was counted and toasted as a second overfill."""
    bus, engine, _, cid = await placed_and_overfilled()
    await bus.publish(fill(cid, "x-1", "5"))
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    assert engine.anomalies.counts[AnomalyKind.OVERFILL] == 1
    assert view.order.reported_qty == D(5)
    assert engine.position("scripted", "main", INSTRUMENT.key) == D(5)


async def test_a_fill_within_and_a_fill_past_the_size_read_as_their_sum() -> None:
    """3 of 4 filled, then a fill of 2 the order refuses (5 > 4): the order counts 3 at
    10.00, the desk shows 5 at the average of both fills, flagged."""
    bus, engine, _ = await make()
    cid = await engine.submit(buy("4"))
    await catch_up(engine, SRC)
    await bus.publish(fill(cid, "x-1", "3", "10.00"))
    await bus.publish(fill(cid, "x-2", "2", "10.50"))
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    order = view.order
    assert (order.status, order.filled_qty, order.avg_price) == (
        S.PARTIALLY_FILLED,
        D(3),
        D("10.00"),
    )
    assert (order.reported_qty, order.reported_avg) == (D(5), D("10.20"))


# -- the reconcile: ended here, open at the venue ------------------------------------


async def test_the_reconcile_reopens_an_order_the_venue_still_holds_open() -> None:
    """The drill: FILLED here on the overfilling report, NEW at the venue. The reconcile
    journals the venue's word as a correction the OMS takes: the order works again,
    listed, counted working, said (`reopened`); its fills stay as they were."""
    bus, engine, venue, cid = await placed_and_overfilled()
    venue.venue_positions[INSTRUMENT.key] = D(5)  # (a position taken is another finding)
    found = await reconcile_broker(engine, venue)

    [mismatch] = [r for r in found if r.kind is ReconcileKind.STATUS_MISMATCH]
    assert mismatch.client_order_id == cid
    assert mismatch.ours == "FILLED 0/2 (5 reported: an overfill)"
    assert mismatch.venue == "NEW 0/2"
    assert mismatch.venue_order is not None
    assert "re-opened" in mismatch.detail
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW
    assert view.order.reason == mismatch.detail
    assert (view.order.filled_qty, view.order.reported_qty) == (0, D(5))
    assert [v.client_order_id for v in engine.oms.working()] == [cid]
    assert engine.projection.open_orders("scripted") == 1
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1
    assert cid in engine.anomalies.last
    assert "re-opened" in engine.anomalies.last
    # The journal says it, as the reconcile's own event (no report after the end).
    events = [e.event for e in await bus.read(bus.layout.exec("scripted", "main"))]
    taken = [
        e
        for e in events
        if isinstance(e, ReconcileEvent) and e.payload.kind is ReconcileKind.STATUS_MISMATCH
    ]
    assert [e.payload.venue_order for e in taken] == [mismatch.venue_order]
    assert not any(
        isinstance(e, OrderUpdateEvent) and e.payload.reason.startswith("status from the venue")
        for e in events
    )
    # Once: the next reconcile finds the two agree.
    again = await reconcile_broker(engine, venue)
    assert [r.kind for r in again if r.client_order_id == cid] == []
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1


async def test_c_cancels_the_reopened_order_at_the_venue() -> None:
    """`c` said "order ... is FILLED: nothing to cancel" and sent nothing. Re-opened,
    the cancel goes to the venue and the order ends CANCELED."""
    _, engine, venue, cid = await placed_and_overfilled()
    with pytest.raises(OrderFinished):
        await engine.cancel(cid)  # before the reconcile: FILLED here
    await reconcile_broker(engine, venue)
    await engine.cancel(cid)
    await catch_up(engine, SRC)
    assert cid not in venue.venue_orders
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.CANCELED
    assert engine.oms.working() == []
    assert engine.oms.finished_ns(cid) > 0  # back in the window of finished orders


async def test_the_kill_switch_cancels_the_reopened_order_and_the_desk_reads_it() -> None:
    """The kill switch's venue-wide listing reached the order even while it read FILLED
    here (checked below, before the reconcile), but the desk kept FILLED. Re-opened, it
    is one of the desk's working orders: cancelled, and CANCELED on the desk."""
    _, engine, venue, cid = await placed_and_overfilled()
    await reconcile_broker(engine, venue)
    report = await engine.kill("drill")
    await catch_up(engine, SRC)
    assert report.ok, report.summary()
    assert cid in report.cancels.cancelled
    assert venue.venue_orders == {}
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.CANCELED


async def test_the_kill_switch_reaches_an_order_the_desk_holds_ended() -> None:
    """The check the drill asked for: with no reconcile yet, the order FILLED here and
    NEW at the venue, the kill switch's listing of the venue's open orders cancels it
    there all the same."""
    _, engine, venue, cid = await placed_and_overfilled()
    report = await engine.kill("drill")
    assert cid in report.cancels.cancelled
    assert venue.venue_orders == {}


async def test_a_listing_older_than_the_end_reopens_nothing() -> None:
    """The venue listed the order open, then filled it, and its fill and FILLED reached
    the journal before the comparison: asked again, the venue says it ended. Nothing
    differs and nothing is said (before, a STATUS_MISMATCH whose NEW was dropped)."""
    bus, engine, venue = await make()
    cid = await engine.submit(buy("2"))
    await catch_up(engine, SRC)
    venue.venue_positions[INSTRUMENT.key] = D(2)
    report = await venue.reconcile()  # lists it NEW
    del venue.venue_orders[cid]  # ... then it filled at the venue
    await bus.publish(fill(cid, "x-1", "2"))
    await bus.publish(
        OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=S.FILLED))
    )
    found = await reconcile(engine, venue, report)
    assert found == []
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.FILLED
    assert engine.anomalies.total == 0, engine.anomalies.last


async def test_a_venue_that_cannot_be_asked_again_has_its_listing_taken() -> None:
    """The venue lists the order open and does not answer the question again: its
    listing is taken (an order it may work is shown and can be cancelled) and the
    reconcile says it was not asked again."""
    _, engine, venue, cid = await placed_and_overfilled()

    async def no_answer(client_order_id: str) -> None:
        raise TimeoutError("no answer in 1 s")

    venue.query_order = no_answer  # type: ignore[method-assign]
    found = await reconcile_broker(engine, venue)
    [mismatch] = [r for r in found if r.kind is ReconcileKind.STATUS_MISMATCH]
    assert "did not answer: TimeoutError: no answer in 1 s" in mismatch.detail
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW


# -- the journal rebuilds it ------------------------------------------------------------


async def test_a_replay_and_a_snapshot_rebuild_the_reopened_overfilled_order() -> None:
    """Replaying the journal (a restart, a watching desk) gives the same order: re-opened
    and holding its overfill; so does a snapshot written after it."""
    bus, engine, venue, cid = await placed_and_overfilled()
    await reconcile_broker(engine, venue)
    view = engine.oms.get(cid)
    assert view is not None
    live = view.order.model_dump()

    fresh = TradingEngine(bus, [ScriptedVenue.build(bus)], RiskConfig())
    await recover(fresh, [("scripted", "main")])
    again = fresh.oms.get(cid)
    assert again is not None
    assert again.order.model_dump() == live
    assert [v.client_order_id for v in fresh.oms.working()] == [cid]

    assert await write_snapshot(engine, "scripted", "main") is not None
    snapshot = await latest_snapshot(bus, "scripted", "main")
    assert snapshot is not None
    restored = TradingEngine(bus, [ScriptedVenue.build(bus)], RiskConfig())
    load_snapshot(restored, snapshot)
    await replay_stream(restored, bus.layout.exec("scripted", "main"))
    held = restored.oms.get(cid)
    assert held is not None
    assert held.order.model_dump() == live
    assert held.order.overfill is not None
    assert held.order.reported_qty == D(5)


async def test_a_snapshot_of_orders_that_never_overfilled_leaves_the_field_out() -> None:
    """`Order.overfill` None is left out on the wire: a snapshot of orders that never
    overfilled reads in a build that does not know the field."""
    bus, engine, _ = await make()
    await engine.submit(buy("2"))
    await catch_up(engine, SRC)
    await write_snapshot(engine, "scripted", "main")
    [entry] = await bus.read(bus.layout.snap("scripted", "main"))
    assert isinstance(entry.event, SnapshotEvent)
    assert len(entry.event.payload.orders) == 1
    assert b"overfill" not in encode(entry.event)[b"p"]


# -- the invariant -------------------------------------------------------------------

reports = st.lists(
    st.one_of(
        st.tuples(
            st.just("fill"),
            st.sampled_from(["e1", "e2", "e3", "e4"]),
            st.integers(1, 6),
            st.integers(90, 110),
        ),
        st.tuples(
            st.just("status"),
            st.sampled_from([S.NEW, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED]),
            st.just(0),
            st.just(0),
        ),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8), reports)
def test_the_fills_reported_are_the_fills_counted_and_the_overfill(
    ordered: int, steps: list[tuple[object, ...]]
) -> None:
    """Whatever the venue reports, each execution once: what the order counts never
    passes its quantity, and what it counts and what it holds as overfill make every
    execution reported, at their average; a FILLED order owes only what no fill
    reported."""
    oms = OMS()
    request = buy(str(ordered))
    oms.apply(OrderRequestEvent.create(SRC, request))
    cid = request.client_order_id
    executions: dict[str, tuple[D, D]] = {}
    for kind, a, qty, price in steps:
        if kind == "fill":
            assert isinstance(a, str)
            assert isinstance(qty, int)
            assert isinstance(price, int)
            amount = (D(qty), D(price) / 10)
            oms.apply(fill(cid, a, str(amount[0]), str(amount[1])))
            executions.setdefault(a, amount)
        else:
            assert isinstance(a, OrderStatus)
            oms.apply(OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=a)))
        view = oms.get(cid)
        assert view is not None
        order = view.order
        assert order.filled_qty <= order.quantity
        reported = sum((q for q, _ in executions.values()), D(0))
        assert order.reported_qty == reported
        if order.overfill is not None:
            spent = sum((q * p for q, p in executions.values()), D(0))
            assert order.reported_avg == spent / reported
        if order.status is S.FILLED:
            assert order.owed_qty == max(order.quantity - reported, D(0))


# -- the drill, on the Binance fake ----------------------------------------------------


async def test_the_drill_on_binance_shows_the_overfill_reopens_and_the_kill_reaches_it() -> None:
    """python-binance against the fake Binance: o1 (BUY 1.0 ETHUSDT @ 1990) rests; one
    executionReport TRADE for it with last and cumulative 5, FILLED. The desk holds the
    5 reported (flagged), the reconcile after a reconnect re-opens it (the fake holds it
    NEW) and says so, and the kill switch cancels it at Binance."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
        order = s.fake.order_by_client_id("o1")
        trade = s.fake.exchange._report(order, "TRADE")
        s.fake.exchange.user_events.clear()
        trade.update(l="5", z="5", X="FILLED", L="1990", t=99201, Y="9950", Z="9950")
        await s.fake._deliver_user([trade])
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)
        view = engine.oms.orders["o1"]
        assert (view.order.filled_qty, view.order.reported_qty) == (0, D(5))
        assert view.order.reported_avg == D(1990)
        assert engine.anomalies.counts[AnomalyKind.OVERFILL] == 1

        driver = await stream_down(s, s.broker)
        await stream_back(driver, s.broker)
        found = await reconcile_broker(engine, s.broker)
        [mismatch] = [r for r in found if r.kind is ReconcileKind.STATUS_MISMATCH]
        assert (mismatch.ours, mismatch.venue) == (
            "FILLED 0/1.0 (5 reported: an overfill)",
            "NEW 0/1",
        )
        assert view.order.status is S.NEW
        assert [v.client_order_id for v in engine.oms.working()] == ["o1"]
        assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1

        report = await engine.kill("drill")
        assert "o1" in report.cancels.cancelled
        for _ in range(100):
            if s.fake.order_by_client_id("o1").status == "CANCELED":
                break
            await asyncio.sleep(0.02)
        assert s.fake.order_by_client_id("o1").status == "CANCELED"
