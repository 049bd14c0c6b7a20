"""What a watching desk's screen shows while it rebuilds after Redis lost the journal:
the start-up banner again ("rebuilding", with what it waits for), over panes that no
longer show the orders Redis lost; then the rebuilt desk, the banner gone. Before, the
Orders pane went on showing the lost orders, NEW, for as long as the desk ran, and only
a toast, gone in a minute, said to restart it. The watching desk's app on a real
Redis, killed while the rebuild runs and started again empty."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.recovery import StartPhase
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.startup import StartupBanner
from tests.support.desks import resting_buy, status, until
from tests.support.redis_server import RedisServer
from tests.ui.conftest import FakeClock
from tests.ui.test_health_bus import frames_until
from tests.ui.test_projection_rebuild import quiet_app

from .test_watch_journal_lost import paper_desk

pytestmark = pytest.mark.redis

WAITS = "Redis lost data and is out of reach: the rebuild waits for it"


def orders_title(app: SilvertineApp) -> str:
    return str(app.screen.query_one("#pane-blotter").border_subtitle)


def orders_rows(app: SilvertineApp) -> int:
    return len(app.screen.query_one(Blotter)._cells)


def rebuild_banner(app: SilvertineApp) -> StartupBanner | None:
    found = app.screen.query("#rebuild")
    return found.first(StartupBanner) if found else None


async def test_the_watching_screen_shows_the_rebuild_and_never_the_lost_orders(
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
        rebuild: asyncio.Task[None] | None = None
        try:
            cids = [await resting_buy(first, "paper") for _ in range(2)]
            await until(lambda: all(status(first, c) is OrderStatus.NEW for c in cids))
            await watch.open()
            app = quiet_app(watch, FakeClock(), tmp_path / "watch.json")
            async with app.run_test(size=(120, 36)) as pilot:
                await asyncio.wait_for(app.ready.wait(), 10)
                await frames_until(app, pilot, lambda: orders_rows(app) == 2)
                assert orders_title(app).startswith("2 working"), orders_title(app)
                await first.close()  # leaves them working

                # Redis restarts empty: the lost orders leave the screen, said in a toast.
                await server.akill()
                await server.arestart()
                await frames_until(app, pilot, lambda: orders_rows(app) == 0)
                # (The rows go as the rebuild empties the projection; it is counted
                # once it has read what Redis holds now: under load, frames later.)
                await frames_until(app, pilot, lambda: watch.rebuilds == 1)
                assert not orders_title(app).startswith("2 working"), orders_title(app)
                assert "Redis lost data" in [n.title for n in app._notifications]
                await frames_until(app, pilot, lambda: rebuild_banner(app) is None)

                # Lost again, and Redis out of reach as the rebuild begins: the banner
                # says what it waits for, over panes that show nothing lost.
                second = paper_desk(server.url, key_prefix)
                await second.start()
                try:
                    cid = await resting_buy(second, "paper")
                    await frames_until(app, pilot, lambda: orders_rows(app) == 1)
                    assert cid in watch.projection.orders
                finally:
                    await second.close()
                await server.akill()
                await until(lambda: not watch.bus.stats.connected)
                rebuild = asyncio.create_task(watch.rebuild("Redis lost data (a drill)"))
                await frames_until(app, pilot, lambda: rebuild_banner(app) is not None)
                await frames_until(app, pilot, lambda: orders_rows(app) == 0)
                banner = rebuild_banner(app)
                assert banner is not None
                await frames_until(app, pilot, lambda: WAITS in banner.shown[-1])
                assert banner.border_title == "rebuilding"

                await server.arestart()  # empty
                await until(lambda: watch.progress.phase == StartPhase.READY, timeout=20)
                await frames_until(app, pilot, lambda: rebuild_banner(app) is None)
                assert orders_rows(app) == 0
                assert watch.projection.working() == []
        finally:
            if rebuild is not None:
                rebuild.cancel()
            await watch.close()
            await first.close()
