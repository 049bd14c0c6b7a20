"""A working stop order shows its trigger. The Stop column was among the first to drop:
at 120x36 a stop-limit buy read `BUY 0.01 65,600.00 NEW` with the market at 64,990, a
limit buy above the market that does not fill, and its stop nowhere on the desk. While
a row has a stop price the column stays, beside the price."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus, OrderType
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk, limit_buy


async def test_a_working_stop_shows_its_trigger_at_120x36(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        blotter = desk.app.screen.query_one(Blotter)
        limit = limit_buy("resting", "BTCUSDT.PAPER", "0.01", "63000.00")
        await engine.submit(limit)
        await desk.settle(pilot)
        assert "stop" not in blotter.shown_columns  # no stop: the room goes elsewhere
        without_stops = blotter.shown_columns
        assert "avg" in without_stops
        stop = limit.model_copy(
            update={
                "client_order_id": "stop-limit",
                "order_type": OrderType.STOP_LIMIT,
                "limit_price": Decimal("65600.00"),
                "stop_price": Decimal("65500.00"),
            }
        )
        await engine.submit(stop)
        await desk.settle(pilot)
        await desk.next_second(pilot)  # a column comes back at the once-a-second fit
        assert engine.oms.orders["stop-limit"].order.status is OrderStatus.NEW
        shown = blotter.shown_columns
        # Beside the price; Avg fill (a working order's is mostly `-`) gives way.
        assert shown[:6] == ["symbol", "side", "qty", "price", "stop", "status"]
        assert "avg" not in shown
        assert blotter.get_cell("stop-limit", "stop").plain == "65,500.00"
        assert blotter.get_cell("resting", "stop").plain == "-"
        # The stop cancelled, the column gives its room back.
        await engine.cancel("stop-limit")
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert blotter.shown_columns == without_stops
        await desk.session.close()
