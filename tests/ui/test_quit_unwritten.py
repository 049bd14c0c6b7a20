"""The quit dialog says what the journal has not taken yet: events the bus holds in
memory while Redis is out of reach (its outage buffer), how many, as the count moves
while the dialog is open, that quitting now loses them from the journal, and what to
do; and that they are written once Redis has taken them. Before, the dialog said
nothing of them: only a line on stderr after the exit did.

The desk is the real app on a real session and paper broker on a real `redis-server`
the test kills and starts again under it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.quit import QuitScreen
from tests.support.redis_server import RedisServer

from .conftest import FakeClock, limit_buy, market_buy
from .test_health_bus import redis_desk

pytestmark = pytest.mark.redis


async def frames_until(
    app: SilvertineApp, pilot: Pilot[None], done: Callable[[], bool], what: str = ""
) -> None:
    for _ in range(300):
        app.frame()
        await pilot.pause()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out: {what}")


def journal_line(dialog: QuitScreen) -> Static:
    return dialog.query_one("#quit-journal", Static)


def dialog_text(app: SilvertineApp) -> str:
    """The dialog's box as it is on the screen, its lines joined (its edges off)."""
    box = app.screen.query_one("#dialog").region
    strips = app.screen._compositor.render_strips()
    rows = [strip.text[box.x + 1 : box.right - 1] for strip in strips[box.y + 1 : box.bottom - 1]]
    return " ".join(" ".join(rows).split())


def said_of_journal(app: SilvertineApp, working: int = 1) -> str:
    """What the dialog says of the journal, between its title and its keys; the title
    counts `working` orders (those sent while Redis is down too: the venue works them,
    their events wait in memory)."""
    text = dialog_text(app)
    head = f"Quit with {working} working order(s)?"
    assert text.startswith(head), text
    return text[len(head) : text.index("C (shift+c)")].strip()


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
async def test_the_quit_dialog_says_the_events_the_journal_has_not_taken(
    tmp_path: Path, clock: FakeClock, size: tuple[int, int]
) -> None:
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix=f"t-quit-{size[0]}", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        stats = session.bus.stats
        async with app.run_test(size=size) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 2)
            engine = session.engine
            await engine.submit(limit_buy("st000000000000000901", "ETHUSDT.PAPER", "0.1", "3400"))
            await frames_until(app, pilot, lambda: session.projection.working_count() == 1)

            # Nothing waits: the dialog says nothing of the journal.
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            assert stats.exec_buffered == 0
            assert said_of_journal(app) == ""
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))

            await server.akill()
            await frames_until(app, pilot, lambda: not stats.connected, "the bus down")
            # Orders sent meanwhile wait in memory with their reports and fills.
            await engine.submit(limit_buy("st000000000000000902", "ETHUSDT.PAPER", "0.1", "3400"))
            await frames_until(app, pilot, lambda: stats.exec_buffered > 0, "events waiting")

            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            dialog = app.screen
            assert isinstance(dialog, QuitScreen)

            working = 2  # 901, and 902 sent meanwhile (not in Orders yet)

            def says(count: int) -> bool:
                said = said_of_journal(app, working)
                return said.startswith(f"NOT JOURNALED: {count:,} event(s) (")

            bus = session.bus
            await frames_until(app, pilot, lambda: says(bus.unwritten()[0]), "the count said")
            waiting, fills = bus.unwritten()
            # Whole on the screen, at 80x24 too.
            assert said_of_journal(app, working) == (
                f"NOT JOURNALED: {waiting:,} event(s) ({fills} fill(s)) wait in memory, not "
                "written to Redis yet. Quit now and what Redis has not taken within 2 s is "
                "lost from the journal (only the log file keeps it). Stay (esc) until "
                "Health (6) shows the bus connected and none waiting."
            )
            assert journal_line(dialog).has_class("-unwritten")

            # More come in while the dialog is open: the count follows.
            await engine.submit(limit_buy("st000000000000000903", "ETHUSDT.PAPER", "0.1", "3400"))
            await frames_until(app, pilot, lambda: bus.unwritten()[0] > waiting, "more waiting")
            # The title counts 903 too (it follows the count: tests/ui/test_quit_title_follows.py).
            working = 3
            await frames_until(app, pilot, lambda: says(bus.unwritten()[0]), "the new count")
            assert not app._exit

            # Redis back: the backlog is written, and the dialog says so.
            await server.arestart()
            await frames_until(
                app, pilot, lambda: stats.connected and bus.unwritten() == (0, 0), "Redis back"
            )
            await frames_until(
                app,
                pilot,
                lambda: (
                    said_of_journal(app, working)
                    == "Journal written: no event waits for Redis now."
                ),
                "written said",
            )
            assert journal_line(dialog).has_class("-written")
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))
            await session.close()


async def test_q_with_nothing_working_asks_while_events_are_not_journaled(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Nothing working (a market order sent while Redis is down filled at once; its
    events are in the bus's outage buffer, not yet in the streams the desk is drawn
    from), but the journal lacks its events: `q` asked nothing and quit at once, the
    events lost from the journal with only a line on stderr after it. It asks now,
    offering only to quit or stay. (An order sent meanwhile that the venue works is
    counted working and can be cancelled: tests/ui/test_quit_outage_working.py.)"""
    with RedisServer(persistence=True) as server:
        options = BusOptions(prefix="t-quit-none", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        stats, bus = session.bus.stats, session.bus
        async with app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 2)
            await server.akill()
            await frames_until(app, pilot, lambda: not stats.connected, "the bus down")
            assert bus.unwritten() == (0, 0)
            await session.engine.submit(market_buy("st000000000000000911", "ETHUSDT.PAPER", "0.1"))
            await frames_until(app, pilot, lambda: bus.unwritten()[1] > 0, "its fill waiting")
            assert session.projection.working_count() == 0
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "dialog")
            text = dialog_text(app)
            assert text.startswith("Quit with events not journaled? NOT JOURNALED:"), text
            assert "l: quit now." in text
            assert "C (shift+c)" not in text  # nothing to cancel
            assert not app.screen.query("#cancel-quit")
            await pilot.press("C")  # offered nothing: does nothing
            await pilot.pause()
            assert isinstance(app.screen, QuitScreen)
            assert not app._exit
            await pilot.press("escape")
            await frames_until(app, pilot, lambda: not isinstance(app.screen, QuitScreen))
            assert not app._exit
            await pilot.press("q")
            await frames_until(app, pilot, lambda: isinstance(app.screen, QuitScreen), "again")
            await pilot.press("l")
            await frames_until(app, pilot, lambda: bool(app._exit), "quit")
        await session.close()
        assert stats.closed_unwritten > 0  # what the dialog warned of
