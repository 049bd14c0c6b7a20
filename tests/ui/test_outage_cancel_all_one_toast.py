"""Cancel all while the bus is lost says what happened in one toast: the cancels were
made at the venue, and the journal shows them once the bus is back (the rows read
`NEW cxl…` until then). Before, two toasts said it two ways side by side, "cancel all:
cancelled 3 order(s)." and "Cancel all sent: cancel of 3 order(s) sent; BUS DOWN:
shown when the bus is back" (the chaos review)."""

from __future__ import annotations

from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.support.redis_server import RedisServer

from .conftest import FakeClock
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_outage_rows_cancel import FIRST, SECOND, THIRD, log_lines, resting_orders, status_cell


@pytest.mark.redis
async def test_cancel_all_with_the_bus_down_is_said_once(tmp_path: Path, clock: FakeClock) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-cxl-all-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND, THIRD)
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            app.clear_notifications()

            await pilot.press("ctrl+x")
            await pilot.pause()
            await pilot.press("y")
            await frames_until(
                app,
                pilot,
                lambda: all(status_cell(desk, c) == "NEW cxl…" for c in (FIRST, SECOND, THIRD)),
            )
            await frames_until(
                app,
                pilot,
                lambda: any(n.title.startswith("cancel all") for n in app._notifications),
            )
            for _ in range(5):  # (any other toast of it has come by now)
                app.frame()
                await pilot.pause()
            toasts = [(n.title, n.message) for n in app._notifications]
            assert len(toasts) == 1, toasts
            ((title, said),) = toasts
            assert title == "cancel all: NOT JOURNALED YET"
            assert said == (
                "cancelled 3 order(s). BUS DOWN: the cancels were made at the venue, not "
                "journaled yet: shown when the bus is back (Orders marks them cxl… until "
                "then)."
            )
            assert [n.severity for n in app._notifications] == ["warning"]
            assert sum("cancelled 3 order(s)" in line for line in log_lines(desk)) == 1
            assert not any(line.startswith("Cancel all sent") for line in log_lines(desk))

            await server.arestart()
            blotter = app.screen.query_one(Blotter)
            await frames_until(app, pilot, lambda: not blotter.row_keys)
            await session.close()
