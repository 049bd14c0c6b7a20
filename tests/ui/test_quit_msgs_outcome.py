"""The quit dialog says what it knows. "Cancel & quit" with the bus down: the cancels
went out (marked `cxl…` in Orders) and the journal cannot show the broker's answer, so
their outcome is unknown, not failed: the dialog says so, points to the bus, and offers
to wait for it (quitting once it shows them cancelled) or to quit leaving them as sent.
Before, 5 s after `C` it toasted `Cancel before quit failed / 1 order(s) still working
... check the broker in Health (6)`, the broker LIVE and the order cancelled (q120_04).
On the memory bus the paper account lives in this process: its orders end with the
desk, and the dialog no longer offers to "leave them working at the broker" (p120_35).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Button, Static

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.screens.quit import QuitScreen
from tests.support.redis_server import RedisServer

from .conftest import FakeClock
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk
from .test_outage_rows_cancel import FIRST, resting_orders, toasts


def body(screen: QuitScreen) -> str:
    return str(screen.query_one("#dialog-body", Static).render())


@pytest.mark.redis
async def test_cancel_and_quit_with_the_bus_down_says_the_outcome_is_unknown(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-quit-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST)
            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("q")
            await pilot.pause()
            found = app.screen
            assert isinstance(found, QuitScreen)
            screen: QuitScreen = found
            await pilot.press("C")
            await frames_until(app, pilot, lambda: "outcome unknown" in body(screen))
            said = body(screen)
            assert said.startswith(
                "Cancel sent for 1 order(s), outcome unknown: the bus is down (no "
                f"connection to {session.bus_url}), so the journal cannot show the "
                "broker's answer; 1 marked cxl… in Orders."
            )
            assert "Waiting for the bus: this quits once it shows them cancelled." in said
            assert "l: quit now, leaving them as sent" in said
            assert screen.query_one("#cancel-quit", Button).disabled
            leave = screen.query_one("#leave-quit", Button)
            assert not leave.disabled
            assert str(leave.label) == "Quit, cancels sent (l)"
            # Past the 5 s the cancel is given: still unknown, not "failed".
            for _ in range(30):  # (6 s on the real loop)
                app.frame()
                await pilot.pause()
                await asyncio.sleep(0.2)
            assert toasts(desk, "Cancel before quit failed") == []
            assert app.screen is screen

            await server.arestart()
            view = session.projection.order(FIRST)
            assert view is not None
            await frames_until(app, pilot, lambda: view.order.status is OrderStatus.CANCELED)
            await frames_until(
                app, pilot, lambda: screen.outcome == "Every order is cancelled. Quitting."
            )
            assert toasts(desk, "Cancel before quit failed") == []
            await session.close()


async def test_the_memory_bus_paper_desk_says_its_orders_end_with_it(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await resting_orders(desk, pilot, FIRST)
        await pilot.press("q")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, QuitScreen)
        said = body(screen)
        assert "leave them working at the broker" not in said
        assert "l: quit: the orders end with the desk." in said
        assert said.endswith(
            "1 order(s) on paper/main end with the desk: its simulated account lives in "
            "this process (memory bus), nothing keeps them after quit."
        )
        assert str(screen.query_one("#leave-quit", Button).label) == "Quit (l)"
        await pilot.press("escape")
        await desk.session.close()
