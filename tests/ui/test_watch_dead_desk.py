"""A watching desk does not show a killed desk's engine line as current: once the
brokers that desk drove are all quiet its line reads STALE, for how long, and the age
of its last word; once a desk started since drives them, the line goes (the new desk's
word supersedes it). Before, `engine of desk vm pid 19978 DEGRADED ... we held 20.966`
stood 7 minutes after that desk was killed, beside the line of the desk started in its
place (`we held 10.999`).

Each desk is its own process: its events carry its node in their ids (events/ids.py),
minted here by an `EventIdFactory` per desk, as each desk process mints them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine.anomalies import ENGINE_COMPONENT, Anomalies, AnomalyKind
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.events import EventIdFactory, Health, HealthEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.health import HealthPane

from .conftest import Desk, FakeClock
from .test_projection_rebuild import quiet_app

PREFIX = "t-watch-dead-desk"
KILLED = {"desk": "a1a1a1a1a1a1a1a1", "desk_name": "desk vm pid 19978"}
STARTED = {"desk": "b2b2b2b2b2b2b2b2", "desk_name": "desk vm pid 23929"}
HELD_THEN = "position mismatch binance/fake BTCUSDT.BINANCE: we held 20.966, the venue holds 10"
HELD_NOW = "position mismatch binance/fake BTCUSDT.BINANCE: we held 10.999, the venue holds 10"


class Process:
    """A desk's process: the ids of what it publishes carry its node."""

    def __init__(self, clock: FakeClock, node: int) -> None:
        self.clock = clock
        self.ids = EventIdFactory(clock=clock.ns, node=node)

    def _minted(self, health: Health) -> HealthEvent:
        event = HealthEvent.create(health.component, health, ts=self.clock.ns())
        return event.model_copy(update={"event_id": self.ids.next()[0]})

    def heartbeat(self, broker: str, state: ConnectionState = ConnectionState.LIVE) -> HealthEvent:
        return self._minted(Health(component=f"broker:{broker}", state=state))

    def engine(self, desk: dict[str, str], message: str) -> HealthEvent:
        found = Anomalies(desk=dict(desk))
        found.record(AnomalyKind.POSITION_MISMATCH, message, replaying=False)
        metrics = found.metrics()
        metrics["last_kind"] = str(AnomalyKind.POSITION_MISMATCH)
        metrics["last"] = found.last
        return self._minted(
            Health(component=ENGINE_COMPONENT, state=found.state, message=message, metrics=metrics)
        )


def pane(app: SilvertineApp) -> list[str]:
    return app.screen.query_one(HealthPane).text.plain.splitlines()


def engine_lines(app: SilvertineApp) -> list[str]:
    lines = pane(app)
    at = next((n for n, line in enumerate(lines) if line.startswith("engine of ")), len(lines))
    return lines[at:]


async def until_pane(app: SilvertineApp, desk: Desk, pilot: object, part: str) -> None:
    for _ in range(200):
        await desk.settle(pilot)  # type: ignore[arg-type]
        if any(part in line for line in pane(app)):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{part!r} not in the health pane: {pane(app)}")


