"""A watching desk hears a broker it marked silent again only on a heartbeat its desk
wrote since, by the heartbeat's own time (engine/watch.py `WatchSession._current`),
never because an old one was read late (the chaos review's M3: a heartbeat a dead
desk wrote before it died, read after Redis ran again, toasted "heard from again: a
desk drives it again" and showed the broker LIVE).

The desk's clock is never compared with the watching desk's: only how far its own
moved since its last heartbeat taken as current. Where that cannot tell (the watching
desk's clock stepped), heartbeats read apart in time (its monotonic clock) say the
desk runs: what waited is read in one burst.

The trading desk and the watching desk share a memory bus; the trading desk's
heartbeats are published by hand, each at the time its clock says (`lag`: how long ago
it was written when it is read)."""

from __future__ import annotations

import asyncio

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import ConnectionState
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import ALIVE_AFTER_S, WatchSession
from tests.support.desks import until

PREFIX = "t-watch-own-time"
NOT_HEARD = "paper/main not heard from"
HEARD_AGAIN = "paper/main heard from again"


class Clocks:
    """The watching desk's wall and monotonic clocks, moved by hand; the trading desk's
    is the wall clock `lag` behind (a heartbeat it wrote that long ago)."""

    def __init__(self) -> None:
        self.t_ns = 1_800_000_000 * 1_000_000_000
        self.mono = 1_000.0
        self.lag_ns = 0

    def ns(self) -> int:
        return self.t_ns

    def ms(self) -> int:
        return self.t_ns // 1_000_000

    def monotonic(self) -> float:
        return self.mono

    def desk_ns(self) -> int:
        return self.t_ns - self.lag_ns

    def advance(self, seconds: float) -> None:
        self.t_ns += int(seconds * 1e9)
        self.mono += seconds


def trading_settings() -> Settings:
    paper = PaperBrokerConfig(
        name="paper", account="main", seed=7, market={"autorun": False}, latency={"enabled": False}
    )
    return Settings(brokers=[paper])


class Desks:
    """A trading desk driving paper/main and the watching desk, on one memory bus."""

    def __init__(self, clocks: Clocks) -> None:
        self.clocks = clocks
        self.bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clocks.ms)
        self.trading = Session(trading_settings(), bus=self.bus, clock=clocks.desk_ns)
        settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": PREFIX}})
        self.watch = WatchSession(
            settings,
            bus=self.bus,
            clock=clocks.ns,
            monotonic=clocks.monotonic,
            stale_after_s=5.0,
            stale_check_s=0.02,
        )

    async def start(self) -> None:
        await self.trading.start()
        await self.trading.brokers[0].stop_health_loop()
        await self.watch.start()
        for _ in range(3):  # a heartbeat a second: heard
            self.clocks.advance(1.0)
            await self.heartbeat()
        await asyncio.sleep(2.6)  # the watching desk's first look waits half of 5 s
        assert self.watch.projection.silent == {}

    async def heartbeat(self, lag_s: float = 0.0) -> int:
        """The desk's heartbeat, written `lag_s` ago, read now; its time."""
        self.clocks.lag_ns = int(lag_s * 1e9)
        await self.trading.brokers[0].publish_health()
        written = self.clocks.desk_ns()
        await until(lambda: self.watch.projection.brokers["paper"].heard_ns == written)
        await asyncio.sleep(0.1)  # its look at the silence after it
        return written

    def titled(self, title: str) -> list[str]:
        return [a.message for a in self.watch.alerts if a.title == title]

    async def close(self) -> None:
        await self.watch.close()
        await self.trading.close()


async def test_a_heartbeat_written_before_the_silence_and_read_late_is_not_heard_again() -> None:
    clocks = Clocks()
    desks = Desks(clocks)
    view = desks.watch.projection
    try:
        await desks.start()
        heard = clocks.ns()
        # Its next heartbeat, written half a second on, waits (Redis stopped); six
        # seconds with none read: STALE, told.
        clocks.advance(6.5)
        await until(lambda: "paper" in view.silent)
        assert view.silent["paper"] == heard
        assert len(desks.titled(NOT_HEARD)) == 1

        # Read now, six seconds after it was written (its desk dead since): not heard
        # again. Its mark and the age of its last word stand; nothing toasted.
        await desks.heartbeat(lag_s=6.0)
        assert view.silent == {"paper": heard}
        assert view.reports_unknown() == {"paper": "STALE"}
        assert desks.titled(HEARD_AGAIN) == []
        clocks.advance(0.2)
        await desks.heartbeat(lag_s=6.1)  # another that waited with it
        assert view.silent == {"paper": heard}
        assert desks.titled(HEARD_AGAIN) == []

        # One written now: its desk runs. Heard again, told once.
        await desks.heartbeat()
        assert view.silent == {}
        assert len(desks.titled(HEARD_AGAIN)) == 1
        assert len(desks.titled(NOT_HEARD)) == 1
    finally:
        await desks.close()


