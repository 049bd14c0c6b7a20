"""A quote redraws its own row; positions follow the marks at most once a second; the
Orders and Balances panes redraw only when their events arrive (not on every quote)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderType, TimeInForce
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.positions import Positions

from .conftest import market_buy


async def test_quotes_do_not_redraw_orders_or_balances(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        buy = market_buy("pos-1", "ETHUSDT.PAPER", "1")
        await engine.submit(buy)
        await engine.submit(
            buy.model_copy(
                update={
                    "client_order_id": "rest-1",
                    "order_type": OrderType.LIMIT,
                    "limit_price": Decimal("3450"),
                    "tif": TimeInForce.GTC,
                }
            )
        )
        await desk.settle(pilot)
        screen = desk.app.screen
        blotter, positions = screen.query_one(Blotter), screen.query_one(Positions)
        balances = screen.query_one(Balances)
        before = (blotter.syncs, balances.syncs, positions.syncs)
        # Ten quote steps within one second: nothing but the quotes is redrawn.
        desk.clock.advance(0.05)
        await desk.step(pilot, 10, seconds=0.05)
        assert (blotter.syncs, balances.syncs, positions.syncs) == before
        # The next second: the positions take the new marks, once.
        await desk.step(pilot, 1, seconds=1.0)
        assert (blotter.syncs, balances.syncs) == before[:2]
        assert positions.syncs == before[2] + 1
        mark = engine.portfolio.mark("ETHUSDT.PAPER")
        assert mark is not None
        assert positions.get_cell("paper/main/ETHUSDT.PAPER", "mark").plain == f"{mark:,.2f}"
        # An order event redraws the orders at once.
        await engine.cancel("rest-1")
        await desk.settle(pilot)
        assert blotter.syncs > before[0]
        await desk.session.close()
