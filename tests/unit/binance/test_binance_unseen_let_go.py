"""What the Binance adapter keeps of an order met under a venue id the journal never
saw (another program replaced it while the desk was stopped) goes with the order.

`_modifies_read` (the journal read back for its last modify, once an order),
`_unseen_replaces` and `_unseen_said` (said once) grew by one such order each and were
never pruned: an adapter that runs for weeks kept every one. Now an order let go
(`_let_go_finished`, beyond `finished_kept` finished orders) takes them along."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import binance_session, build_broker
from tests.support.binance_replaced import working
from tests.support.binance_stream import journaled
from tests.support.waiting import until

ETH = "ETHUSDT.BINANCE"


async def test_an_order_met_replaced_unseen_leaves_nothing_behind_once_let_go() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1989", "50")], [("2011", "50")])
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
                quantity=D("2"),
                limit_price=D("1990"),
            )
        )
        await journaled(s, engine, lambda: "o1" in engine.oms.orders)
        await s.fake.fill(working(s, "o1").order_id, qty=D("0.7"))
        order = engine.oms.orders["o1"].order
        await journaled(s, engine, lambda: order.filled_qty == D("0.7"))
        await s.broker.close()
        async with binance_client(s.fake) as other:  # away: replaced, the same id
            await other.cancel_replace_order(
                symbol="ETHUSDT",
                cancelReplaceMode="STOP_ON_FAILURE",
                cancelOrigClientOrderId="o1",
                newClientOrderId="o1",
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="1.3",
                price="1995",
            )
        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        again.finished_kept = 0  # (an order is let go as soon as it ends)
        engine.brokers["binance"] = again
        await again.connect()
        try:
            await reconcile_broker(engine, again)
            assert "o1" in again._modifies_read
            assert "o1" in again._unseen_said
            await again.cancel("o1")
            await journaled(
                s, engine, lambda: engine.oms.orders["o1"].order.status is OrderStatus.CANCELED
            )
            await until(lambda: "o1" not in again._orders, 2.0, "o1 let go")
            assert "o1" not in again._modifies_read
            assert "o1" not in again._unseen_replaces
            assert "o1" not in again._unseen_said
        finally:
            await again.close()
