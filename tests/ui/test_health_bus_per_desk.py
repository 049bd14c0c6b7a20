"""Each desk's bus health is its own. Desks on one Redis prefix (each driving its own
brokers, as docs/operations.md allows) all write the health stream; the bus's health
names the desk that wrote it (the claims' `DeskId`), so another desk's bus no longer
overwrites this desk's bus line in Health, nor is toasted as this desk's. A watching
desk shows each driving desk's bus trouble as that desk's; a journal written by an
older build (bus health naming no desk) is still shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import Health, HealthEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_health_bus import frames_until
from .test_projection_rebuild import quiet_app

pytestmark = pytest.mark.redis

RESYNC_FAILED = (
    "Redis restarted and data was lost (epoch changed); the resync from the brokers "
    "failed (paper/main: boom): check orders and positions at the venues"
)
"""What a desk's bus says when its resync after a data loss failed (`_loss_over`)."""
FROM_B = "Redis unreachable from host B: ConnectionError"


def health_text(app: SilvertineApp) -> str:
    return app.screen.query_one(HealthPane).text.plain


def own_bus_lines(app: SilvertineApp) -> str:
    """The desk's own bus line and what follows it up to the next line of its own."""
    lines = health_text(app).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("bus "))
    end = next(
        (i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines)
    )
    return "\n".join(lines[start:end])


def logged(app: SilvertineApp, part: str) -> int:
    return sum(part in line.text for line in app.model.log)


def other_desk(server: RedisServer, options: BusOptions, clock: FakeClock) -> Session:
    """A second desk on the same Redis and prefix, driving a broker of its own."""
    other = make_settings().brokers[0].model_copy(update={"name": "paper2"})
    return Session(Settings(brokers=[other]), bus=create_bus(server.url, options), clock=clock.ns)


async def test_another_desks_bus_health_is_not_shown_or_toasted_as_this_desks(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, clock: FakeClock
) -> None:
    """Desk A's bus is DEGRADED (its resync failed). Desk B starts on the same prefix
    (its bus says LIVE "redis bus ready"), then B's bus says DISCONNECTED. A's bus line
    read B's LIVE (A's error gone), then B's DISCONNECTED with B's message, and A
    toasted "bus DISCONNECTED" though its own connection was fine. Now A's line keeps
    A's own state and message, and B's trouble is toasted naming B's desk."""
    options = BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1)
    a = Session(make_settings(), bus=create_bus(redis_server.url, options), clock=clock.ns)
    app = quiet_app(a, clock, tmp_path / "a.json")
    desk = Desk(app, a, clock)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await a.bus._publish_health(ConnectionState.DEGRADED, RESYNC_FAILED)  # type: ignore[attr-defined]
        await frames_until(app, pilot, lambda: "check orders" in own_bus_lines(app))

        b = other_desk(redis_server, options, clock)
        await b.open()  # its bus: LIVE "redis bus ready"
        try:
            await frames_until(app, pilot, lambda: logged(app, "redis bus ready") >= 2)
            app.frame()
            mine = own_bus_lines(app)
            assert mine.startswith("bus redis DEGRADED  connected\n"), mine
            assert RESYNC_FAILED in mine

            await b.bus._publish_health(ConnectionState.DISCONNECTED, FROM_B)  # type: ignore[attr-defined]
            await frames_until(app, pilot, lambda: logged(app, "host B") >= 1)
            app.frame()
            mine = own_bus_lines(app)
            assert mine.startswith("bus redis DEGRADED  connected\n"), mine
            assert RESYNC_FAILED in mine
            assert "host B" not in health_text(app)  # B's connection is B's
            titles = [n.title for n in app._notifications]
            assert "bus DISCONNECTED" not in titles
            assert "bus LIVE" not in titles
            theirs = [n for n in app._notifications if n.message == FROM_B]
            assert [n.title for n in theirs] == [f"bus of {b.desk_id} DISCONNECTED"]
            assert a.bus.stats.connected
        finally:
            await b.close()
        await a.close()


async def test_a_watching_desk_shows_each_desks_bus_as_that_desks(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, clock: FakeClock
) -> None:
    """A watching desk's own bus writes no health: its bus line is its own connection.
    Each driving desk's bus trouble is a line of its own, naming the desk; a desk's
    bus back to LIVE, or the desk quitting, takes its line away. A bus health event
    written by an older build (naming no desk) is still shown, as before."""
    options = BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1)
    a = Session(make_settings(), bus=create_bus(redis_server.url, options), clock=clock.ns)
    b = other_desk(redis_server, options, clock)
    await a.open()
    await b.open()
    await a.bus._publish_health(ConnectionState.DEGRADED, RESYNC_FAILED)  # type: ignore[attr-defined]
    settings = Settings.model_validate({"bus": {"url": redis_server.url, "prefix": key_prefix}})
    watching = WatchSession(
        settings,
        bus=create_bus(
            redis_server.url,
            BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1, passive=True),
        ),
        clock=clock.ns,
    )
    await watching.open()
    app = quiet_app(watching, clock, tmp_path / "w.json")
    desk = Desk(app, watching, clock)
    try:
        async with app.run_test(size=(120, 36), notifications=True) as pilot:
            await frames_until(app, pilot, lambda: app.feed_ready.is_set())
            await frames_until(app, pilot, lambda: "check orders" in health_text(app))
            await desk.settle(pilot)
            text = health_text(app)
            # Its own connection: no desk's trouble is its own.
            assert own_bus_lines(app).startswith("bus redis LIVE  connected\n"), text
            assert RESYNC_FAILED not in own_bus_lines(app)
            assert f"\nbus of {a.desk_id} DEGRADED" in text
            assert f"\n  {RESYNC_FAILED}" in text

            await b.bus._publish_health(ConnectionState.DISCONNECTED, FROM_B)  # type: ignore[attr-defined]
            await frames_until(app, pilot, lambda: FROM_B in health_text(app))
            text = health_text(app)
            assert f"\nbus of {b.desk_id} DISCONNECTED" in text
            assert RESYNC_FAILED in text  # A's still there: each desk has its line
            assert FROM_B not in own_bus_lines(app)
            titles = [n.title for n in app._notifications]
            assert "bus DISCONNECTED" not in titles
            assert f"bus of {b.desk_id} DISCONNECTED" in titles

            await b.close()  # it quits: its line goes
            await frames_until(app, pilot, lambda: FROM_B not in health_text(app))
            assert RESYNC_FAILED in health_text(app)

            # An older build's bus health names no desk: shown in the bus line, as before.
            await a.bus.publish(
                HealthEvent.create(
                    "bus",
                    Health(
                        component="bus",
                        state=ConnectionState.DEGRADED,
                        message="an older build's bus: 3 entries dead-lettered",
                        metrics={"dead_lettered": 3},
                    ),
                )
            )
            await frames_until(app, pilot, lambda: "older build" in own_bus_lines(app))
            mine = own_bus_lines(app)
            assert mine.startswith("bus redis DEGRADED  connected\n"), mine
            assert "dead-letter 3" in mine
    finally:
        await watching.close()
        await b.close()
        await a.close()
