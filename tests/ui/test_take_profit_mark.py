"""A take-profit is told apart from a stop in the Orders pane, whatever columns fit.

The Type column is among the first to give way (at 120x36 beside any stop, one pane at
a time at 80x24): a buy take-profit-limit, which triggers as the price falls to its
stop, read `BUY 0.01 3,410.00 3,400.00 NEW`, as a buy stop-limit does, which triggers as
the price rises. Its Stop cell now says `3,400.00 tp` until it triggers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk

ETH = "ETHUSDT.PAPER"
TAKE_PROFIT = "st000000000000000961"
STOP = "st000000000000000962"


def buy(coid: str, kind: OrderType, limit: Decimal, stop: Decimal) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.BUY,
        order_type=kind,
        quantity=Decimal("0.01"),
        limit_price=limit,
        stop_price=stop,
    )


def screen_lines(desk: Desk) -> list[str]:
    return [strip.text for strip in desk.app.screen._compositor.render_strips()]


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_take_profits_stop_is_marked_and_a_stops_is_not(
    make_desk, size: tuple[int, int]
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = desk.app.model.quotes[ETH].quote.ask
        assert ask is not None
        below = (ask * Decimal("0.97")).quantize(Decimal("0.01"))
        above = (ask * Decimal("1.03")).quantize(Decimal("0.01"))
        # Both wait: the take-profit for the price to fall, the stop for it to rise.
        await desk.session.engine.submit(
            buy(TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT, below + 10, below)
        )
        await desk.session.engine.submit(buy(STOP, OrderType.STOP_LIMIT, above + 10, above))
        await desk.settle(pilot)
        await pilot.press("3")
        await desk.next_second(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.get_cell(TAKE_PROFIT, "stop").plain == f"{below:,.2f} tp"
        assert blotter.get_cell(STOP, "stop").plain == f"{above:,.2f}"
        lines = screen_lines(desk)
        header = next(line for line in lines if "Stop  Status" in line)  # Orders'
        assert "Type" not in header.strip("│").split("│")[0]  # the column gave way here
        rows = [line for line in lines if "ETHUSDT.PAPER" in line and " NEW " in line]
        [row] = [line for line in rows if f"{below + 10:,.2f}" in line]
        assert f"{below:,.2f} tp" in row, row
        [row] = [line for line in rows if f"{above + 10:,.2f}" in line]
        assert f"{above:,.2f} tp" not in row, row
        await desk.session.close()
