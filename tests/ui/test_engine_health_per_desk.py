"""Each desk's engine line is its own. Desks on one Redis prefix (each driving its own
brokers) all publish their engine's anomalies as the health of component `engine`:
kept under one key, another desk's overfill was this desk's engine line in Health and
was toasted "Engine: overfill" as this desk's. The engine's health names the desk now,
as the bus's does: this desk's engine line is its own, another desk's anomaly is a
toast and a Log line naming that desk, and a watching desk lists each desk's engine.

Also: a bus health event of another desk names that desk in its Log line (it read
"bus DISCONNECTED ..." as if this desk's bus were down); this desk's own stays short."""

from __future__ import annotations

from pathlib import Path

import pytest

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane
from tests.support.redis_server import RedisServer

from .conftest import Desk, FakeClock, make_settings
from .test_health_bus import frames_until
from .test_health_bus_per_desk import other_desk
from .test_projection_rebuild import quiet_app

pytestmark = pytest.mark.redis

A_OVERFILL = "overfill on desk A: paper order a-1 filled 2 of 1"
B_OVERFILL = "overfill on desk B: paper2 order b-1 filled 2 of 1"
B_UNKNOWN = "fill for an order desk B's journal does not know: b-9"
B_BUS = "Redis unreachable from host B: ConnectionError"


def health_text(app: SilvertineApp) -> str:
    return app.screen.query_one(HealthPane).text.plain


def logged(app: SilvertineApp, part: str) -> list[str]:
    return [line.text for line in app.model.log if part in line.text]


def toasted(app: SilvertineApp, message: str) -> bool:
    return any(n.message == message for n in app._notifications)


def engine_lines(app: SilvertineApp) -> list[str]:
    """The pane's lines from the first engine line on."""
    lines = health_text(app).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("engine")), len(lines))
    return lines[start:]


async def anomaly(session: Session, kind: AnomalyKind, message: str) -> None:
    """What a desk's engine does when it finds one live: count it, publish it."""
    session.engine.anomalies.record(kind, message, replaying=False)
    await session.engine.publish_anomalies()


async def test_another_desks_anomaly_is_that_desks_not_this_desks_engine_line(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, clock: FakeClock
) -> None:
    """Desk B finds an overfill: desk A's Health had "engine DEGRADED anomalies 1" with
    B's message and A toasted "Engine: overfill". Now A's Health has no engine line, its
    toast and Log line name B; A's own anomaly is A's line, and B's next one leaves it
    as it is. B's bus going DISCONNECTED is a Log line naming B; A's own is not named."""
    options = BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1)
    a = Session(make_settings(), bus=create_bus(redis_server.url, options), clock=clock.ns)
    app = quiet_app(a, clock, tmp_path / "a.json")
    desk = Desk(app, a, clock)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        b = other_desk(redis_server, options, clock)
        await b.open()
        try:
            await anomaly(b, AnomalyKind.OVERFILL, B_OVERFILL)
            await frames_until(app, pilot, lambda: toasted(app, B_OVERFILL))
            app.frame()
            assert engine_lines(app) == [], health_text(app)
            titles = [n.title for n in app._notifications]
            assert "Engine: overfill" not in titles
            theirs = [n for n in app._notifications if n.message == B_OVERFILL]
            assert [(n.title, n.severity) for n in theirs] == [
                (f"Engine of {b.desk_id}: overfill", "error")
            ]
            assert logged(app, B_OVERFILL) == [f"engine of {b.desk_id} DEGRADED {B_OVERFILL}"]

            await anomaly(a, AnomalyKind.OVERFILL, A_OVERFILL)
            await frames_until(
                app, pilot, lambda: bool(engine_lines(app)) and toasted(app, A_OVERFILL)
            )
            mine = engine_lines(app)
            assert mine[0] == "engine DEGRADED  anomalies 1", mine
            assert "  overfill 1" in mine
            assert f"  {A_OVERFILL}" in mine
            assert not any("desk B" in line for line in mine)
            assert any(n.title == "Engine: overfill" for n in app._notifications)
            assert logged(app, A_OVERFILL) == [f"engine DEGRADED {A_OVERFILL}"]

            await anomaly(b, AnomalyKind.UNKNOWN_ORDER, B_UNKNOWN)
            await frames_until(app, pilot, lambda: toasted(app, B_UNKNOWN))
            app.frame()
            assert engine_lines(app) == mine  # B's second is B's: A's line stands
            assert any(
                n.title == f"Engine of {b.desk_id}: unknown order" for n in app._notifications
            )

            await b.bus._publish_health(ConnectionState.DISCONNECTED, B_BUS)  # type: ignore[attr-defined]
            await frames_until(app, pilot, lambda: bool(logged(app, B_BUS)))
            assert logged(app, B_BUS) == [f"bus of {b.desk_id} DISCONNECTED {B_BUS}"]
            # This desk's own bus lines stay as short as they were; B's "ready" names B.
            # (Both desks run in this process: one host and pid, one name.)
            ready = logged(app, "redis bus ready")
            assert [line.startswith("bus LIVE redis bus ready") for line in ready] == [True, False]
            assert ready[1].startswith(f"bus of {b.desk_id} LIVE redis bus ready")
        finally:
            await b.close()
        await a.close()


async def test_a_watching_desk_lists_each_desks_engine_named(
    redis_server: RedisServer, key_prefix: str, tmp_path: Path, clock: FakeClock
) -> None:
    """A watching desk has no engine of its own on the bus: each driving desk's engine
    that found anything is a line of its own naming that desk (before, only the last
    desk to publish showed, as "engine", B's overfill replacing A's)."""
    options = BusOptions(prefix=key_prefix, block_ms=50, epoch_check_s=0.1)
    a = Session(make_settings(), bus=create_bus(redis_server.url, options), clock=clock.ns)
    b = other_desk(redis_server, options, clock)
    await a.open()
    await b.open()
    await anomaly(a, AnomalyKind.OVERFILL, A_OVERFILL)
    await anomaly(b, AnomalyKind.UNKNOWN_ORDER, B_UNKNOWN)
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
            await frames_until(app, pilot, lambda: B_UNKNOWN in health_text(app))
            await desk.settle(pilot)
            lines = engine_lines(app)
            assert lines == [
                f"engine of {a.desk_id} DEGRADED  anomalies 1",
                "  overfill 1",
                f"  {A_OVERFILL}",
                f"engine of {b.desk_id} DEGRADED  anomalies 1",
                "  unknown order 1",
                f"  {B_UNKNOWN}",
            ], health_text(app)

            await anomaly(a, AnomalyKind.OVERFILL, "a second overfill on desk A")
            await frames_until(
                app,
                pilot,
                lambda: (
                    "a second overfill" in health_text(app)
                    and toasted(app, "a second overfill on desk A")
                ),
            )
            lines = engine_lines(app)
            assert lines[0] == f"engine of {a.desk_id} DEGRADED  anomalies 2"
            assert lines[1] == "  overfill 2"
            assert lines[3:] == [
                f"engine of {b.desk_id} DEGRADED  anomalies 1",
                "  unknown order 1",
                f"  {B_UNKNOWN}",
            ]
            titles = [n.title for n in app._notifications]
            assert f"Engine of {a.desk_id}: overfill" in titles
            assert "Engine: overfill" not in titles
    finally:
        await watching.close()
        await b.close()
        await a.close()
