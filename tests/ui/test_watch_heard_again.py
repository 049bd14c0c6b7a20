"""A watching desk takes its red `paper/main not heard from` toast down the moment the
broker is heard from again (its information toast shows instead), and says it once in
the Log: `paper/main heard from again: paper/main is heard from again: ...` said it
twice, and the error toast stayed 18 to 35 s over a Health pane that read LIVE. The
rebuild's toast counts one event as one (`1 event replayed`).

As tests/ui/test_watch_stale.py: the trading desk and the watching desk share one memory
bus and the test clock; the trading desk's heartbeats are published by hand, so
"killed" is: no more of them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.projection import HEARD_AGAIN, NOT_HEARD
from silvertine_tui.engine.recovery import RecoveryProgress
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.toasts import dismiss_answered

from .conftest import Desk, FakeClock, make_settings
from .test_projection_rebuild import quiet_app

PREFIX = "t-watch-heard-again"


def toasts(app: SilvertineApp) -> list[tuple[str, str]]:
    return [(n.title, n.severity) for n in app._notifications]


def pane(app: SilvertineApp) -> str:
    return app.screen.query_one(HealthPane).text.plain


def log_lines(app: SilvertineApp, head: str) -> list[str]:
    return [line.text for line in app.model.log if line.text.startswith(head)]


async def test_the_not_heard_from_toast_goes_once_the_broker_is_heard_again(
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
            for _ in range(4):
                clock.advance(1.0)
                await broker.publish_health()
                await desk.settle(pilot)
            await asyncio.sleep(3.0)  # the watching desk's first look waits 2.5 s
            await desk.settle(pilot)
            app.clear_notifications()

            # Killed: six seconds with no heartbeat. The error toast shows.
            clock.advance(6.0)
            for _ in range(100):
                await desk.settle(pilot)
                if "STALE" in pane(app):
                    break
                await asyncio.sleep(0.02)
            assert toasts(app) == [("paper/main not heard from", "error")]
            assert len(log_lines(app, "paper/main not heard from")) == 1

            # Heard from again: at the next frame the error toast is gone (its time is
            # 60 s: it stood over a pane that read LIVE), the information toast shows.
            await broker.publish_health()
            await desk.settle(pilot)
            assert "paper/main LIVE" in pane(app)
            assert toasts(app) == [("paper/main heard from again", "information")]
            # The Log keeps both lines (the record), each said once.
            assert len(log_lines(app, "paper/main not heard from")) == 1
            (line,) = log_lines(app, "paper/main heard from again")
            assert line == (
                "paper/main heard from again: a desk drives it again (its heartbeats are "
                "read): what this desk shows of it is live again."
            )
            assert line.count("heard from again") == 1

            # Another toast is left as it is.
            app.notify("left alone", title="Other", severity="warning")
            clock.advance(6.0)
            for _ in range(100):
                await desk.settle(pilot)
                if "STALE" in pane(app):
                    break
                await asyncio.sleep(0.02)
            await broker.publish_health()
            await desk.settle(pilot)
            assert toasts(app) == [
                ("paper/main heard from again", "information"),
                ("Other", "warning"),
                ("paper/main heard from again", "information"),
            ]
            await pilot.press("q")
    finally:
        await watch.close()
        await trading.close()


def test_the_rebuild_toast_counts_one_event_as_one() -> None:
    settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": PREFIX}})
    watch = WatchSession(settings, bus=MemoryBus(BusOptions(prefix=PREFIX)))
    progress = RecoveryProgress()
    progress.done = 1
    words = watch._rebuilt_words("Redis lost data (epoch)", progress)
    assert "(1 event replayed)" in words
    assert "events replayed" not in words
    progress.done = 2_000
    assert "(2,000 events replayed)" in watch._rebuilt_words("Redis lost data (epoch)", progress)


async def test_a_not_heard_toast_whose_title_was_cut_is_taken_down_too(make_desk) -> None:
    """A broker of very many accounts: its "not heard from" title is cut to the toast's
    200 characters as it shows; the "heard from again" toast still takes it down (a
    code review: the exact title was looked for, and that toast stayed up)."""
    desk: Desk = make_desk()
    app = desk.app
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        accounts = ", ".join(f"paper/account{n:03d}" for n in range(20))
        app.notify("no heartbeat ...", title=accounts + NOT_HEARD, severity="error")
        app.notify("other", title="Something else", severity="warning")
        await pilot.pause()
        titles = [t for t, _ in toasts(app)]
        assert accounts + NOT_HEARD not in titles  # shown cut
        assert [t for t in titles if t.startswith(accounts[:100])] != []
        assert dismiss_answered(app, accounts + HEARD_AGAIN) == 1
        await pilot.pause()
        assert [t for t, _ in toasts(app)] == ["Something else"]
        await desk.session.close()