async def test_a_desk_that_quit_while_silent_reads_disconnected_however_late() -> None:
    """Its DISCONNECTED (it quit) read late is its last word all the same: the STALE
    mark goes, and nothing says it is heard from again."""
    clocks = Clocks()
    desks = Desks(clocks)
    view = desks.watch.projection
    try:
        await desks.start()
        clocks.advance(6.5)
        await until(lambda: "paper" in view.silent)
        clocks.lag_ns = int(6.0 * 1e9)
        await desks.trading.brokers[0].set_state(ConnectionState.DISCONNECTED, "closed")
        await until(lambda: view.broker_state("paper") is ConnectionState.DISCONNECTED)
        await until(lambda: view.silent == {})
        assert view.reports_unknown() == {"paper": "DISCONNECTED"}
        assert desks.titled(HEARD_AGAIN) == []
        clocks.advance(30.0)
        await asyncio.sleep(0.2)
        assert view.silent == {}  # a desk that quit is not judged
    finally:
        await desks.close()


async def test_a_desk_heard_apart_in_time_runs_whatever_the_clocks_say() -> None:
    """The driving desk went quiet (marked silent), and its clock stepped 30 s back
    meanwhile: its heartbeats, written now, read 30 s old by their own time through the
    last one heard. The first one read does not make the broker live (what waited is
    read in one burst); one read `ALIVE_AFTER_S` later, and later by its own time, does:
    the desk runs."""
    clocks = Clocks()
    desks = Desks(clocks)
    view = desks.watch.projection
    try:
        await desks.start()
        clocks.advance(6.5)
        await until(lambda: "paper" in view.silent)
        await desks.heartbeat(lag_s=30.0)  # its clock 30 s back
        await desks.heartbeat(lag_s=30.0)  # in the same burst
        assert "paper" in view.silent
        clocks.advance(ALIVE_AFTER_S)
        await desks.heartbeat(lag_s=30.0)
        assert view.silent == {}
        assert len(desks.titled(HEARD_AGAIN)) == 1
    finally:
        await desks.close()


async def test_this_desks_clock_stepping_ahead_is_not_its_drivers_silence_for_long() -> None:
    """The watching desk's wall clock steps 30 s ahead: the broker reads silent at its
    next look (the silence is judged on the wall clock, as the heartbeats' arrival is),
    but the desk's next heartbeat, written now, is current by this desk's monotonic
    clock: heard again at once."""
    clocks = Clocks()
    desks = Desks(clocks)
    view = desks.watch.projection
    try:
        await desks.start()
        clocks.t_ns += 30 * 1_000_000_000  # this desk's clock steps; the desk's does not
        clocks.lag_ns += 30 * 1_000_000_000
        await until(lambda: "paper" in view.silent)
        clocks.advance(1.0)
        await desks.heartbeat(lag_s=30.0)
        assert view.silent == {}
    finally:
        await desks.close()


async def test_a_heartbeat_read_late_is_not_heard_again_after_this_desks_clock_stepped_back() -> (
    None
):
    """The watching desk's wall clock steps 30 s back (NTP) while the broker is marked
    silent; a heartbeat its desk wrote before it died, read late, is no proof it runs.
    Put on the wall clock, the step back took it for one written now: LIVE again, and
    "heard from again" toasted of a dead desk."""
    clocks = Clocks()
    desks = Desks(clocks)
    view = desks.watch.projection
    try:
        await desks.start()
        heard = clocks.ns()
        clocks.advance(6.5)
        await until(lambda: "paper" in view.silent)
        clocks.t_ns -= 30 * 1_000_000_000  # this desk's wall clock steps back
        await desks.heartbeat(lag_s=6.0 - 30.0)  # written 6 s ago, by the desk's clock
        assert view.silent == {"paper": heard}
        assert desks.titled(HEARD_AGAIN) == []
    finally:
        await desks.close()
