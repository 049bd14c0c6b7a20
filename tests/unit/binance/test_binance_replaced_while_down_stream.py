"""The running desk's side of `test_binance_replaced_while_down.py`: the user stream is
down (the desk up) while another program cancel-replaces an order of the desk's under
the same client order id, and the replacement fills before the stream is back. The
reports of both are lost with the stream; the catch-up after the reconnect asks Binance
for the order (by its client order id) and meets the replacement.

Before, the catch-up published the replacement's fills and its FILLED at the order's
old terms (the FILLED dropped after the fills had ended the order): the desk read a
buy of 1 @ 3,194.17 FILLED at 3,196.67, under the venue order the replace cancelled,
with the replace said nowhere. Now the replacement is taken as the one a CANCELED
the desk did not ask for leads to (`_check_cancelled_elsewhere`): at its terms before
its fills, said "changed at Binance, not by this desk ...".
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import binance_session
from tests.support.binance_replaced import whole_order, working
from tests.support.binance_stream import journaled, stream_back, stream_down

ASK = D("3196.67")


@pytest.mark.parametrize("before", ["0", "0.4"])
async def test_a_replacement_filled_while_the_stream_was_down_gives_its_terms(
    before: str,
) -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("3190", "50")], [(str(ASK), "50")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(
            OrderRequest(
                client_order_id="o1",
                broker="binance",
                account="spot",
                instrument="ETHUSDT.BINANCE",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=D("1"),
                limit_price=D("3194.17"),
            )
        )
        await journaled(
            s,
            engine,
            lambda: (
                "o1" in engine.oms.orders
                and engine.oms.orders["o1"].order.status is OrderStatus.NEW
            ),
        )
        order = engine.oms.orders["o1"].order
        old = working(s, "o1").order_id
        if D(before):
            await s.fake.fill(old, qty=D(before))
            await journaled(s, engine, lambda: order.filled_qty == D(before))
        driver = await stream_down(s, s.broker)
        async with binance_client(s.fake) as other:
            await other.cancel_replace_order(
                symbol="ETHUSDT",
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity=str(D("1") - D(before)),
                price="3197.17",
                cancelReplaceMode="STOP_ON_FAILURE",
                cancelOrigClientOrderId="o1",
                newClientOrderId="o1",
            )
        new = working(s, "o1")
        assert new.status == "FILLED"
        await stream_back(driver, s.broker)
        found = await reconcile_broker(engine, s.broker)
        assert found == []
        await journaled(s, engine, lambda: order.status is OrderStatus.FILLED)

        assert order.venue_order_id == str(new.order_id)
        assert str(old) in order.retired_venue_ids
        assert order.limit_price == D("3197.17")
        assert (order.quantity, order.filled_qty) == whole_order(s, "o1") == (D("1"), D("1"))
        assert order.avg_price == D(before) * D("3194.17") + (D("1") - D(before)) * ASK
        assert not engine.anomalies.total
        history = engine.oms.orders["o1"].history
        said = [
            e.payload.reason
            for e in history
            if isinstance(e, OrderUpdateEvent) and "not by this desk" in e.payload.reason
        ]
        assert said
        assert f"venue order {old} -> {new.order_id}" in said[0]
        assert "limit 3194.17 -> 3197.17" in said[0]
        moved = [
            i
            for i, e in enumerate(history)
            if isinstance(e, OrderUpdateEvent) and e.payload.venue_order_id == str(new.order_id)
        ]
        filled = [
            i
            for i, e in enumerate(history)
            if isinstance(e, FillEvent) and e.payload.venue_order_id == str(new.order_id)
        ]
        assert moved
        assert filled
        assert moved[0] < filled[0], "its terms before its fills"
