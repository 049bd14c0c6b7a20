"""The PAPER/LIVE marker comes from the configuration and from the journal's broker
profiles, never from a broker object: a desk watching another desk's live streams, with
no broker of its own, says LIVE."""

from __future__ import annotations

import asyncio
from pathlib import Path

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.engine import Session
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.events.payloads import BrokerProfile
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.state import UserState
from silvertine_tui.ui.widgets.header import DeskHeader

from .conftest import FakeClock, make_settings


def marker(app: SilvertineApp) -> str:
    header = app.screen.query_one(DeskHeader)
    return header.render().plain.split(" SILVERTINE")[0].strip()


async def test_a_watching_desk_says_live_once_the_journal_shows_a_live_broker(
    tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(paper={"enabled": False})
    assert not settings.enabled_brokers
    session = Session(settings, bus=MemoryBus(BusOptions(), clock_ms=clock.ms), clock=clock.ns)
    projection = DeskProjection()
    app = SilvertineApp(
        session,
        clock=clock.s,
        monotonic=clock.monotonic,
        state=UserState(tmp_path / "state.json"),
        projection=projection,
        cursor_blink=False,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 10)
        await pilot.pause()
        assert marker(app) == "PAPER"
        projection.apply_profile(BrokerProfile(broker="paper", live=False))
        app.frame()
        await pilot.pause()
        assert marker(app) == "PAPER"
        projection.apply_profile(BrokerProfile(broker="binance", live=True))
        app.frame()
        await pilot.pause()
        assert marker(app) == "LIVE"
    await session.close()
