"""`silvertine watch`: the desk of a watching session (engine/watch.py) on Redis.

The live desk of the projection rebuild test runs and stops on a Redis of its own; a
watching desk then starts on that Redis and prefix. Its Orders, Positions and Balances
panes and its trading state are the live desk's (the marks too: it reads the newest
quotes back at start), its header says WATCHING (snapshot), and no action for a
broker leaves it: the ticket says why before F9, and F9, cancel, modify and cancel-all
are refused with rule `watching`, with nothing journaled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from silvertine_tui.bus import BusOptions, EventBus, MemoryBus, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import QuoteEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.format import num, places_of
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.choice import Choice
from silvertine_tui.ui.widgets.header import DeskHeader
from silvertine_tui.ui.widgets.keybar import KeyBar
from silvertine_tui.ui.widgets.watchlist import Watchlist
from tests.support.desks import desk as trading_desk
from tests.support.desks import resting_buy
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock
from .test_health_bus import frames_until
from .test_projection_rebuild import Rows, as_journaled, drawn, live_desk, quiet_app

PREFIX = "t-watch-desk"


def watch_session(url: str, clock: FakeClock, bus: EventBus | None = None) -> WatchSession:
    settings = Settings.model_validate({"bus": {"url": url, "prefix": PREFIX}})
    options = BusOptions(prefix=PREFIX, block_ms=50, epoch_check_s=0.1, passive=True)
    return WatchSession(settings, bus=bus or create_bus(url, options), clock=clock.ns)


def watching_desk(
    session: WatchSession, clock: FakeClock, state: Path
) -> tuple[SilvertineApp, Desk]:
    """The app over `session`, opened first (as `silvertine watch` does: the ticket
    lists the accounts found)."""
    assert session.started
    app = quiet_app(session, clock, state)
    return app, Desk(app, session, clock)


def toasts(app: SilvertineApp) -> list[tuple[str, str]]:
    return [(n.title, n.message) for n in app._notifications]


async def last_quotes(app: SilvertineApp, bus: EventBus) -> dict[str, list[str]]:
    """Each instrument's last quote on the paper broker's market data stream: its bid,
    ask and last trade as the Quotes pane prints them."""
    latest = {}
    for entry in reversed(await bus.read_last(bus.layout.md("paper"), 100_000)):
        if isinstance(entry.event, QuoteEvent):
            latest[entry.event.payload.instrument] = entry.event.payload
    out = {}
    for key, quote in latest.items():
        inst = app.find_instrument(key)
        places = places_of(inst.tick_size) if inst is not None else None
        out[key] = [num(quote.bid, places), num(quote.ask, places), num(quote.last, places)]
    return out


def shown_quotes(app: SilvertineApp) -> dict[str, list[str]]:
    """The Quotes pane's bid, ask and last, by instrument."""
    cells = app.screen.query_one(Watchlist)._cells
    return {key: [cell.plain for cell in row[1:4]] for key, row in cells.items()}


def test_a_watching_desk_says_it_is_watching(
    snap_compare: Any, tmp_path: Path, clock: FakeClock
) -> None:
    """Its look. The streams are a memory bus's, shared in this process, so that the log
    pane's times are the test clock's (on Redis they are the server's: the next test
    shows the same desk on Redis, pane by pane)."""
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    live = asyncio.run(live_desk("memory://", PREFIX, clock, tmp_path / "live.json", bus))
    live.pop("instruments")
    session = watch_session("memory://", clock, bus)
    asyncio.run(session.open())
    app, desk = watching_desk(session, clock, tmp_path / "watch.json")
    seen: dict[str, Rows] = {}

    async def run_before(pilot: Pilot[None]) -> None:
        seen["rows"] = await drawn(app, desk, pilot)
        assert app.screen.query_one(DeskHeader).watching
        # The ticket says why before anything is typed.
        await pilot.press("2")
        await desk.quiet(pilot)  # no toast of the live desk's close a second ago

    assert snap_compare(app, terminal_size=(120, 36), run_before=run_before)
    # The live desk closed a moment ago: its broker's orders are said unknown.
    rows, said = as_journaled(seen["rows"])
    assert rows == live
    assert said == [
        "NEW?",
        "paper/main DISCONNECTED: 1 order's state unknown;",
        "(a: all) dropped",
        "balances ?",
    ]


