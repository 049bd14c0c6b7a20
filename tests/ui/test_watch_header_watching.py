"""A watching desk's header says WATCHING whatever else it shows (the chaos review's
LOW 2): with its bus down `BUS DOWN` took the place where it said so, and the header
read as a driving desk's (`PAPER ACTIVE BUS DOWN redis://...`, the key bar alone
saying WATCHING); at 80 columns a fill took it too. At 120x36 the name's place says
it; at 80x24 (the compact layout, no name) and under a dialog it follows `BUS DOWN`
(before the bus's address), or the state before a fill.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.engine import Session
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.format import state_words
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.widgets.header import BUS_DOWN, WATCHING_WORD, DeskHeader
from tests.support.redis_server import RedisServer

from .conftest import FakeClock, make_settings, market_buy
from .test_health_bus import frames_until
from .test_projection_rebuild import drawn, live_desk
from .test_watch_desk import PREFIX, watch_session, watching_desk


def header(app: SilvertineApp) -> DeskHeader:
    """The desk's header (under a dialog too)."""
    (main,) = [screen for screen in app.screen_stack if isinstance(screen, MainScreen)]
    return main.query_one(DeskHeader)


def header_text(app: SilvertineApp) -> str:
    return str(header(app).render())


def state(app: SilvertineApp) -> str:
    """The trading state as the header says it (the live desk left REDUCE ONLY)."""
    return f" {state_words(app.desk.view.trading_state)} "


def says_watching_and_down(app: SilvertineApp, line: str) -> None:
    assert line.startswith(" PAPER "), line
    assert state(app) in line, line
    assert "WATCHING" in line, line
    assert "BUS DOWN" in line, line


@pytest.mark.redis
@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_a_watching_desk_says_watching_while_its_bus_is_down(
    size: tuple[int, int], tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer() as server:
        asyncio.run(live_desk(server.url, PREFIX, clock, tmp_path / "live.json"))
        session = watch_session(server.url, clock)

        async def run() -> None:
            await session.open()
            app, desk = watching_desk(session, clock, tmp_path / "watch.json")
            async with app.run_test(size=size) as pilot:
                await drawn(app, desk, pilot)
                assert "WATCHING" in header_text(app) or "  watching redis://" in (header_text(app))
                await server.akill()
                await frames_until(app, pilot, lambda: "BUS DOWN" in header_text(app))
                line = header_text(app)
                says_watching_and_down(app, line)
                if size == (80, 24):
                    # No name there: after `BUS DOWN`, before the bus's address (the
                    # compact layout's first cells stay the marker and the state).
                    assert line.startswith(" PAPER " + state(app) + BUS_DOWN + WATCHING_WORD)
                else:
                    assert line.startswith(" PAPER   WATCHING  " + state(app) + BUS_DOWN), line

                # Under a dialog (no name there, at any size): after `BUS DOWN`, and a
                # toast over the line starts after it, never over it.
                app.clear_notifications()
                await pilot.press("ctrl+backslash")
                await pilot.pause()
                assert isinstance(app.screen, ConfirmScreen)
                line = header_text(app)
                says_watching_and_down(app, line)
                assert line.startswith(" PAPER " + state(app) + BUS_DOWN + WATCHING_WORD)
                assert header(app).state_cells() == len(
                    " PAPER " + state(app) + BUS_DOWN + WATCHING_WORD
                ), line
                await pilot.press("escape")
                await pilot.pause()
            await session.close()

        asyncio.run(run())


async def test_a_watching_desk_says_watching_beside_a_fill_at_80_columns(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A fill of the desk it watches takes the line after the state at 80 columns,
    where no name shows: WATCHING stays, before it."""
    from silvertine_tui.config import Settings
    from silvertine_tui.engine.watch import WatchSession

    from .conftest import Desk
    from .test_projection_rebuild import quiet_app

    prefix = "t-watch-header-fill"
    bus = MemoryBus(BusOptions(prefix=prefix, block_ms=50), clock_ms=clock.ms)
    trading = Session(make_settings(), bus=bus, clock=clock.ns)
    await trading.start()
    await trading.brokers[0].stop_health_loop()
    settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": prefix}})
    watch = WatchSession(settings, bus=bus, clock=clock.ns)
    await watch.open()
    app = quiet_app(watch, clock, tmp_path / "watch.json")
    desk = Desk(app, watch, clock)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            await desk.settle(pilot)
            await trading.engine.submit(market_buy("st000000000000000911", "ETHUSDT.PAPER", "1"))
            await bus.flush()
            for _ in range(100):
                await desk.settle(pilot)
                if "FILL BUY" in header_text(app):
                    break
                await asyncio.sleep(0.02)
            line = header_text(app)
            assert "FILL BUY 1 ETHUSDT.PAPER" in line, line
            assert line.startswith(" PAPER  ACTIVE " + WATCHING_WORD + "  FILL BUY"), line
            await pilot.press("q")
    finally:
        await watch.close()
        await trading.close()
