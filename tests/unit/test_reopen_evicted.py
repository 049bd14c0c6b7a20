"""The reconcile's re-open of an order that left memory (code review item 3).

An order that ended here wrongly (FILLED on a report that filled more than it; the
venue still holds it NEW) and then left the window of finished orders (1,000 by
default; 1 here): the venue lists it open. The reconcile said "open at the venue, not
in our journal: adopted" (`VENUE_ORDER_UNKNOWN`) and the OMS refused the adoption as
`EVICTED`: the venue's working order was on no row, `c` could not reach it, and the
words were false. Only the kill switch's venue-wide listing still reached it.

Now it goes the re-open's way (`recovery._reopen`): asked again, still open, the OMS
takes it again from the venue's order (`OMS._take_again`), said as re-opened; a desk
rebuilt from the journal (or from a snapshot written after it left memory) ends the
same.
"""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow
from silvertine_tui.engine.order_history import read_order_history
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
    OrderRequestEvent,
    OrderUpdateEvent,
    ReconcileEvent,
    ReconcileKind,
)
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.integration.test_overfill_reconcile import SRC, buy, fill, overfilled

S = OrderStatus
ACCOUNT = [("scripted", "main")]


def engine_on(bus: MemoryBus, venue: ScriptedVenue) -> TradingEngine:
    return TradingEngine(bus, [venue], RiskConfig(), window=FinishedWindow(orders=1))


async def evicted_order() -> tuple[MemoryBus, TradingEngine, ScriptedVenue, str, str]:
    """The review's repro: the overfilled order, then two more that finish after it;
    it leaves memory while the venue works it. With the entry of its request."""
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = engine_on(bus, venue)
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(buy("2"))
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    first = view.first_entry
    await overfilled(bus, engine, cid)
    for _ in range(2):
        other = await engine.submit(buy("2"))
        await catch_up(engine, SRC)
        await bus.publish(fill(other, f"y-{other}", "1"))  # holds the last fill now
        await catch_up(engine, SRC)
        await engine.cancel(other)
        await catch_up(engine, SRC)
    assert engine.oms.get(cid) is None
    assert engine.oms.retired[cid][:2] == ("scripted", "main")
    assert cid in venue.venue_orders  # the venue works it
    venue.venue_positions[INSTRUMENT.key] = D(7)  # (its 5 and the others' 1 each)
    return bus, engine, venue, cid, first


async def test_an_order_out_of_memory_the_venue_works_is_shown_and_said_true() -> None:
    """Taken again as the venue holds it: on the desk, working, counted; the reconcile
    says what happened (no "adopted" for an order the journal holds) and the
    `reopened` anomaly is counted."""
    _, engine, venue, cid, _ = await evicted_order()
    found = await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)

    said = [r for r in found if r.client_order_id == cid]
    assert [r.kind for r in said] == [ReconcileKind.STATUS_MISMATCH]
    [mismatch] = said
    assert mismatch.venue_order is not None
    assert "adopted" not in mismatch.detail
    assert "left memory" in mismatch.detail
    assert "taken again" in mismatch.detail
    assert (mismatch.ours, mismatch.venue) == ("ended, out of memory", "NEW 0/2")
    view = engine.oms.get(cid)
    assert view is not None, "not shown"
    assert view.order.status is S.NEW
    assert view.order.reason == mismatch.detail
    assert (view.order.quantity, view.order.limit_price) == (D(2), D("10.00"))
    assert view.adopted  # the adapter follows it (`follow_adopted`)
    assert cid not in engine.oms.retired
    assert [v.client_order_id for v in engine.oms.working()] == [cid]
    assert engine.projection.open_orders("scripted") == 1
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 1
    assert cid in engine.anomalies.last
    # Once: the next reconcile finds the two agree.
    again = await reconcile_broker(engine, venue)
    assert [r for r in again if r.client_order_id == cid] == []


async def test_c_reaches_the_order_taken_again() -> None:
    """`c` sends the cancel to the venue and the order ends CANCELED on the desk (its
    report was refused as one of an evicted order)."""
    _, engine, venue, cid, _ = await evicted_order()
    await reconcile_broker(engine, venue)
    await engine.cancel(cid)
    await catch_up(engine, SRC)
    assert cid not in venue.venue_orders
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.status is S.CANCELED
    assert engine.oms.working() == []


