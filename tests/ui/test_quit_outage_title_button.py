"""The quit dialog's `C` (cancel and quit) with the bus down: the cancels went out and
the journal cannot show their answer. Its title counts the orders whose cancel's
outcome is unknown (it read "Quit with 0 working order(s)?" over three `cxl…` rows the
body called unknown: the venue's CANCELED waits in memory, so they were not counted
working), and the button that quits leaving them as sent reads whole, "Quit, cancels
sent (l)" (it was cut to "Quit, cancels": the button kept the width of the label it
opened with), at 120x36 and at 80x24 (the chaos review)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from textual.widgets import Button, Static

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.screens.quit import QuitScreen
from tests.support.redis_server import RedisServer

from .conftest import FakeClock
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_outage_rows_cancel import FIRST, SECOND, THIRD, resting_orders


def body(screen: QuitScreen) -> str:
    return str(screen.query_one("#dialog-body", Static).render())


def title(screen: QuitScreen) -> str:
    return str(screen.query_one("#dialog-title", Static).render())


@pytest.mark.redis
@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_title_counts_the_cancels_unknown_and_the_button_reads_whole(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix=f"t-quit-title-{size[0]}", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=size, notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND, THIRD)
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen))
            found = app.screen
            assert isinstance(found, QuitScreen)
            screen: QuitScreen = found
            assert title(screen) == "Quit with 3 working order(s)?"
            await pilot.press("C")
            await frames_until(app, pilot, lambda: "outcome unknown" in body(screen))
            # The venue's CANCELED of each waits in memory: none is counted working now,
            # and the title says the three whose cancel's outcome is unknown.
            await frames_until(app, pilot, lambda: session.projection.working_known() == [])
            for _ in range(3):
                app.frame()
                await pilot.pause()
            assert title(screen) == "Quit with 3 order(s) whose cancel's outcome is unknown?"
            leave = screen.query_one("#leave-quit", Button)
            label = "Quit, cancels sent (l)"
            assert str(leave.label) == label
            # Laid out at its label's width, whole on the screen.
            assert leave.content_region.width >= cell_len(label), leave.content_region
            assert screen.region.contains_region(leave.region), leave.region
            await session.close()
