"""A fill heard again for an order taken again after it left memory (`OMS._take_again`).

The review finding: an order that finished here (wrongly), left the window of finished
orders, and that the venue lists open is taken again from the venue's order
(`Order.from_venue`): its status, venue id and the venue's filled count, but no
execution ids. A fill the desk had already counted for it, heard again afterwards (IB
re-sends execDetails on a reconnect, a Binance catch-up of trades, the paper venue
rebuilt from the journal), was then not known to the order as a repeat: it counted it
a second time (1 filled of 2 read 2 of 2, FILLED on the desk while the venue still
worked the rest, `c` refused). The position did not move twice: the portfolio refuses
an exec id it applied (`Portfolio.apply_fill`, the newest `SEEN_KEPT`).

Now the OMS keeps the exec ids of an evicted order's fills with its retired record
(those it counted, and those heard while it was out of memory, which the venue's count
holds too), and the order taken again knows them: a repeat is a DUPLICATE, a new fill
counts. A desk rebuilt from the journal (which evicts and takes it again at the same
points) ends the same.
"""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.oms import FinishedWindow, Outcome
from silvertine_tui.engine.recovery import catch_up, reconcile_broker, recover
from silvertine_tui.events import OrderUpdateEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.integration.test_overfill_reconcile import SRC, buy, fill

S = OrderStatus
ACCOUNT = [("scripted", "main")]
KEY = ("scripted", "main", INSTRUMENT.key)


def engine_on(bus: MemoryBus, venue: ScriptedVenue) -> TradingEngine:
    return TradingEngine(bus, [venue], RiskConfig(), window=FinishedWindow(orders=1))


def position(engine: TradingEngine) -> D:
    return engine.portfolio.positions[KEY].quantity


async def filled_in_part_then_evicted(
    qty: str = "2",
) -> tuple[MemoryBus, TradingEngine, ScriptedVenue, str]:
    """BUY `qty` @ 10.00: 1 filled (exec `e-1`, counted), then a CANCELED of it reached
    the journal (a status the venue took back) while the venue still works the rest:
    ended here, PARTIALLY_FILLED 1 there. Two more orders finish after it and it leaves
    memory (a window of 1)."""
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = engine_on(bus, venue)
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(buy(qty))
    await catch_up(engine, SRC)
    await bus.publish(fill(cid, "e-1", "1"))
    await catch_up(engine, SRC)
    venue.venue_orders[cid] = venue.venue_orders[cid].model_copy(
        update={"status": S.PARTIALLY_FILLED, "filled_qty": D(1), "avg_price": D("10.00")}
    )
    await bus.publish(
        OrderUpdateEvent.create(
            SRC,
            OrderUpdate(client_order_id=cid, status=S.CANCELED, reason="a status taken back"),
        )
    )
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    assert (view.order.status, view.order.filled_qty, view.order.exec_ids) == (
        S.CANCELED,
        D(1),
        {"e-1"},
    )
    await others_finish(bus, engine)
    assert engine.oms.get(cid) is None
    assert engine.oms.evicted_from(cid) == ("scripted", "main")
    venue.venue_positions[INSTRUMENT.key] = position(engine)
    return bus, engine, venue, cid


async def others_finish(bus: MemoryBus, engine: TradingEngine) -> None:
    """Two more orders fill 1 each (the instrument's last fill is theirs: the order
    holding it stays in memory) and are cancelled."""
    for _ in range(2):
        other = await engine.submit(buy("2"))
        await catch_up(engine, SRC)
        await bus.publish(fill(other, f"y-{other}", "1"))
        await catch_up(engine, SRC)
        await engine.cancel(other)
        await catch_up(engine, SRC)


async def rebuilt_alike(bus: MemoryBus, engine: TradingEngine, cid: str) -> None:
    fresh = engine_on(bus, ScriptedVenue.build(bus))
    await recover(fresh, ACCOUNT)
    live, again = engine.oms.get(cid), fresh.oms.get(cid)
    assert live is not None
    assert again is not None
    assert again.order.model_dump() == live.order.model_dump()
    assert position(fresh) == position(engine)


async def test_a_fill_counted_before_it_left_memory_heard_again_counts_once() -> None:
    """The repro: taken again at the venue's 1 of 2, the fill `e-1` heard again. Before:
    the order counted it again (2 of 2, FILLED, off the working list while the venue
    works 1 more). Now a DUPLICATE; the position took it once either way. The order's
    next fill counts, and ends it."""
    bus, engine, venue, cid = await filled_in_part_then_evicted()
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None, "not taken again"
    assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, D(1))
    duplicates = engine.oms.counters[Outcome.DUPLICATE]

    await bus.publish(fill(cid, "e-1", "1"))  # heard again
    await catch_up(engine, SRC)
    assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, D(1)), "counted twice"
    assert engine.oms.counters[Outcome.DUPLICATE] == duplicates + 1
    assert [v.client_order_id for v in engine.oms.working()] == [cid]
    assert position(engine) == 3  # (its 1 and the others' 1 each)
    await rebuilt_alike(bus, engine, cid)

    await bus.publish(fill(cid, "e-2", "1"))  # the venue fills the rest
    await catch_up(engine, SRC)
    assert (view.order.status, view.order.filled_qty) == (S.FILLED, D(2))
    assert view.order.exec_ids == {"e-1", "e-2"}
    assert position(engine) == 4
    await rebuilt_alike(bus, engine, cid)


async def test_a_fill_heard_while_it_was_out_of_memory_heard_again_counts_once() -> None:
    """A fill of the order while it was out of memory (`EVICTED`: the position took it,
    the order did not) is in the venue's count the order is taken again at: heard
    again after that, it is a repeat too."""
    bus, engine, venue, cid = await filled_in_part_then_evicted(qty="3")
    await bus.publish(fill(cid, "e-2", "1"))  # the venue fills 1 more meanwhile
    await catch_up(engine, SRC)
    assert engine.oms.get(cid) is None
    assert position(engine) == 4
    venue.venue_orders[cid] = venue.venue_orders[cid].model_copy(update={"filled_qty": D(2)})
    venue.venue_positions[INSTRUMENT.key] = D(4)
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, D(2))

    for exec_id in ("e-1", "e-2"):  # both heard again (a catch-up from before them)
        await bus.publish(fill(cid, exec_id, "1"))
    await catch_up(engine, SRC)
    assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, D(2))
    assert position(engine) == 4
    assert [v.client_order_id for v in engine.oms.working()] == [cid]
    await rebuilt_alike(bus, engine, cid)


async def test_taken_again_and_evicted_again_it_still_knows_its_fills() -> None:
    """Taken again, it ends (the venue's CANCELED of the rest) and leaves memory once
    more; the venue lists it open again (the CANCELED was wrong too) and it is taken
    again: the fill it counted before either eviction, heard again, is still a repeat."""
    bus, engine, venue, cid = await filled_in_part_then_evicted(qty="3")
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    await bus.publish(
        OrderUpdateEvent.create(
            SRC, OrderUpdate(client_order_id=cid, status=S.CANCELED, reason="wrong again")
        )
    )
    await catch_up(engine, SRC)
    await others_finish(bus, engine)
    assert engine.oms.get(cid) is None
    venue.venue_positions[INSTRUMENT.key] = position(engine)
    await reconcile_broker(engine, venue)
    await catch_up(engine, SRC)
    view = engine.oms.get(cid)
    assert view is not None
    await bus.publish(fill(cid, "e-1", "1"))
    await catch_up(engine, SRC)
    assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, D(1))
    await rebuilt_alike(bus, engine, cid)