async def test_its_history_reads_back_from_its_first_event() -> None:
    """Its events before it left memory are in the journal: the desk's history of it
    reads from its request on, the re-opening and what came after included."""
    bus, engine, venue, cid, first = await evicted_order()
    await reconcile_broker(engine, venue)
    await engine.cancel(cid)
    await catch_up(engine, SRC)
    span = engine.projection.history_span(cid)
    assert span is not None
    assert span.first == first
    events = await read_order_history(bus, cid, span)
    assert isinstance(events[0], OrderRequestEvent)
    assert any(isinstance(e, ReconcileEvent) and e.payload.venue_order is not None for e in events)
    assert isinstance(events[-1], OrderUpdateEvent)
    assert events[-1].payload.status is S.CANCELED


async def test_a_listing_behind_takes_nothing_and_says_nothing() -> None:
    """The venue listed it open, then it ended there: asked again, the venue says so.
    Nothing is taken, nothing said (before: "adopted", and nothing shown)."""
    bus, engine, venue, cid, _ = await evicted_order()
    listing = await venue.reconcile()
    del venue.venue_orders[cid]  # ... cancelled at the venue after the listing
    await bus.publish(
        OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=cid, status=S.CANCELED))
    )
    found = await reconcile(engine, venue, listing)
    assert [r for r in found if r.client_order_id == cid] == []
    assert engine.oms.get(cid) is None
    assert engine.anomalies.counts[AnomalyKind.REOPENED] == 0


async def test_a_desk_rebuilt_from_the_journal_takes_it_again_the_same() -> None:
    """A replay with the same window evicts it at the same point and takes it again
    from the journaled re-opening: the same order, working."""
    bus, engine, venue, cid, _ = await evicted_order()
    await reconcile_broker(engine, venue)
    view = engine.oms.get(cid)
    assert view is not None
    fresh = engine_on(bus, ScriptedVenue.build(bus))
    await recover(fresh, ACCOUNT)
    again = fresh.oms.get(cid)
    assert again is not None
    assert again.order.model_dump() == view.order.model_dump()
    assert [v.client_order_id for v in fresh.oms.working()] == [cid]


async def test_a_desk_rebuilt_from_a_snapshot_naming_it_evicted_takes_it_again() -> None:
    """A snapshot written after it left memory names it evicted (`OMS.forgotten` once
    loaded): the snapshot and the journal after it give the same order."""
    bus, engine, venue, cid, _ = await evicted_order()
    assert await write_snapshot(engine, "scripted", "main") is not None
    await reconcile_broker(engine, venue)
    view = engine.oms.get(cid)
    assert view is not None
    snapshot = await latest_snapshot(bus, "scripted", "main")
    assert snapshot is not None
    assert cid in snapshot.evicted_ids
    restored = engine_on(bus, ScriptedVenue.build(bus))
    load_snapshot(restored, snapshot)
    await replay_stream(restored, bus.layout.exec("scripted", "main"))
    held = restored.oms.get(cid)
    assert held is not None
    assert held.order.model_dump() == view.order.model_dump()
    assert [v.client_order_id for v in restored.oms.working()] == [cid]


async def test_a_desk_started_from_a_snapshot_naming_it_takes_it_again_live() -> None:
    """Evicted before the snapshot this desk started from (`OMS.forgotten`): the
    reconcile after the start takes it again too, and `c` reaches it."""
    bus, engine, before, cid, _ = await evicted_order()
    assert await write_snapshot(engine, "scripted", "main") is not None
    venue = ScriptedVenue.build(bus)
    venue.venue_orders = dict(before.venue_orders)  # the venue still works it
    venue.venue_positions[INSTRUMENT.key] = D(7)
    restarted = engine_on(bus, venue)
    await recover(restarted, ACCOUNT)
    await venue.connect()
    await restarted.load_instruments()
    assert restarted.oms.forgotten(cid) is not None
    found = await reconcile_broker(restarted, venue)
    [mismatch] = [r for r in found if r.client_order_id == cid]
    assert mismatch.kind is ReconcileKind.STATUS_MISMATCH
    assert "taken again" in mismatch.detail
    view = restarted.oms.get(cid)
    assert view is not None
    assert view.order.status is S.NEW
    assert restarted.projection.history_span(cid) is not None
    await restarted.cancel(cid)
    await catch_up(restarted, SRC)
    assert cid not in venue.venue_orders
    assert view.order.status is S.CANCELED
