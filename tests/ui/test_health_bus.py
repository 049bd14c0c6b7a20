"""The bus's own faults reach the health pane: entries Redis refused (dead-lettered),
buffered entries found already written, and the bus lost under a running desk."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from silvertine_tui.bus import BusOptions, EventBus, create_bus
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.text import TextBlock
from tests.support.redis_server import RedisServer, command

from .conftest import Desk, FakeClock, make_settings, market_buy
from .test_fill_line import header_text
from .test_projection_rebuild import quiet_app
from .test_trading_keys import open_buy_ticket, type_into


async def test_dead_lettered_entries_are_shown_in_health(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        text = desk.app.screen.query_one(HealthPane).text.plain
        assert "dead-letter 0" in text
        assert "duplicates skipped" not in text
        # What the Redis bus publishes after a backlog flush that quarantined an entry.
        await desk.session.bus.publish(
            HealthEvent.create(
                "bus",
                Health(
                    component="bus",
                    state=ConnectionState.DEGRADED,
                    message="Redis connection restored; 1 entry refused (WRONGTYPE)",
                    metrics={"dead_lettered": 1, "duplicates_skipped": 2},
                ),
                ts=desk.clock.ns(),
            )
        )
        await desk.settle(pilot)
        text = desk.app.screen.query_one(HealthPane).text.plain
        assert "dead-letter 1" in text
        assert "duplicates skipped 2" in text
        assert "WRONGTYPE" in text
        await desk.session.close()


async def frames_until(app: SilvertineApp, pilot: Pilot[None], done: Callable[[], bool]) -> None:
    """Redis is a real server here: frames on the real loop until `done` (5 s at most)."""
    for _ in range(250):
        app.frame()
        await pilot.pause()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def redis_desk(bus: EventBus, clock: FakeClock, tmp_path: Path) -> Desk:
    """The test desk on a Redis bus (the test's own server)."""
    session = Session(make_settings(), bus=bus, clock=clock.ns)
    return Desk(quiet_app(session, clock, tmp_path / "state.json"), session, clock)


@pytest.mark.redis
async def test_losing_the_bus_is_told_at_once_and_health_says_so(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Redis killed under a running desk. The bus's own health event saying so cannot
    arrive (it waits in memory with every other event), so the desk tells from its own
    connection: a toast at once, and the health pane says DISCONNECTED (not the LIVE of
    the last health event read back), why, and how many events wait. An order sent
    meanwhile is counted there. Once Redis is back, the pane says connected again."""
    with RedisServer() as server:
        options = BusOptions(prefix="t-bus-lost", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            health = app.screen.query_one(HealthPane)
            await frames_until(app, pilot, lambda: "bus redis LIVE  connected" in health.text.plain)
            assert not [n for n in app._notifications if n.title == "Bus unreachable"]

            await server.akill()
            await frames_until(app, pilot, lambda: not session.bus.stats.connected)
            await frames_until(app, pilot, lambda: "DISCONNECTED" in health.text.plain)
            assert f"BUS DOWN {session.bus_url}" in header_text(desk)
            text = health.text.plain
            assert "\nbus redis DISCONNECTED\n" in text  # not "LIVE", and said once
            assert "wait in memory (of 10,000)" in text
            assert session.bus.stats.last_error in text
            toasts = [n for n in app._notifications if n.title == "Bus unreachable"]
            assert len(toasts) == 1
            assert toasts[0].severity == "error"
            assert "show on the desk when the bus is back" in toasts[0].message
            assert ".." not in toasts[0].message

            # Sent from the ticket while the bus is down: the status says why the Orders
            # pane does not show it yet.
            ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
            await type_into(pilot, "0.1")
            await pilot.press("f9")
            status = ticket.query_one("#t-status", TextBlock)
            await frames_until(app, pilot, lambda: status.text.plain.startswith("sent "))
            assert status.text.plain.endswith("; BUS DOWN: shown when the bus is back")
            await pilot.press("escape")
            await session.engine.submit(market_buy("st000000000000000201", "ETHUSDT.PAPER", "1"))
            await frames_until(app, pilot, lambda: session.bus.stats.exec_buffered > 0)
            waiting = session.bus.stats.exec_buffered
            await frames_until(
                app, pilot, lambda: f"{waiting:,} events wait in memory" in health.text.plain
            )

            await server.arestart()
            await frames_until(app, pilot, lambda: session.bus.stats.connected)
            await frames_until(app, pilot, lambda: "wait in memory" not in health.text.plain)
            # The ticket's "shown when the bus is back" is not left standing once it is.
            await frames_until(
                app,
                pilot,
                lambda: status.text.plain.endswith("; the bus is back: it shows in Orders"),
            )
            assert "BUS DOWN" not in status.text.plain
            assert "bus redis DISCONNECTED" not in health.text.plain
            ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
            await type_into(pilot, "0.1")
            await pilot.press("f9")
            await frames_until(app, pilot, lambda: status.text.plain.startswith("sent "))
            assert "BUS DOWN" not in status.text.plain
            await frames_until(app, pilot, lambda: "BUS DOWN" not in header_text(desk))
            assert len([n for n in app._notifications if n.title == "Bus unreachable"]) == 1
            await session.close()


@pytest.mark.redis
async def test_a_failover_keeps_the_desk_and_shows_what_was_done_meanwhile(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Redis turned replica under a running desk (a failover): writes refused
    `READONLY`, reads `MASTERDOWN`, the engine's blocked XREAD ended `UNBLOCKED`. The
    engine's reader ended on it ("Desk stopped") and the fills written meanwhile were
    refused ("not journaled"). Now it is an outage: said at once, an order sent
    meanwhile waits in memory, and once Redis takes writes again it fills and shows."""
    with RedisServer() as server:
        options = BusOptions(prefix="t-failover", block_ms=50, epoch_check_s=0.1)
        desk = redis_desk(create_bus(server.url, options), clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            engine = session.engine
            await asyncio.to_thread(server.turn_replica)
            desk.clock.advance(1.0)
            await desk.broker.step()  # its quotes refused: they wait (not `step`: it flushes)
            await engine.submit(market_buy("st000000000000000401", "ETHUSDT.PAPER", "1"))
            await frames_until(app, pilot, lambda: session.bus.stats.exec_buffered > 0)
            await frames_until(
                app,
                pilot,
                lambda: any(n.title == "Bus refusing writes" for n in app._notifications),
            )
            [toast] = [n for n in app._notifications if n.title == "Bus refusing writes"]
            assert "Error:" in toast.message  # what Redis answered (READONLY, MASTERDOWN)
            assert not [n for n in app._notifications if n.title == "Bus unreachable"]
            assert f"BUS DOWN {session.bus_url}" in header_text(desk)
            await asyncio.sleep(0.5)  # the readers keep meeting MASTERDOWN
            assert engine.position("paper", "main", "ETHUSDT.PAPER") == 0  # not read back
            assert not engine.not_ready

            await asyncio.to_thread(server.turn_primary)
            await frames_until(app, pilot, lambda: session.bus.stats.connected)
            await frames_until(
                app, pilot, lambda: engine.position("paper", "main", "ETHUSDT.PAPER") == 1
            )
            await frames_until(app, pilot, lambda: "BUS DOWN" not in header_text(desk))
            assert session.bus.stats.dead_lettered == 0
            assert [a for a in session.alerts if a.title == "Desk stopped"] == []
            titles = {n.title for n in app._notifications}
            assert not titles & {"Desk stopped", "Desk feed stopped"}
            await session.close()


@pytest.mark.redis
async def test_a_stream_whose_key_holds_another_type_is_set_aside_and_said(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A program SET the names of the signal stream (before the desk started) and of a
    broker's market data (while it ran). XREAD of either was refused (`WRONGTYPE`): the
    engine's reader failed and the desk stopped trading; the desk's feed did not start.
    Now each such stream is set aside and said, in a toast and in Health, and the rest
    is read on: an order fills and shows. Deleted, each is read again."""
    with RedisServer() as server:
        options = BusOptions(
            prefix="t-wrongtype", block_ms=50, epoch_check_s=0.1, unreadable_recheck_s=0.2
        )
        bus = create_bus(server.url, options)
        signal, md = bus.layout.signal, bus.layout.md("paper")

        def redis(*args: str) -> Awaitable[bytes]:
            return asyncio.to_thread(command, server.host, server.port, *args)

        await redis("SET", signal, "not a stream")
        desk = redis_desk(bus, clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            await redis("DEL", md)
            await redis("SET", md, "not a stream either")
            await desk.step(pilot, 1)  # its quotes are refused on write (logged)
            health = app.screen.query_one(HealthPane)
            await frames_until(app, pilot, lambda: md in health.text.plain)
            text = health.text.plain.replace("\n  ", " ")  # (the line wraps in the pane)
            assert "not read, not a stream:" in text
            assert f"{md} (a string)" in text
            assert f"{signal} (a string)" in text
            # A toast for each key, as the bus finds it (the second one, found while the
            # bus was DEGRADED already, was told only in Health); Health says the last.
            await frames_until(
                app,
                pilot,
                lambda: len([n for n in app._notifications if n.title == "bus DEGRADED"]) == 2,
            )
            first, second = [n for n in app._notifications if n.title == "bus DEGRADED"]
            assert f"{signal} holds a string, not a stream" in first.message
            assert f"DEL {signal}" in first.message
            assert f"{md} holds a string, not a stream" in second.message
            assert f"DEL {md}" in second.message
            assert f"DEL {md}" in text

            # The engine reads its journal on: an order goes, fills and shows.
            engine = session.engine
            assert not engine.not_ready
            await engine.submit(market_buy("st000000000000000301", "ETHUSDT.PAPER", "1"))
            await frames_until(
                app, pilot, lambda: engine.position("paper", "main", "ETHUSDT.PAPER") == 1
            )
            assert [a for a in session.alerts if a.title == "Desk stopped"] == []

            await redis("DEL", md)
            await redis("DEL", signal)
            await desk.step(pilot, 1)
            await frames_until(app, pilot, lambda: "not a stream" not in health.text.plain)
            assert session.bus.stats.unreadable == ""
            await session.close()


@pytest.mark.redis
async def test_a_clobbered_health_stream_is_told_though_no_health_message_can_say_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The health stream's key SET by a program: the bus's DEGRADED message cannot be
    written there, so nothing told the trader; Health's bus line read LIVE (the last
    event) and its `not read` line was below the pane's fold. Now a toast says it and
    the bus line reads DEGRADED until the key is deleted."""
    with RedisServer() as server:
        options = BusOptions(
            prefix="t-health-key", block_ms=50, epoch_check_s=0.1, unreadable_recheck_s=0.2
        )
        bus = create_bus(server.url, options)
        health_key = bus.layout.health
        desk = redis_desk(bus, clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            pane = app.screen.query_one(HealthPane)
            await frames_until(app, pilot, lambda: "bus redis LIVE" in pane.text.plain)
            for args in (("DEL", health_key), ("SET", health_key, "not a stream")):
                await asyncio.to_thread(command, server.host, server.port, *args)
            title = "Health stream unreadable"
            await frames_until(
                app, pilot, lambda: any(n.title == title for n in app._notifications)
            )
            [toast] = [n for n in app._notifications if n.title == title]
            assert toast.severity == "error"
            assert f"DEL {health_key}" in toast.message
            await frames_until(app, pilot, lambda: "bus redis DEGRADED" in pane.text.plain)

            await asyncio.to_thread(command, server.host, server.port, "DEL", health_key)
            await frames_until(app, pilot, lambda: "bus redis LIVE" in pane.text.plain)
            assert len([n for n in app._notifications if n.title == title]) == 1
            await session.close()


@pytest.mark.redis
async def test_a_clobbered_journal_stops_the_desk_and_its_feed_saying_which_key(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A journal is what the desk trades on: its key SET by a program stops the desk
    (nothing more is sent) and the desk's own feed, each said in a toast naming the
    key and the DEL to run."""
    with RedisServer() as server:
        options = BusOptions(prefix="t-clobbered", block_ms=50, epoch_check_s=0.1)
        bus = create_bus(server.url, options)
        journal = bus.layout.exec("paper", "main")
        desk = redis_desk(bus, clock, tmp_path)
        app, session = desk.app, desk.session
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            await desk.step(pilot, 1)
            for args in (("DEL", journal), ("SET", journal, "not a stream")):
                await asyncio.to_thread(command, server.host, server.port, *args)
            titles = ("Desk stopped", "Desk feed stopped")
            await frames_until(
                app,
                pilot,
                lambda: {n.title for n in app._notifications} >= set(titles),
            )
            for title in titles:
                [toast] = [n for n in app._notifications if n.title == title]
                assert toast.severity == "error"
                assert f"{journal} holds a string, not a stream" in toast.message
                assert f"DEL {journal}" in toast.message
            [feed] = [n for n in app._notifications if n.title == "Desk feed stopped"]
            # The desk's orders stopped too: the feed's toast claims nothing of them.
            assert "still" not in feed.message
            assert session.engine.not_ready
            await session.close()
