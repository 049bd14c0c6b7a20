"""The toast that says Redis lost the journal while no desk ran is titled so, "Journal
lost while no desk ran", as the session's alert names it; it read "Error" (the chaos
review), and said once, not once per way it reached the desk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from silvertine_tui.domain import TradingState
from silvertine_tui.engine import Session
from tests.integration.test_last_run import leave, waiting_briefly
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app

TITLE = "Journal lost while no desk ran"
SAID = "Redis lost the journal this host's desk last wrote"


@pytest.mark.redis
async def test_the_journal_lost_toast_is_titled_by_what_happened(
    tmp_path: Path, clock: FakeClock, key_prefix: str
) -> None:
    with RedisServer() as server:
        await leave(server, key_prefix, TradingState.ACTIVE)
        await server.akill()
        await server.arestart()  # no persistence: the journal and the epoch are gone

        session = Session(waiting_briefly(server.url, key_prefix), clock=clock.ns)
        app = quiet_app(session, clock, tmp_path / "state.json")
        desk = Desk(app, session, clock)
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await asyncio.wait_for(app.ready.wait(), 20)
            await frames_until(
                app, pilot, lambda: any(SAID in n.message for n in app._notifications)
            )
            for _ in range(10):  # (a second way of saying it has come by now)
                app.frame()
                await pilot.pause()
            said = [(n.title, n.severity) for n in app._notifications if SAID in n.message]
            assert said == [(TITLE, "error")], said
            # And one Log line: the session's alert is the journaled line's (it added
            # a second when read first).
            lines = [line.text for line in app.model.log if SAID in line.text]
            assert len(lines) == 1, lines
            assert desk.session is session
            await session.close()
