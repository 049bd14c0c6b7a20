"""A future's realized P&L is the same after a restart: recovery reads the brokers'
profiles (their instruments) from the health stream before it replays the journal, and
a snapshot's positions take their instrument's multiplier. Replayed before the
instruments were known, reducing fills realized at a multiplier of 1 (live: 50)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import Instrument, InstrumentKind, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.projection import project
from silvertine_tui.engine.recovery import recover, replay_stream, write_snapshot
from silvertine_tui.events import FillEvent
from tests.fakes.scripted_venue import ScriptedVenue, scripted_fill

FUTURE = Instrument(
    symbol="ESZ6",
    venue="CME",
    base_currency="",
    quote_currency="USD",
    tick_size=D("0.25"),
    lot_size=D("1"),
    multiplier=D("50"),
    kind=InstrumentKind.FUTURE,
)


class FuturesVenue(ScriptedVenue):
    async def instruments(self) -> dict[str, Instrument]:
        return {FUTURE.key: FUTURE}


def fill(n: int, side: Side, price: str) -> FillEvent:
    return scripted_fill(n, side=side, price=price, instrument=FUTURE.key)


async def _live_desk() -> tuple[MemoryBus, FuturesVenue, TradingEngine]:
    bus = MemoryBus()
    await bus.start()
    venue = FuturesVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()  # live: the instruments are known before any fill
    return bus, venue, engine


async def _restarted(bus: MemoryBus, venue: FuturesVenue) -> TradingEngine:
    fresh = TradingEngine(bus, [venue], RiskConfig())
    await recover(fresh, [("scripted", "main")])  # Session._bring_up: recover first,
    await fresh.load_instruments()  # then each broker's instruments on connect
    return fresh


def realized(engine: TradingEngine) -> D:
    return engine.portfolio.positions[("scripted", "main", FUTURE.key)].realized_pnl


async def test_a_futures_realized_pnl_is_the_same_after_a_full_replay() -> None:
    bus, venue, live = await _live_desk()
    stream = bus.layout.exec("scripted", "main")
    await bus.publish(fill(1, Side.BUY, "6000.00"))
    await bus.publish(fill(2, Side.SELL, "6010.00"))
    await replay_stream(live, stream)
    assert realized(live) == D("500.00")  # 10 points x 1 contract x 50

    fresh = await _restarted(bus, venue)
    assert realized(fresh) == realized(live)


async def test_a_futures_realized_pnl_is_the_same_after_a_snapshot_and_its_tail() -> None:
    bus, venue, live = await _live_desk()
    stream = bus.layout.exec("scripted", "main")
    await bus.publish(fill(1, Side.BUY, "6000.00"))
    await bus.publish(fill(2, Side.BUY, "6000.00"))
    await replay_stream(live, stream)
    await write_snapshot(live, "scripted", "main")
    await bus.publish(fill(3, Side.SELL, "6010.00"))
    await replay_stream(live, stream)
    assert realized(live) == D("500.00")

    fresh = await _restarted(bus, venue)
    assert realized(fresh) == realized(live)


async def test_a_projection_rebuilt_from_the_bus_agrees_with_the_live_desk() -> None:
    bus, _venue, live = await _live_desk()
    stream = bus.layout.exec("scripted", "main")
    await bus.publish(fill(1, Side.BUY, "6000.00"))
    await bus.publish(fill(2, Side.SELL, "6010.00"))
    await replay_stream(live, stream)
    rebuilt = await project(bus, [("scripted", "main")])  # health (profile) first
    state = rebuilt.positions[("scripted", "main", FUTURE.key)]
    assert state.realized_pnl == realized(live)


async def test_a_watching_desk_from_a_snapshot_values_a_future_as_the_live_desk() -> None:
    """`WatchSession._bring_up`: the health stream first (the profile: instruments
    known), then `recover`, whose `load_snapshot` builds each position with a
    multiplier of 1, which nothing sets again until the next profile is read."""
    bus, _venue, live = await _live_desk()
    stream = bus.layout.exec("scripted", "main")
    await bus.publish(fill(1, Side.BUY, "6000.00"))
    await bus.publish(fill(2, Side.BUY, "6000.00"))
    await replay_stream(live, stream)
    await write_snapshot(live, "scripted", "main")
    await bus.publish(fill(3, Side.SELL, "6010.00"))
    await replay_stream(live, stream)

    watching = TradingEngine(bus, [], RiskConfig())
    await replay_stream(watching, bus.layout.health)
    await recover(watching, [("scripted", "main")])
    assert realized(watching) == realized(live) == D("500.00")
