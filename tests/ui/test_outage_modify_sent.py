"""A modify sent while the bus is lost says so at once and marks its row, as a cancel
does (tests/ui/test_outage_rows_cancel.py): the Orders pane draws from the journal, and
the venue's answer waits in memory with every other event until Redis is back. Before,
`m` on a working order with Redis killed, a new price and Enter gave no toast at all,
the row read `3,400.00 NEW?` and its history no change, though the venue had made it
(the chaos review's M2)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from rich.style import Style
from textual.widgets import Input

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_outage_rows_cancel import (
    FIRST,
    SECOND,
    log_lines,
    resting_orders,
    status_cell,
    subtitle,
    toasts,
)


def price_cell(desk: Desk, coid: str) -> str:
    return desk.app.screen.query_one(Blotter).get_cell(coid, "price").plain


@pytest.mark.redis
async def test_a_modify_sent_with_the_bus_down_says_so_and_marks_its_row(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-mod-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND)
            blotter = app.screen.query_one(Blotter)

            async def modify(price: str) -> None:
                await pilot.press("3", "home", "m")
                await frames_until(app, pilot, lambda: isinstance(app.screen, ModifyScreen))
                app.screen.query_one("#m-limit_price", Input).value = price
                await pilot.press("enter")
                await frames_until(app, pilot, lambda: not isinstance(app.screen, ModifyScreen))

            # The bus up: the row takes the new price, nothing more is said.
            await modify("63490.00")
            await frames_until(app, pilot, lambda: price_cell(desk, FIRST) == "63,490.00")
            assert toasts(desk, "Modify sent") == []
            assert status_cell(desk, FIRST) == "NEW"

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await modify("63480.00")
            await frames_until(app, pilot, lambda: bool(toasts(desk, "Modify sent")))
            said = (
                "modify of 00000501 to limit 63,480.00 sent; BUS DOWN: shown when the bus is back "
                "(Orders marks it mod… until then)"
            )
            assert toasts(desk, "Modify sent") == [said]
            assert f"Modify sent: {said}" in log_lines(desk)
            await frames_until(app, pilot, lambda: status_cell(desk, FIRST) == "NEW mod…")
            style = blotter.get_cell(FIRST, "status").style
            assert isinstance(style, Style)
            assert style.italic  # not the journal's word
            assert price_cell(desk, FIRST) == "63,490.00"  # the journal's terms, as yet
            assert "1 mod… sent, not in the journal yet" in subtitle(desk)
            assert status_cell(desk, SECOND) == "NEW"  # untouched, nothing waits of it

            await server.arestart()
            await frames_until(app, pilot, lambda: price_cell(desk, FIRST) == "63,480.00")
            await frames_until(app, pilot, lambda: status_cell(desk, FIRST) == "NEW")
            assert "mod…" not in subtitle(desk)
            view = session.projection.order(FIRST)
            assert view is not None
            assert view.order.limit_price == Decimal("63480.00")
            assert toasts(desk, "Modify sent") == [said]  # once
            await session.close()
