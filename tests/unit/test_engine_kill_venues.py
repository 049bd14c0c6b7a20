"""The kill switch on paper and Binance: each broker's own cancel-all goes out (one
batch at paper, one DELETE openOrders per symbol at Binance), every order is cancelled
and the report says so; a cancel all of one instrument stays per order."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import CancelRequestEvent
from tests.support.binance_broker import binance_session
from tests.unit.test_paper_broker import ETH, order, paper_config, tick_price

NO_WAIT = (0.0, 0.0)


async def sync(engine: TradingEngine) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, engine.bus.layout.exec(name, broker.account))


async def test_the_kill_switch_on_binance_is_one_cancel_all_per_symbol() -> None:
    async with binance_session(balances={"USDT": "10000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig(), retry_delays=NO_WAIT)
        await engine.load_instruments()
        ids = []
        for i in range(2):
            request = OrderRequest(
                broker=s.broker.name,
                account=s.broker.account,
                instrument="ETHUSDT.BINANCE",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=D("0.5"),
                limit_price=D(1980 + i),
            )
            ids.append(await s.broker.place(request))
        await s.driver.settle()
        await sync(engine)
        report = await engine.kill("drill")
        assert report.ok, report.summary()
        assert sorted(report.cancelled) == sorted(ids)
        assert report.cancels.gone == ()
        assert s.fake.requests.count(("DELETE", "/api/v3/openOrders")) == 1
        assert ("DELETE", "/api/v3/order") not in s.fake.requests
        assert await s.broker.open_orders() == []
        await s.driver.settle()
        await asyncio.sleep(0.05)
        await sync(engine)
        assert engine.oms.working() == []


async def test_the_kill_switch_on_paper_cancels_everything_in_one_batch() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    try:
        engine = TradingEngine(bus, [broker], RiskConfig(), retry_delays=NO_WAIT)
        await engine.load_instruments()
        await broker.place(order("k1", Side.BUY, "1", tick_price(broker, -300)))
        await broker.place(order("k2", Side.BUY, "1", tick_price(broker, -350)))
        await broker.place(
            order(
                "k3",
                Side.BUY,
                "1",
                tick_price(broker, -200, "BTCUSDT.PAPER"),
                instrument="BTCUSDT.PAPER",
            )
        )
        await sync(engine)
        one = await engine.cancel_all(instrument=ETH)
        assert sorted(one.cancelled) == ["k1", "k2"]
        assert [o.client_order_id for o in await broker.open_orders()] == ["k3"]
        await broker.place(order("k4", Side.BUY, "1", tick_price(broker, -250)))
        await sync(engine)
        report = await engine.kill("drill")
        assert report.ok, report.summary()
        assert sorted(report.cancelled) == ["k3", "k4"]
        assert await broker.open_orders() == []
        # The kill's reason is journaled with each cancel, as it was one by one.
        reasons = {
            e.event.payload.client_order_id: e.event.payload.reason
            for e in await bus.read(bus.layout.exec(broker.name, broker.account))
            if isinstance(e.event, CancelRequestEvent)
        }
        assert (reasons["k3"], reasons["k4"]) == ("drill", "drill")
        await sync(engine)
        assert engine.oms.working() == []
    finally:
        await broker.close()
        await bus.close()
