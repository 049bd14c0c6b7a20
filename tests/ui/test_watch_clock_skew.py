"""A watching desk times the quotes it reads live by its own clock, as they arrive; the
quotes it reads back from the stream's past at the start keep their own time (never
newer than now). A desk's quotes carry the clock of the host that published them
(`event.ts`): the desk driving the broker 60 s ahead, its quotes and the marks taken
from them stayed fresh for a minute after it was killed (while Health said STALE); 10 s
behind, every quote read `old 10s` as it arrived.

The trading desk and the watching desk share one memory bus in this process; the
trading desk's clock is the watching desk's moved by a skew, as another host's would
be. "Killed" is: no more quotes (its market is stepped by hand, its heartbeat off)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from textual.pilot import Pilot

from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import Settings
from silvertine_tui.engine import Session
from silvertine_tui.engine.watch import WatchSession
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, FakeClock, make_settings, market_buy
from .test_projection_rebuild import quiet_app

PREFIX = "t-watch-skew"
ETH = "ETHUSDT.PAPER"


class Skewed:
    """Another host's clock: the test clock moved by `skew_s`."""

    def __init__(self, clock: FakeClock, skew_s: float) -> None:
        self.clock = clock
        self.skew_ns = int(skew_s * 1e9)

    def ns(self) -> int:
        return self.clock.ns() + self.skew_ns


async def trading_desk(bus: MemoryBus, clock: FakeClock, skew_s: float) -> Session:
    """The desk that drives the paper broker, on a clock `skew_s` off the test clock,
    holding an ETH position (so the watching desk's Positions pane has a mark)."""
    trading = Session(make_settings(), bus=bus, clock=Skewed(clock, skew_s).ns)
    await trading.start()
    await trading.brokers[0].stop_health_loop()
    await trading.engine.submit(market_buy("st000000000000000901", ETH, "1"))
    await bus.flush()
    return trading


@asynccontextmanager
async def watching(
    bus: MemoryBus, clock: FakeClock, state: Path
) -> AsyncIterator[tuple[SilvertineApp, Desk, Pilot[None]]]:
    """The watching desk (its app on the test clock), started and settled."""
    settings = Settings.model_validate({"bus": {"url": "memory://", "prefix": PREFIX}})
    watch = WatchSession(settings, bus=bus, clock=clock.ns)
    await watch.open()
    app = quiet_app(watch, clock, state)
    desk = Desk(app, watch, clock)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await asyncio.wait_for(app.ready.wait(), 10)
            await asyncio.wait_for(app.feed_ready.wait(), 10)
            await desk.settle(pilot)
            yield app, desk, pilot
    finally:
        await watch.close()


async def quote_step(trading: Session, desk: Desk, pilot: Pilot[None]) -> None:
    """A second on, the trading desk's market moves (its quotes published), and the
    watching desk reads and draws them."""
    desk.clock.advance(1.0)
    await trading.brokers[0].step()  # type: ignore[attr-defined]
    await desk.settle(pilot)


def quote_age(app: SilvertineApp) -> str:
    """What ETH's row of the Quotes pane says where its trend is: its age once stale."""
    return app.screen.query_one(Watchlist)._cells[ETH][6].plain.strip()


def mark_cell(app: SilvertineApp) -> str:
    positions = app.screen.query_one(Positions)
    (key,) = [k for k in positions.row_keys if positions.get_cell(k, "symbol").plain == ETH]
    return positions.get_cell(key, "mark").plain


def health_last(app: SilvertineApp, now_s: float) -> float | None:
    """The health pane's `last` of the paper broker: the age of its newest quote."""
    screen = app.screen
    assert isinstance(screen, MainScreen)
    (line,), _ = screen.health_lines(now_s)
    return line.last_age_s


async def test_a_desk_ahead_killed_shows_its_quotes_and_marks_old_after_five_seconds(
    tmp_path: Path, clock: FakeClock
) -> None:
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    trading = await trading_desk(bus, clock, skew_s=60.0)
    try:
        async with watching(bus, clock, tmp_path / "watch.json") as (app, desk, pilot):
            for _ in range(3):
                await quote_step(trading, desk, pilot)
            assert not quote_age(app).startswith("old")
            await desk.next_second(pilot)  # the positions' marks are drawn once a second
            assert "old" not in mark_cell(app)
            # Killed: no quote more. Six seconds on, by this desk's clock, they are old
            # (they read fresh for a minute more: their time was the other host's).
            desk.clock.advance(5.0)
            await desk.settle(pilot)
            assert quote_age(app) == "old 6.0s"
            assert mark_cell(app).endswith("old 6.0s")
            assert health_last(app, clock.s()) == 6.0
            await pilot.press("q")
    finally:
        await trading.close()


async def test_a_desk_behind_shows_its_quotes_fresh_as_they_arrive(
    tmp_path: Path, clock: FakeClock
) -> None:
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    trading = await trading_desk(bus, clock, skew_s=-10.0)
    try:
        async with watching(bus, clock, tmp_path / "watch.json") as (app, desk, pilot):
            for _ in range(3):
                await quote_step(trading, desk, pilot)
                # Each quote just arrived: fresh (it read `old 10s`).
                assert not quote_age(app).startswith("old"), quote_age(app)
                assert health_last(app, clock.s()) == 0.0
                await desk.next_second(pilot)  # the positions' marks: once a second
                assert "old" not in mark_cell(app)
            desk.clock.advance(4.0)
            await desk.settle(pilot)
            assert quote_age(app) == "old 5.0s"
            await pilot.press("q")
    finally:
        await trading.close()


async def test_quotes_read_back_at_the_start_keep_their_own_time(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The quotes the watching desk reads back as it starts are as old as they are (30 s
    here: not fresh because they arrived now); one from a host ahead is never newer
    than now (it read fresh for that host's minute ahead); a live quote is fresh."""
    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    trading = await trading_desk(bus, clock, skew_s=0.0)
    try:
        clock.advance(30.0)
        async with watching(bus, clock, tmp_path / "watch.json") as (app, desk, pilot):
            assert quote_age(app) == "old 30s"
            assert mark_cell(app).endswith("old 30s")
            await quote_step(trading, desk, pilot)
            assert not quote_age(app).startswith("old")
            await pilot.press("q")
    finally:
        await trading.close()

    bus = MemoryBus(BusOptions(prefix=PREFIX, block_ms=50), clock_ms=clock.ms)
    trading = await trading_desk(bus, clock, skew_s=60.0)
    try:
        await trading.close()  # killed before the watching desk starts: no quote more
        clock.advance(1.0)
        async with watching(bus, clock, tmp_path / "watch2.json") as (app, desk, pilot):
            assert not quote_age(app).startswith("old")  # as of now at most
            desk.clock.advance(6.0)
            await desk.settle(pilot)
            assert quote_age(app) == "old 6.0s"
            assert mark_cell(app).endswith("old 6.0s")
            await pilot.press("q")
    finally:
        await trading.close()