def test_a_watching_desk_on_redis_is_the_live_desk_and_refuses_every_order_action(
    tmp_path: Path, clock: FakeClock
) -> None:
    with RedisServer() as server:
        live = asyncio.run(live_desk(server.url, PREFIX, clock, tmp_path / "live.json"))
        live.pop("instruments")

        session = watch_session(server.url, clock)

        async def lengths() -> dict[str, int]:
            bus = session.bus
            out = {}
            for stream in await bus.streams():
                info = await bus.info(stream)
                out[stream] = info.length if info is not None else 0
            return out

        async def run() -> None:
            await session.open()
            app, desk = watching_desk(session, clock, tmp_path / "watch.json")
            async with app.run_test(size=(120, 36)) as pilot:
                rows, said = as_journaled(await drawn(app, desk, pilot))
                assert rows == live
                assert said == [
                    "NEW?",
                    "paper/main DISCONNECTED: 1 order's state unknown;",
                    "(a: all) dropped",
                    "balances ?",
                ]
                # The Quotes pane shows the live desk's last quotes at once, though no
                # quote comes now (that desk is gone): each as its stream holds it.
                quotes = await last_quotes(app, session.bus)
                assert len(quotes) >= 2
                assert shown_quotes(app) == quotes
                # Toasts of what the live desk did (its ids are the server's time, after
                # this desk's test clock): the ones below are this desk's own.
                app.clear_notifications()
                before = await lengths()
                # A ticket from the quote, then F9: refused on the ticket, nothing sent.
                await pilot.press("1", "b", "1")
                await pilot.press("f9")
                await desk.settle(pilot)
                status = str(app.screen.query_one("#t-status").render())
                problems = str(app.screen.query_one("#t-problems").render())
                assert "NOT SENT" in status
                assert "[watching]" in problems
                assert "sends no order" in problems
                assert not app.model.sent  # no PlaceOrder left the desk

                # The resting order: cancel and modify are refused, no dialog.
                await pilot.press("escape", "3")
                assert app.screen.query_one(Blotter).row_count == 1
                await pilot.press("c")
                await desk.settle(pilot)
                await pilot.press("m")
                await desk.settle(pilot)
                assert isinstance(app.screen, MainScreen)
                await pilot.press("ctrl+x")
                await desk.settle(pilot)
                assert isinstance(app.screen, MainScreen)  # no "Cancel all?" dialog
                titles = [title for title, _ in toasts(app)]
                assert titles == ["Cancel refused", "Modify refused", "Cancel all refused"]
                for _, message in toasts(app):
                    assert "sends no order: send it from the desk that drives the broker" in (
                        message
                    )
                assert not isinstance(app.screen, ConfirmScreen)
                assert await lengths() == before
                # WATCHING on the key bar, whatever the header has room for.
                keybar = app.screen.query_one(KeyBar)
                assert str(keybar.render()).startswith(" WATCHING ")
                # It lists the keys that work here: not cancel, modify, cancel all
                # (refused above, each with a toast), but history and the kill switch.
                line = str(keybar.render())
                for refused in (" c Cancel ", " m Modify ", " ^x Cancel all "):
                    assert refused not in line, line
                for works in (" h History ", " ^\\ KILL ", " q Quit "):
                    assert works in line, line
                await pilot.press("2")  # the ticket: no Send listed (F9 is refused)
                await pilot.pause()
                assert " f9 Send " not in str(keybar.render())
                await pilot.press("escape", "3")
                await pilot.pause()
                # Quitting asks nothing: the working order is the driving desk's.
                assert app.desk.view.working_count() == 1
                await pilot.press("q")
                await pilot.pause()
                assert app._exit
            await session.close()

        asyncio.run(run())


def test_a_desk_started_after_the_watching_desk_shows_on_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Its orders in the Orders pane, its health line, its events in the log."""
    with RedisServer() as server:
        settings = Settings.model_validate({"bus": {"url": server.url, "prefix": PREFIX}})
        options = BusOptions(prefix=PREFIX, block_ms=50, epoch_check_s=0.1, passive=True)
        session = WatchSession(settings, bus=create_bus(server.url, options), discover_every_s=0.1)

        async def run() -> None:
            await session.open()
            assert session.accounts() == []  # nothing under the prefix yet
            app, desk = watching_desk(session, clock, tmp_path / "watch.json")
            driver = trading_desk(server.url, PREFIX, "paper")
            async with app.run_test(size=(120, 36)) as pilot:
                await drawn(app, desk, pilot)
                await driver.start()
                try:
                    cid = await resting_buy(driver, "paper")
                    for _ in range(300):
                        await desk.settle(pilot)
                        journal = [
                            line for line in app.model.log if line.stream == "exec:paper:main"
                        ]
                        if app.screen.query_one(Blotter).row_count == 1 and journal:
                            break
                        await asyncio.sleep(0.02)
                    assert app.desk.accounts == ["paper/main"]
                    account = app.screen.query_one("#t-account", Choice)
                    assert account.options == ["paper/main"]
                    assert account.value == "paper/main"
                    titles = [title for title, _ in toasts(app)]
                    assert titles == ["Watching: no desk yet", "Watching"]
                    assert toasts(app)[1][1] == "a desk started on this prefix: watching paper/main"
                    assert [v.client_order_id for v in app.desk.view.working()] == [cid]
                    assert journal, "the new journal's events never reached the log"
                    screen = app.screen
                    assert isinstance(screen, MainScreen)
                    brokers, _ = screen.health_lines(clock.s())
                    assert [line.name for line in brokers] == ["paper/main"]
                finally:
                    await driver.close()
            await session.close()

        asyncio.run(run())


def test_a_watching_desk_that_loses_the_bus_says_what_is_true_for_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A watcher sends no order and writes nothing of its own: its "Bus unreachable"
    toast does not say that its orders, fills and reports wait in memory (it has none),
    but what it misses and what it cannot do until the bus is back."""
    with RedisServer() as server:
        asyncio.run(live_desk(server.url, PREFIX, clock, tmp_path / "live.json"))
        session = watch_session(server.url, clock)

        async def run() -> None:
            await session.open()
            app, desk = watching_desk(session, clock, tmp_path / "watch.json")
            async with app.run_test(size=(120, 36)) as pilot:
                await drawn(app, desk, pilot)
                app.clear_notifications()
                await server.akill()
                await frames_until(
                    app, pilot, lambda: "Bus unreachable" in [title for title, _ in toasts(app)]
                )
                (message,) = [m for title, m in toasts(app) if title == "Bus unreachable"]
                assert "wait in memory" not in message
                assert "Orders" not in message
                assert "This desk only watches: nothing new shows until the bus is back" in (
                    message
                )
                assert "kill switch, resume and reduce-only reach no desk" in message
            await session.close()

        asyncio.run(run())
