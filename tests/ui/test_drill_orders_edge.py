"""The Orders pane's bottom line is never cut by an ellipsis (docs/ui.md, Orders): where
the edge is too short for the whole, what says least goes first and its words get
shorter. With Redis stopped, a cancel sent and an order sent meanwhile, it read at
120x36 `paper/main: 8 events wait for Redis, 1 order not listed; 1 cxl… sent,…` and at
80x24 `...; 1 cxl… sent, not in the journal yet; 1 w…` (a trader's drill on the paper
desk). The short form is now the longest of its shorter forms that leaves room for the
counts (`Blotter.unknown_forms`, fitted by the pane), chosen again as it is resized.

The first test runs a real `redis-server` it kills under the desk; the second, the
paper broker's link dropped, needs none: its line was cut in the All view at 120x36
(`paper/main DISCONNECTED: 1 order's state unknown; all today: 1, 1 working`, 73
cells on an edge of 70)."""

from __future__ import annotations

from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.format import shown
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, limit_buy
from .test_fill_line import header_text
from .test_health_bus import frames_until, redis_desk

BTC = "BTCUSDT.PAPER"
FIRST, SECOND, SENT = (f"st00000000000000096{n}" for n in (1, 2, 3))


def edge_line(desk: Desk) -> str:
    """The Orders pane's bottom edge as drawn on the screen."""
    pane = desk.app.screen.query_one("#pane-blotter", Pane)
    lines = [strip.text for strip in desk.app.screen._compositor.render_strips()]
    region = pane.region
    return lines[region.bottom - 1][region.x : region.right]


def said_whole(desk: Desk) -> tuple[str, str]:
    """(the text the edge says, the edge as drawn)."""
    pane = desk.app.screen.query_one("#pane-blotter", Pane)
    return shown(pane._subtitle), edge_line(desk)


@pytest.mark.redis
@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_orders_edge_with_redis_down_is_never_cut(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-edge-down", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=size) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            for n, coid in enumerate((FIRST, SECOND)):
                await session.engine.submit(limit_buy(coid, BTC, "0.01", f"{63500 + n}.00"))
            blotter = app.screen.query_one(Blotter)
            await frames_until(app, pilot, lambda: {FIRST, SECOND} <= set(blotter.row_keys))

            await server.akill()
            await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(desk))
            await pilot.press("3", "home", "c")  # a cancel, not in the journal yet
            # An order sent meanwhile: the pane cannot list it yet.
            await session.engine.submit(limit_buy(SENT, BTC, "0.01", "63400.00"))
            pane = app.screen.query_one("#pane-blotter", Pane)
            await frames_until(
                app,
                pilot,
                lambda: (
                    "cxl… sent" in pane._subtitle
                    and "not listed" in pane._subtitle
                    and "cxl… sent, not in the journal yet" in pane._subtitles[0]
                    and "(1 order not in Orders yet)" in pane._subtitles[0]
                ),
            )
            await pilot.pause()
            text, drawn = said_whole(desk)
            assert text in drawn, (text, drawn)  # whole, no `…` cutting it
            assert text.endswith(" working"), text  # the counts too, after it
            # Every fact is still said, in fewer words where the edge is short.
            assert "cxl… sent" in text
            assert "1 not listed" in text or "1 order not listed" in text
            assert "wait for Redis" in text

            # Zoomed (the whole screen's width), then back: chosen again each time.
            await pilot.press("f11")
            await frames_until(app, pilot, lambda: said_whole(desk)[0] in said_whole(desk)[1])
            await pilot.press("f11")
            await frames_until(app, pilot, lambda: said_whole(desk)[0] in said_whole(desk)[1])
            text, drawn = said_whole(desk)
            assert text in drawn, (text, drawn)

            await server.arestart()
            await frames_until(app, pilot, lambda: "wait for Redis" not in pane._subtitle)
            await session.close()


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_orders_edge_of_a_disconnected_broker_is_never_cut(
    make_desk, size: tuple[int, int]
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await desk.session.engine.submit(limit_buy(FIRST, BTC, "0.01", "63500"))
        await desk.step(pilot, 1)
        await desk.broker.drop_link("venue gone")
        await pilot.press("3")  # the Orders pane (one pane at a time at 80x24)
        await desk.settle(pilot)
        for view in ("working", "all"):
            if view == "all":
                await pilot.press("a")
                await desk.settle(pilot)
            pane = desk.app.screen.query_one("#pane-blotter", Pane)
            assert "paper/main DISCONNECTED: 1 order's state unknown" in pane._subtitles[0]
            text, drawn = said_whole(desk)
            assert text in drawn, (view, text, drawn)  # whole, no `…` cutting it
            assert text.startswith("paper/main DISCONNECTED: 1 "), text
            assert "unknown" in text
            assert " working" in text, text  # the counts after it
        await desk.session.close()
