"""A fill of a replacement published between a restart's connect and its first reconcile
is counted once when the journal's share of the order is carried (it was added to it:
a modify then sent 0.2 where 0.3 was left). Found by a review of 5dfe604."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from tests.support.binance_broker import binance_session, build_broker
from tests.unit.binance.test_binance_restart_replaced import ETH, journaled, working


async def test_a_fill_before_the_first_reconcile_is_counted_once() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(
            OrderRequest(
                client_order_id="o1",
                broker="binance",
                account="spot",
                instrument=ETH,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=D("1.0"),
                limit_price=D("1990"),
            )
        )
        await s.fake.fill(working(s, "o1").order_id, qty="0.4")
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
        await s.broker.modify("o1", limit_price=D("1995"))
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.limit_price == D("1995"))
        await s.broker.close()

        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        try:
            await again.connect()
            await engine.load_instruments()
            # the replacement trades before the desk's first reconcile
            await s.fake.fill(working(s, "o1").order_id, qty="0.1")
            await journaled(
                s,
                engine,
                lambda: engine.oms.orders["o1"].order.filled_qty == D("0.5"),
            )
            await reconcile_broker(engine, again)
            await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
            await again.modify("o1", quantity=D("0.8"))  # 0.8 in all, 0.5 filled -> 0.3 more
            assert working(s, "o1").orig_qty == D("0.3")
        finally:
            await again.close()