async def test_a_killed_desks_engine_line_reads_stale_then_goes_when_a_new_desk_drives(
    tmp_path: Path, clock: FakeClock
) -> None:
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    killed, started = Process(clock, 0x19978), Process(clock, 0x23929)
    settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": PREFIX}})
    watch = WatchSession(settings, bus=bus, clock=clock.ns, stale_after_s=5.0, stale_check_s=0.05)
    await watch.open()
    app = quiet_app(watch, clock, tmp_path / "watch.json")
    desk = Desk(app, watch, clock)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            await pilot.press("6")  # the health pane
            await bus.publish(killed.heartbeat("binance/fake"))
            await bus.publish(killed.engine(KILLED, HELD_THEN))
            for _ in range(4):  # its heartbeats, a second apart: heard
                clock.advance(1.0)
                await bus.publish(killed.heartbeat("binance/fake"))
                await desk.settle(pilot)
            await asyncio.sleep(3.0)  # the watching desk's first look waits 2.5 s
            await until_pane(app, desk, pilot, "engine of desk vm pid 19978")
            assert engine_lines(app) == [
                "engine of desk vm pid 19978 DEGRADED  anomalies 1",
                "  position mismatch 1",
                f"  {HELD_THEN}",
            ]

            # Killed: nothing more from its process. Six seconds on its word is not
            # current: STALE, how long, and the age of what it said.
            clock.advance(6.0)
            await until_pane(app, desk, pilot, "STALE")
            assert engine_lines(app) == [
                "engine of desk vm pid 19978 STALE  not heard from for 6s",
                "  its desk may be down: last said DEGRADED 10s ago, anomalies 1; as of "
                "then, not current",
                "  position mismatch 1",
                f"  {HELD_THEN}",
            ]
            clock.advance(60.0)  # the ages move on
            await until_pane(app, desk, pilot, "not heard from for 1m06s")
            assert engine_lines(app)[1].startswith(
                "  its desk may be down: last said DEGRADED 1m10s ago"
            )

            # A desk started in its place drives binance/fake: the killed desk's line
            # goes, the new desk's own stands.
            await bus.publish(started.heartbeat("binance/fake", ConnectionState.CONNECTING))
            await bus.publish(started.engine(STARTED, HELD_NOW))
            await bus.publish(started.heartbeat("binance/fake"))
            for _ in range(200):
                await desk.settle(pilot)
                if not any("19978" in line for line in pane(app)):
                    break
                await asyncio.sleep(0.02)
            assert engine_lines(app) == [
                "engine of desk vm pid 23929 DEGRADED  anomalies 1",
                "  position mismatch 1",
                f"  {HELD_NOW}",
            ]
            await pilot.press("q")
    finally:
        await watch.close()


def watching() -> DeskProjection:
    view = DeskProjection()
    view.own_desk = "d4d4d4d4d4d4d4d4"
    view.lists_others = True
    return view


def test_a_desk_stays_stale_while_any_broker_it_drove_has_no_new_desk() -> None:
    clock = FakeClock()
    killed, started = Process(clock, 1), Process(clock, 2)
    view = watching()
    for event in (
        killed.heartbeat("paper/main"),
        killed.heartbeat("binance/fake"),
        killed.engine(KILLED, HELD_THEN),
    ):
        view.apply(event)
    heard_at = clock.ns()

    def heard(_: str) -> int:
        return heard_at

    quiet = 5_000_000_000
    view.judge_desks(clock.ns() + quiet, heard, quiet)  # five seconds: not yet
    (line,) = view.anomalies.others
    assert (line.desk_name, line.silent_s) == ("desk vm pid 19978", None)

    clock.advance(7.0)
    view.judge_desks(clock.ns(), heard, quiet)
    (line,) = view.anomalies.others
    assert (line.silent_s, line.said_s) == (7.0, 7.0)

    # A desk started since drives binance/fake only: paper/main still has none.
    view.apply(started.heartbeat("binance/fake"))
    view.judge_desks(clock.ns(), heard, quiet)
    (line,) = view.anomalies.others
    assert line.silent_s == 7.0

    # A process heard again (not killed: its brokers were quiet for a while) is current.
    clock.advance(1.0)
    heard_at = clock.ns()
    view.judge_desks(clock.ns(), heard, quiet)
    (line,) = view.anomalies.others
    assert line.silent_s is None

    # Every broker it drove now driven by the new desk: gone.
    view.apply(started.heartbeat("paper/main"))
    view.judge_desks(clock.ns(), heard, quiet)
    assert not view.anomalies.others
    # A word of its own again (it was not dead after all) lists it until judged again.
    view.apply(killed.engine(KILLED, HELD_THEN))
    assert [o.desk_name for o in view.anomalies.others] == ["desk vm pid 19978"]
