"""A watching desk's health pane says STALE for a broker whose heartbeats stopped (its
desk killed: no DISCONNECTED ever comes), with how long and that its desk may be down,
and toasts it once; a heartbeat heard again puts it back (engine/watch.py).

The trading desk and the watching desk share one memory bus and the test clock; the
trading desk's heartbeats are published by hand (the test desk's health loop is off),
so "killed" is: no more of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane

from .conftest import Desk, FakeClock, make_settings
from .test_projection_rebuild import quiet_app

PREFIX = "t-watch-stale"


def toasts(app: SilvertineApp) -> list[tuple[str, str, str]]:
    return [(n.title, n.message, n.severity) for n in app._notifications]


def pane(app: SilvertineApp) -> str:
    return app.screen.query_one(HealthPane).text.plain


async def test_a_broker_not_heard_from_shows_stale_and_comes_back(
    tmp_path: Path, clock: FakeClock
) -> None:
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    trading = Session(make_settings(), bus=bus, clock=clock.ns)
    await trading.start()
    broker = trading.brokers[0]
    await broker.stop_health_loop()
    await broker.publish_health()
    settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": PREFIX}})
    watch = WatchSession(settings, bus=bus, clock=clock.ns, stale_after_s=5.0, stale_check_s=0.05)
    await watch.open()
    app = quiet_app(watch, clock, tmp_path / "watch.json")
    desk = Desk(app, watch, clock)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            await pilot.press("6")  # the health pane
            # Heartbeats a second apart: live, whatever the time.
            for _ in range(4):
                clock.advance(1.0)
                await broker.publish_health()
                await desk.settle(pilot)
            assert "paper/main LIVE" in pane(app)
            await asyncio.sleep(3.0)  # the watching desk's first look waits 2.5 s
            await desk.settle(pilot)
            assert "STALE" not in pane(app)
            app.clear_notifications()

            # Killed: no heartbeat more. Five seconds on, it is not yet stale.
            clock.advance(5.0)
            await asyncio.sleep(0.2)
            await desk.settle(pilot)
            assert "STALE" not in pane(app)
            clock.advance(1.0)
            for _ in range(100):
                await desk.settle(pilot)
                if "STALE" in pane(app):
                    break
                await asyncio.sleep(0.02)
            text = pane(app)
            assert "paper/main STALE  not heard from for 6s" in text
            assert "its desk may be down: last said LIVE; what this desk shows of it is as " in (
                text
            )
            assert "paper/main LIVE" not in text
            (toast,) = toasts(app)
            assert toast[0] == "paper/main not heard from"
            assert toast[2] == "error"
            assert "the desk driving it may be down" in toast[1]
            clock.advance(60.0)  # the age moves on; no second toast
            await asyncio.sleep(0.2)
            await desk.settle(pilot)
            assert "paper/main STALE  not heard from for 1m06s" in pane(app)
            assert len(toasts(app)) == 1

            # Heard from again: live, and told.
            await broker.publish_health()
            await desk.settle(pilot)
            assert "paper/main LIVE" in pane(app)
            assert "STALE" not in pane(app)
            assert toasts(app)[-1][0] == "paper/main heard from again"
            assert toasts(app)[-1][2] == "information"
            await pilot.press("q")
    finally:
        await watch.close()
        await trading.close()
