"""A watching desk's start-up banner says what its start means for what it shows, not
that orders are refused: it sends none. Before, the start's banner (unlike the
rebuild's) said "orders are refused until recovery and reconcile are done". The
watching desk's app on a real Redis that stops answering (SIGSTOP) as the desk starts,
so the banner stays up long enough to be read; then Redis answers and the banner goes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.startup import ORDERS_WAIT, WATCH_STARTING, StartupBanner
from tests.support.desks import resting_buy, until
from tests.support.redis_server import RedisServer
from tests.ui.conftest import FakeClock
from tests.ui.test_health_bus import frames_until
from tests.ui.test_projection_rebuild import quiet_app

from .test_watch_journal_lost import paper_desk

pytestmark = pytest.mark.redis


def start_banner(app: SilvertineApp) -> StartupBanner | None:
    found = app.screen.query("#startup")
    return found.first(StartupBanner) if found else None


async def test_the_watching_desks_start_banner_says_what_it_shows_not_that_orders_wait(
    key_prefix: str, tmp_path: Path
) -> None:
    with RedisServer() as server:
        first = paper_desk(server.url, key_prefix)
        await first.start()
        settings = Settings.model_validate({"bus": {"url": server.url, "prefix": key_prefix}})
        bus = create_bus(
            server.url, BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1, passive=True)
        )
        watch = WatchSession(settings, bus=bus, discover_every_s=0.5)
        stopped = False
        try:
            await resting_buy(first, "paper")
            await watch.open()
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)  # the start's replay waits for Redis
            stopped = True
            app = quiet_app(watch, FakeClock(), tmp_path / "watch.json")
            async with app.run_test(size=(120, 36)) as pilot:
                await frames_until(app, pilot, lambda: start_banner(app) is not None)
                banner = start_banner(app)
                assert banner is not None
                assert banner.border_title == "starting"
                await frames_until(app, pilot, lambda: len(banner.shown) > 0)
                assert WATCH_STARTING in banner.shown[-1], banner.shown
                assert all(ORDERS_WAIT not in shown for shown in banner.shown), banner.shown

                os.kill(server.pid, signal.SIGCONT)
                stopped = False
                await until(lambda: watch.progress.phase == StartPhase.READY, timeout=20)
                await frames_until(app, pilot, lambda: start_banner(app) is None)
                assert all(ORDERS_WAIT not in shown for shown in banner.shown), banner.shown
        finally:
            if stopped and server.pid is not None:
                os.kill(server.pid, signal.SIGCONT)
            await watch.close()
            await first.close()
