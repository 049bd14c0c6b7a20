"""An order replaced at Binance by another program (a cancelReplace under the same
client order id) while the desk was away. The journal never saw the replacement: it
holds the order under its first venue order, with what filled there. Which venue orders
lie between and what filled under each only Binance's order history could tell; the
adapter does not guess it (`_carry` leaves the order as Binance lists it). Before, this
was silent: the reconcile took the replacement's terms as the whole order (quantity
1.3 where 0.7 had filled of 2: 0.6 shown left while Binance worked 1.3) and nothing
said why. Now it is said: a health message naming the order, both venue ids and what
to do, an error count (`replaced_unseen`), a log line and a health metric while it
works."""

from __future__ import annotations

import logging
from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import HealthEvent
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import binance_session, build_broker
from tests.support.binance_replaced import working
from tests.support.binance_stream import journaled

ETH = "ETHUSDT.BINANCE"


async def test_a_replace_the_journal_never_saw_is_said(caplog: pytest.LogCaptureFixture) -> None:
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
        first = working(s, "o1").order_id
        await s.fake.fill(first, qty=D("0.7"))
        order = engine.oms.orders["o1"].order
        await journaled(s, engine, lambda: order.filled_qty == D("0.7"))
        await s.broker.close()
        # Away: another program replaces o1 (what is left, at a new price), same id.
        async with binance_client(s.fake) as other:
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
        second = working(s, "o1").order_id
        assert second != first

        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        await again.connect()
        try:
            with caplog.at_level(logging.ERROR):
                await reconcile_broker(engine, again)
                await reconcile_broker(engine, again)  # said once, not at every reconcile
            messages = [
                e.event.payload.message
                for e in await s.bus.read(s.bus.layout.health)
                if e.ok and isinstance(e.event, HealthEvent)
            ]
            said = [m for m in messages if m.startswith("order o1 was replaced at Binance")]
            assert len(said) == 1
            assert f"venue order {first} -> {second}" in said[0]
            assert "0.7" in said[0]
            assert "check o1 at Binance" in said[0]
            assert again.health_state.errors["replaced_unseen"] == 1
            assert again.health_state.extra["replaced_unseen"] == "o1"
            logged = [r for r in caplog.records if r.getMessage() == "binance.replaced_unseen"]
            assert len(logged) == 1
            assert getattr(logged[0], "client_order_id", "") == "o1"
        finally:
            await again.close()
