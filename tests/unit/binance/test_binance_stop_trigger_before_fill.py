"""A Binance stop that triggers and trades at once is journaled triggered, then filled.

Binance reports the trigger as a second executionReport NEW/NEW carrying `W`, then the
trades it made at once (TRADE reports), then the `outboundAccountPosition`. The trigger's
NEW waits for that account event (`BinanceBroker._publish_status`), and a fill goes out
at once: before, the fills were journaled ahead of the trigger and the desk's history
(the Log, `silvertine replay`) read "filled 0.5", then "stop triggered at Binance". Now
a fill takes its venue order's held NEW out of the wait first
(`BinanceBroker._new_before_fill`, `_holds_new`).

The real python-binance client against the fake Binance (REST and the user stream)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from tests.support.binance_broker import binance_session
from tests.support.binance_stream import journaled

S = OrderStatus
ETH = "ETHUSDT"

# The order type; the bids when the stop triggers; what then fills and how it ends.
CASES = {
    "stop-market": (OrderType.STOP, [("1992", "0.2"), ("1989", "5")], D("0.5"), S.FILLED),
    "stop-limit": (OrderType.STOP_LIMIT, [("1992", "5")], D("0.5"), S.FILLED),
    # (the rest, 0.3, works at its limit 1,990 below the bid left, 1,989)
    "stop-limit-part": (
        OrderType.STOP_LIMIT,
        [("1992", "0.2"), ("1989", "5")],
        D("0.2"),
        S.PARTIALLY_FILLED,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_stop_that_triggers_and_fills_at_once_reads_triggered_then_filled(
    case: str,
) -> None:
    order_type, bids, filled, status = CASES[case]
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as s:
        broker, fake = s.broker, s.fake
        await fake.set_book(ETH, [("1989", "5")], [("2001", "5")])
        await fake.trade(ETH, "2000", "0.1")  # Binance judges stops on the last trade
        engine = TradingEngine(s.bus, [broker], RiskConfig())
        await engine.load_instruments()
        await broker.place(
            OrderRequest(
                client_order_id="sl1",
                broker=broker.name,
                account=broker.account,
                instrument="ETHUSDT.BINANCE",
                side=Side.SELL,
                order_type=order_type,
                quantity=D("0.5"),
                stop_price=D("1995"),
                limit_price=D("1990") if order_type is OrderType.STOP_LIMIT else None,
            )
        )
        await journaled(s, engine, lambda: engine.oms.orders["sl1"].order.status is S.NEW)

        await fake.set_book(ETH, bids, [("2001", "5")])
        await fake.trade(ETH, "1995", "0.1")  # the stop triggers and trades at once
        await journaled(s, engine, lambda: engine.oms.orders["sl1"].order.status is status)

        said: list[str] = []
        for e in await s.events():
            if isinstance(e, FillEvent) and e.payload.client_order_id == "sl1":
                said.append("FILL")
            elif isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "sl1":
                u = e.payload
                said.append(f"{u.status.value}{' trg' if u.triggered else ''}")
        # Triggered, then its fills (each trade's status after them, triggered too).
        assert said[:4] == ["PENDING_NEW", "NEW", "NEW trg", "FILL"], said
        assert said[-1] == f"{status.value} trg", said
        assert all(x == "FILL" or x.endswith(" trg") for x in said[4:]), said
        assert said.count("NEW trg") == 1, said
        assert said.count("FILL") == (2 if case == "stop-market" else 1), said
        order = engine.oms.orders["sl1"].order
        assert (order.status, order.filled_qty, order.triggered) == (status, filled, True)
        trigger = next(
            e.payload
            for e in await s.events()
            if isinstance(e, OrderUpdateEvent) and e.payload.triggered
        )
        assert trigger.reason == "stop triggered at Binance (a trade reached 1995)", trigger
