"""A cancel sent while the bus is lost says so at once and marks its row: the Orders
pane draws from the journal, and the venue's CANCELED waits in memory with every other
event until Redis is back. Before, `c` on a row with Redis killed gave no toast and no
Log line, and the row kept reading NEW (the reviewer's s3b_cancel_down); the kill
switch left HALTED over `NEW` rows (s6_killed_paused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, limit_buy
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk

BTC = "BTCUSDT.PAPER"
FIRST, SECOND, THIRD = (f"st00000000000000050{n}" for n in (1, 2, 3))


def status_cell(desk: Desk, coid: str) -> str:
    return desk.app.screen.query_one(Blotter).get_cell(coid, "status").plain


def toasts(desk: Desk, title: str) -> list[str]:
    return [n.message for n in desk.app._notifications if n.title == title]


def log_lines(desk: Desk) -> list[str]:
    return [line.text for line in desk.app.model.log]


def subtitle(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#pane-blotter").border_subtitle)


async def resting_orders(desk: Desk, pilot, *coids: str) -> None:
    for n, coid in enumerate(coids):
        await desk.session.engine.submit(limit_buy(coid, BTC, "0.01", f"{63500 + n}.00"))
    blotter = desk.app.screen.query_one(Blotter)
    await frames_until(desk.app, pilot, lambda: all(c in blotter.row_keys for c in coids))


@pytest.mark.redis
async def test_a_cancel_sent_with_the_bus_down_says_so_and_marks_its_row(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-cxl-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND)
            blotter = app.screen.query_one(Blotter)

            # The bus up: the row simply leaves, nothing more is said.
            await pilot.press("3", "home", "c")
            await frames_until(app, pilot, lambda: FIRST not in blotter.row_keys)
            assert toasts(desk, "Cancel sent") == []

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("3", "home", "c")
            await frames_until(app, pilot, lambda: bool(toasts(desk, "Cancel sent")))
            said = (
                "cancel of 00000502 sent; BUS DOWN: shown when the bus is back "
                "(Orders marks it cxl… until then)"
            )
            assert toasts(desk, "Cancel sent") == [said]
            assert f"Cancel sent: {said}" in log_lines(desk)
            await frames_until(app, pilot, lambda: status_cell(desk, SECOND) == "NEW cxl…")
            style = blotter.get_cell(SECOND, "status").style
            assert isinstance(style, Style)
            assert style.italic  # not the journal's word
            assert "1 cxl… sent, not in the journal yet" in subtitle(desk)
            view = session.projection.order(SECOND)
            assert view is not None
            assert view.order.status is OrderStatus.NEW  # the journal has not said more

            await server.arestart()
            await frames_until(app, pilot, lambda: SECOND not in blotter.row_keys)
            assert view.order.status is OrderStatus.CANCELED
            assert "cxl…" not in subtitle(desk)
            await pilot.press("a")  # all of today's: the row reads the journal's word
            await frames_until(app, pilot, lambda: SECOND in blotter.row_keys)
            assert status_cell(desk, SECOND) == "CANCELED"
            assert toasts(desk, "Cancel sent") == [said]  # once
            await session.close()


@pytest.mark.redis
async def test_the_kill_switch_with_the_bus_down_marks_every_row_it_cancelled(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-kill-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await resting_orders(desk, pilot, FIRST, SECOND, THIRD)
            blotter = app.screen.query_one(Blotter)

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("ctrl+backslash")
            await pilot.pause()
            await pilot.press("y")
            await frames_until(app, pilot, lambda: bool(toasts(desk, "Kill switch sent")))
            assert toasts(desk, "Kill switch sent") == [
                "cancel of 3 order(s) sent; BUS DOWN: shown when the bus is back "
                "(Orders marks it cxl… until then)"
            ]
            assert "HALTED" in header_text(desk)
            await frames_until(
                app,
                pilot,
                lambda: all(status_cell(desk, c) == "NEW cxl…" for c in (FIRST, SECOND, THIRD)),
            )
            assert "3 cxl… sent, not in the journal yet" in subtitle(desk)

            await server.arestart()
            await frames_until(app, pilot, lambda: not blotter.row_keys)
            assert "cxl…" not in subtitle(desk)
            await session.close()
