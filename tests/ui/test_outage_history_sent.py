"""An order's history while the bus is lost says what this desk sent of it that the
journal does not show yet (the trader's drill: a cancel made with Redis down, `h` on
the row showed the journal's history alone, no line of the cancel, as if nothing had
been sent). Once Redis takes the events the line goes and the events are there."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from tests.support.redis_server import RedisServer

from .conftest import FakeClock
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_outage_rows_cancel import FIRST, SECOND, resting_orders, status_cell


@pytest.mark.redis
async def test_a_cancel_sent_with_the_bus_down_is_said_in_the_orders_history(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-hist-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND)

            def said() -> Static:
                return app.screen.query_one("#history-unjournaled", Static)

            # The bus up: nothing waits, nothing said.
            await pilot.press("3", "home", "h")
            await frames_until(app, pilot, lambda: isinstance(app.screen, OrderHistoryScreen))
            assert not said().display
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, OrderHistoryScreen))

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("3", "home", "c")
            await frames_until(app, pilot, lambda: status_cell(desk, FIRST) == "NEW cxl…")
            await pilot.press("h")
            await frames_until(app, pilot, lambda: isinstance(app.screen, OrderHistoryScreen))
            assert said().display
            text = str(said().render())
            assert text == (
                "a cancel sent from this desk, NOT in the journal yet: its events show "
                "here once Redis takes them"
            ), text

            # Redis back: the cancel's events come, the line goes (the view follows).
            await server.arestart()
            await frames_until(app, pilot, lambda: not said().display)
            screen = app.screen
            assert isinstance(screen, OrderHistoryScreen)
            assert "CANCELED" in str(screen.query_one("#dialog-title", Static).render())
            await session.close()
