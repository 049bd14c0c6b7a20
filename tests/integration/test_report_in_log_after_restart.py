"""The report of a kill switch pulled on a desk is in the Log of that desk started
again, and of a watching desk: it is journaled, a log entry naming the desk
(engine/commands.py `journal_report`). Before, it was said only in a toast and the
desk's own Log line of it, gone with the desk. On a real Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine.commands import CancelAll, CancelAllDone
from silvertine_tui.engine.session import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import LogEvent
from silvertine_tui.events.payloads import REPORT_OF
from tests.support.desks import desk, resting_buy, until
from tests.support.redis_server import RedisServer
from tests.ui.conftest import Desk, FakeClock, make_settings
from tests.ui.test_health_bus import frames_until
from tests.ui.test_projection_rebuild import quiet_app

pytestmark = pytest.mark.redis


def session_on(url: str, prefix: str, clock: FakeClock) -> Session:
    bus = create_bus(url, BusOptions(prefix=prefix, block_ms=50, epoch_check_s=0.1))
    return Session(make_settings(), bus=bus, clock=clock.ns)


def logged(desk: Desk, text: str) -> list[str]:
    return [line.text for line in desk.app.model.log if text in line.text]


async def test_a_kill_switchs_report_is_in_the_log_after_a_restart_and_on_a_watcher(
    key_prefix: str, tmp_path: Path
) -> None:
    clock = FakeClock()
    with RedisServer() as server:
        first = session_on(server.url, key_prefix, clock)
        app = quiet_app(first, clock, tmp_path / "first.json")
        desk = Desk(app, first, clock)
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await resting_buy(first, "paper")
            await desk.settle(pilot)
            await pilot.press("ctrl+backslash")
            await pilot.pause()
            await pilot.press("y")
            await desk.settle(pilot)
            [toast] = [n for n in app._notifications if n.title == "kill switch"]
            assert toast.message == "Trading HALTED; cancelled 1 order(s)."
            said = f"{first.engine.desk_name}, kill switch: {toast.message}"
            # Once, read back from the journal; on this desk, as its toast's line read.
            mine = f"kill switch: {toast.message}"
            await frames_until(app, pilot, lambda: logged(desk, mine) != [])
            assert logged(desk, "kill switch: Trading HALTED") == [mine]
            await first.close()

        again = session_on(server.url, key_prefix, clock)
        app = quiet_app(again, clock, tmp_path / "again.json")
        desk = Desk(app, again, clock)
        async with app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            # (The same host and pid, in this test: the desk's own name, not said.)
            await frames_until(app, pilot, lambda: logged(desk, mine) != [])
            assert logged(desk, mine) == [mine]
            await again.close()

        settings = Settings.model_validate({"bus": {"url": server.url, "prefix": key_prefix}})
        options = BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1, passive=True)
        watch = WatchSession(settings, bus=create_bus(server.url, options))
        try:
            await watch.open()
            app = quiet_app(watch, clock, tmp_path / "watch.json")
            desk = Desk(app, watch, clock)
            async with app.run_test(size=(120, 36)) as pilot:
                await frames_until(app, pilot, lambda: logged(desk, said) != [])
                assert logged(desk, said) == [f"INFO {said}"]
        finally:
            await watch.close()


async def test_a_report_made_while_redis_is_down_is_not_claimed_journaled(
    key_prefix: str,
) -> None:
    """Redis out of reach as a cancel all reports: the report is not journaled now, and
    not held to be written later (the bus would have kept it in memory, said it was
    written, and the desk's Log lost the toast's own line for the outage): the outcome
    says so, and the toast's own Log line stands in for it."""
    with RedisServer() as server:
        session = desk(server.url, key_prefix, "paper")
        await session.start()
        try:
            await resting_buy(session, "paper")
            await server.akill()
            await until(lambda: not session.bus.stats.connected)
            outcome = await session.command_gateway().send(CancelAll())
            assert isinstance(outcome, CancelAllDone)
            assert outcome.journaled is False
            await server.arestart()
            await until(lambda: session.bus.stats.connected, timeout=20)
            await asyncio.sleep(0.5)  # what waited in memory is written by now
            health = await session.bus.read_last(session.bus.layout.health, 1_000)
            reports = [
                e
                for e in health
                if isinstance(e.event, LogEvent) and REPORT_OF in e.event.payload.fields
            ]
            assert reports == []
        finally:
            await session.close()
