"""The start-up reconcile takes a trigger from any broker whose listing says it: the
paper venue's too.

A paper journal written before `OrderUpdate.triggered` said a stop's trigger only in
its reason (`stop triggered: ...`). The paper venue started again over it reads the
reason and holds the stop triggered (resting at its limit), and lists it so
(`VenueOrder.triggered`); the desk's order took nothing from that report (NEW over NEW,
a DUPLICATE) and read the stop waiting, and the reconcile, comparing status and terms
only, said nothing: the desk showed no `trg` and left open a Stop the venue refuses to
change. Now the reconcile journals the trigger, once."""

from __future__ import annotations

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, recover, replay_stream
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.unit.test_paper_restart import eth_book, paper_config
from tests.unit.test_paper_resync_trigger import stop_order

S = OrderStatus


async def journal_without_the_field() -> MemoryBus:
    """A paper journal in which SL (a buy STOP_LIMIT, stop 2,001.00, limit 2,001.10)
    triggered and rests at its limit, its trigger said only in the reason, as journals
    written before the field say it."""
    live_bus = MemoryBus()
    await live_bus.start()
    live = PaperBroker(paper_config(), live_bus)
    await live.connect()
    await live.on_market_data(eth_book([("1999.50", "5")], [("2000.50", "5")]))
    await live.place(stop_order("SL", Side.BUY, "1", "2001.00", "2001.10"))
    await live.on_market_data(eth_book([("2001.00", "5")], [("2001.50", "5")]))
    await live.settle()
    await live.close()
    old = MemoryBus()
    await old.start()
    said = 0
    for entry in await live_bus.read(live_bus.layout.exec("paper", "main")):
        event = entry.event
        assert isinstance(event, EventBase)
        if isinstance(event, OrderUpdateEvent) and event.payload.triggered:
            said += 1
            event = event.model_copy(
                update={"payload": event.payload.model_copy(update={"triggered": None})}
            )
        await old.publish(event)
    await live_bus.close()
    assert said == 1
    return old


async def test_a_paper_stop_the_venue_holds_triggered_reads_triggered_after_start() -> None:
    bus = await journal_without_the_field()
    desk = TradingEngine(bus, [], RiskConfig())
    await recover(desk, [("paper", "main")])
    view = desk.projection.order("SL")
    assert view is not None
    assert (view.order.status, view.order.triggered) == (S.NEW, False)
    broker = PaperBroker(paper_config(), bus)
    desk.brokers["paper"] = broker
    try:
        await broker.connect()
        await desk.load_instruments()
        sl = broker.venue.order("SL")
        assert sl is not None
        assert sl.triggered
        [listed] = await broker.open_orders()
        assert listed.triggered is True
        await reconcile_broker(desk, broker)
        await replay_stream(desk, bus.layout.exec("paper", "main"))
        view = desk.projection.order("SL")
        assert view is not None
        assert (view.order.status, view.order.triggered) == (S.NEW, True)
        assert "triggered" in view.order.reason
        assert "reconcile" in view.order.reason
        # Once.
        await reconcile_broker(desk, broker)
        found = [
            e.event.payload
            for e in await bus.read(bus.layout.exec("paper", "main"))
            if isinstance(e.event, OrderUpdateEvent) and e.event.payload.triggered
        ]
        assert len(found) == 1
    finally:
        await broker.close()
        await bus.close()
