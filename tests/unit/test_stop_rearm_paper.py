"""A modify of a triggered paper stop does not re-arm it, and the desk says so.

Unlike Binance (a cancelReplace places a new stop, which waits), the paper venue
replaces an order in place: a triggered STOP_LIMIT keeps its trigger (`SimOrder.triggered`)
and rests at its new limit or quantity, and its stop can no longer change ("the stop has
already triggered"). Its REPLACED report says nothing of the trigger (`triggered` None),
so the desk's order stays triggered, as the venue holds it, live and replayed from the
journal; only an explicit False (a re-armed stop) would clear it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import Order, OrderStatus, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover, replay_stream
from silvertine_tui.events import OrderUpdateEvent
from tests.unit.test_paper_restart import eth_book, paper_config
from tests.unit.test_paper_resync_trigger import stop_order

S = OrderStatus


async def desk_order(engine: TradingEngine, bus: MemoryBus, coid: str) -> Order:
    await replay_stream(engine, bus.layout.exec("paper", "main"))
    view = engine.projection.order(coid)
    assert view is not None
    return view.order


async def test_a_modify_of_a_triggered_paper_stop_limit_keeps_it_triggered() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(), bus)
    engine = TradingEngine(bus, [broker], RiskConfig())
    try:
        await broker.connect()
        await engine.load_instruments()
        await broker.on_market_data(eth_book([("1999.50", "5")], [("2000.50", "5")]))
        await broker.place(stop_order("SL", Side.BUY, "1", "2001.00", "2001.10"))
        # The ask jumps to 2,001.50: the stop triggers and rests at its limit 2,001.10.
        await broker.on_market_data(eth_book([("2001.00", "5")], [("2001.50", "5")]))
        await broker.settle()
        assert (await desk_order(engine, bus, "SL")).triggered is True

        await broker.modify("SL", limit_price=D("2001.20"), quantity=D("2"))
        await broker.settle()
        venue = broker.venue.order("SL")
        assert venue is not None
        assert venue.triggered, "the paper venue re-armed the stop"
        assert venue.slot is not None
        assert venue.slot[0] == "buy"
        order = await desk_order(engine, bus, "SL")
        assert (order.status, order.limit_price, order.quantity) == (S.NEW, D("2001.20"), D(2))
        assert order.triggered is True
        replaced = [
            e.event.payload
            for e in await bus.read(bus.layout.exec("paper", "main"))
            if isinstance(e.event, OrderUpdateEvent) and e.event.payload.limit_price == D("2001.20")
        ]
        assert replaced
        assert all(u.triggered is not False for u in replaced)

        # Its stop cannot change any more: the venue says so.
        with pytest.raises(BrokerError, match="the stop has already triggered"):
            await broker.modify("SL", stop_price=D("2002.00"))
        await broker.settle()
        assert (await desk_order(engine, bus, "SL")).triggered is True

        # Replayed from the journal into a fresh desk: the same.
        fresh = TradingEngine(bus, [broker], RiskConfig())
        await recover(fresh, [("paper", "main")])
        view = fresh.projection.order("SL")
        assert view is not None
        assert (view.order.triggered, view.order.limit_price) == (True, D("2001.20"))
    finally:
        await broker.close()
        await bus.close()
