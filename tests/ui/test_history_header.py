"""An order's history, however long, leaves the desk's header in sight: the PAPER/LIVE
marker and the trading state (HALTED, BUS DOWN) stay on the first line while it is
open. A history longer than the screen covered them, as the help did."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.history import OrderHistoryScreen

from .conftest import Desk
from .test_order_history_ids import resting_buy
from .test_toast_header_state import top_line

SIZES = [(120, 36), (80, 24)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_long_history_leaves_the_header_in_sight(make_desk, size) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        engine = desk.session.engine
        cid = await resting_buy(desk, pilot, "st000000000000000311")
        for n in range(15):  # fifteen price changes: some fifty events
            await engine.modify(cid, limit_price=Decimal("3390.00") - n)
            await desk.settle(pilot)
        view = engine.oms.get(cid)
        assert view is not None
        assert len(view.history) > size[1]
        await pilot.press("3", "home", "h")
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, OrderHistoryScreen)
        shown = top_line(desk.app)
        assert shown.lstrip().startswith("PAPER"), shown
        assert "ACTIVE" in shown, shown
        *_, border, keys = last_lines(desk.app, 2)
        assert border.startswith("█▄▄"), border  # the history ends whole above the key bar
        assert "esc Close" in keys, keys
        await desk.session.close()


def last_lines(app: SilvertineApp, n: int) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()[-n:]]
