"""A venue position our fills have not caught up with yet is not a mismatch.

A venue may report a position before the executions it includes (TWS does: the position
after a market order's last piece can come ahead of the execDetails of its second and
third). The engine watches such a disagreement; fills that catch up end it unreported,
one that stands `position_settle_ns` is reported once (DEGRADED, a toast), and one that
then resolves itself takes the engine back to LIVE while the count stays. An anomaly
nothing on the desk can clear keeps it DEGRADED. The IB adapter against the fake TWS:
`tests/unit/test_ib_position_settle.py`.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

from silvertine_tui.brokers import BrokerRegistry
from silvertine_tui.bus import BusEntry, MemoryBus
from silvertine_tui.config import ExternalBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import ConnectionState, FillCorrection, Position, TradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.recovery import catch_up, recover
from silvertine_tui.engine.session import Session
from silvertine_tui.events import FillCorrectionEvent, HealthEvent, PositionEvent
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, engine_line
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_anomalies import engine_health, fill, make, order

SRC = "scripted/main"
KEY = ("scripted", "main", INSTRUMENT.key)


def venue_says(qty: str, *, ts: int | None = None) -> PositionEvent:
    return PositionEvent.create(
        SRC,
        Position(broker="scripted", account="main", instrument=INSTRUMENT.key, quantity=D(qty)),
        ts=ts,
    )


def toasts(bus_entries: list[BusEntry]) -> list[tuple[str, str]]:
    model = FeedModel(prefix="silvertine", clock=lambda: 0.0)
    for entry in bus_entries:
        model.ingest(entry)
    return [(n.title, n.severity) for n in model.take_notices() if n.title.startswith("Engine")]


def pane_text(entries: list[BusEntry]) -> str:
    projection = DeskProjection()
    for entry in entries:
        projection.apply_entry(entry)
    line = engine_line(projection.anomalies)
    assert line is not None
    bus = BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")
    return HealthPane().render_text([], bus, TradingState.ACTIVE, engine=line).plain


async def test_a_position_reported_ahead_of_the_fills_in_it_is_no_mismatch() -> None:
    """What TWS did on a market order of three pieces: fill 1, then the position after
    all three, then fills 2 and 3."""
    bus, engine, _ = await make()
    cid = await engine.submit(order("3"))
    await bus.publish(fill(cid, "x-1", "1"))
    await bus.publish(venue_says("3"))  # holds fills 2 and 3, not journaled yet
    await bus.publish(venue_says("3"))
    await catch_up(engine, SRC)
    assert engine.anomalies.total == 0
    await bus.publish(fill(cid, "x-2", "1"))
    await bus.publish(venue_says("3"))
    await bus.publish(fill(cid, "x-3", "1"))
    await catch_up(engine, SRC)
    engine.check_positions(time.time_ns() + 10 * engine.position_settle_ns)
    await engine.publish_anomalies()
    assert engine.position(*KEY) == D("3")
    assert engine.anomalies.total == 0
    assert await engine_health(bus) == []  # no toast, health untouched


async def test_a_mismatch_that_stands_is_reported_once_then_live_when_it_resolves() -> None:
    bus, engine, _ = await make()
    cid = await engine.submit(order("3"))
    await bus.publish(fill(cid, "x-1", "2"))
    await bus.publish(venue_says("3"))
    await catch_up(engine, SRC)
    assert engine.anomalies.total == 0  # not yet: a fill may be on its way
    start = time.time_ns()
    engine.check_positions(start + engine.position_settle_ns // 2)
    assert engine.anomalies.total == 0

    later = start + engine.position_settle_ns + 1_000_000
    engine.check_positions(later)
    engine.check_positions(later + engine.position_settle_ns)  # once, not every check
    await engine.publish_anomalies()
    assert engine.anomalies.counts["position_mismatch"] == 1
    (reported,) = await engine_health(bus)
    assert reported.payload.state is ConnectionState.DEGRADED
    assert "the venue reports a position of 3, our fills make 2" in reported.payload.message
    entries = await bus.read(bus.layout.health)
    assert toasts(entries) == [("Engine: position mismatch", "error")]
    assert "engine DEGRADED" in pane_text(entries)

    # The missing fill arrives after all (a venue's late report): the two agree again.
    await bus.publish(fill(cid, "x-2", "1"))
    await catch_up(engine, SRC)
    reported, resolved = await engine_health(bus)
    assert resolved.payload.state is ConnectionState.LIVE
    assert "position mismatch resolved" in resolved.payload.message
    assert "agree again at 3" in resolved.payload.message
    assert resolved.payload.metrics["position_mismatch"] == 1  # the count stays
    assert resolved.payload.metrics["cleared"] == 1
    entries = await bus.read(bus.layout.health)
    assert toasts(entries) == [("Engine: position mismatch", "error")]  # no new toast
    text = pane_text(entries)
    assert "engine LIVE" in text
    assert "position mismatch 1" in text
    assert "1 resolved" in text


async def test_an_anomaly_nothing_clears_keeps_the_engine_degraded() -> None:
    bus, engine, _ = await make()
    cid = await engine.submit(order("2"))
    await bus.publish(fill(cid, "x-1", "2"))
    await bus.publish(fill(cid, "x-2", "1"))  # an overfill: 3 of 2
    await bus.publish(venue_says("4"))
    await catch_up(engine, SRC)
    engine.check_positions(time.time_ns() + 2 * engine.position_settle_ns)
    await bus.publish(venue_says("3"))  # the venue comes round to ours
    await catch_up(engine, SRC)
    *_, last = await engine_health(bus)
    assert last.payload.metrics["overfill"] == 1
    assert last.payload.metrics["position_mismatch"] == 1
    assert last.payload.metrics["cleared"] == 1
    assert last.payload.state is ConnectionState.DEGRADED


async def test_a_replay_times_disagreements_by_the_journal_and_alerts_nothing() -> None:
    bus, engine, venue = await make()
    cid = await engine.submit(order("5"))
    await catch_up(engine, SRC)
    settle = engine.position_settle_ns
    t = time.time_ns()
    # Fills in flight for a second: caught up, never a mismatch.
    await bus.publish(fill(cid, "x-1", "1", ts=t))
    await bus.publish(venue_says("3", ts=t + 1))
    await bus.publish(fill(cid, "x-2", "2", ts=t + 1_000_000_000))
    # A disagreement that stood longer than the settle time, then resolved.
    await bus.publish(venue_says("4", ts=t + 2_000_000_000))
    await bus.publish(fill(cid, "x-3", "1", ts=t + 2_000_000_000 + settle + 1))
    # One the journal ends with: left to the reconcile that follows a restart.
    await bus.publish(venue_says("9", ts=t + 3 * settle))
    await catch_up(engine, SRC)  # live, these were timed by the engine's own clock
    assert engine.anomalies.total == 0

    fresh = TradingEngine(bus, [venue], RiskConfig())
    await recover(fresh, [("scripted", "main")])
    assert fresh.anomalies.total == 0
    assert fresh.anomalies.replayed["position_mismatch"] == 1
    fresh.check_positions(time.time_ns() + 10 * settle)
    assert fresh.anomalies.total == 0  # nothing timed from history after the replay


async def test_the_session_reports_a_standing_mismatch_with_nothing_else_happening() -> None:
    registry = BrokerRegistry(discover=False)
    registry.register("scripted", ScriptedVenue)
    config = ExternalBrokerConfig(name="scripted", type="scripted", account="main")
    bus = MemoryBus()
    session = Session(Settings(brokers=[config]), bus=bus, registry=registry)
    session.engine.position_settle_ns = 200_000_000
    await session.start()
    try:
        engine = session.engine
        cid = await engine.submit(order("3"))
        await bus.publish(fill(cid, "x-1", "2"))
        await bus.publish(venue_says("3"))
        for _ in range(400):
            if await engine_health(bus):
                break
            await asyncio.sleep(0.01)
        (health,) = await engine_health(bus)
        assert health.payload.state is ConnectionState.DEGRADED
        assert health.payload.metrics["position_mismatch"] == 1
        assert isinstance(health, HealthEvent)
    finally:
        await session.close()


def corrected(cid: str, replaces: str, qty: str, was: str) -> FillCorrectionEvent:
    new = fill(cid, f"{replaces}.fix", qty).payload
    return FillCorrectionEvent.create(
        SRC,
        FillCorrection(
            replaces=replaces, fill=new, previous_quantity=D(was), previous_price=D("10.00")
        ),
    )


async def test_a_correction_that_brings_the_position_to_the_venue_s_ends_the_disagreement() -> None:
    """IB corrected 3 shares to 2, its position report (2) first: the disagreement the
    report began ends with the correction, unreported."""
    bus, engine, _ = await make()
    cid = await engine.submit(order("3"))
    await bus.publish(fill(cid, "x-1", "3"))
    await catch_up(engine, SRC)
    await bus.publish(venue_says("2"))
    await catch_up(engine, SRC)
    assert KEY in engine._disagreements
    await bus.publish(corrected(cid, "x-1", "2", was="3"))
    await catch_up(engine, SRC)
    assert KEY not in engine._disagreements
    engine.check_positions(time.time_ns() + 10 * engine.position_settle_ns)
    await engine.publish_anomalies()
    assert engine.position(*KEY) == D("2")
    assert engine.anomalies.total == 0
    view = engine.oms.get(cid)
    assert view is not None
    assert view.order.filled_qty == 2


async def test_a_correction_of_a_fill_the_desk_never_had_is_said() -> None:
    bus, engine, _ = await make()
    cid = await engine.submit(order("3"))
    await bus.publish(corrected(cid, "x-9", "2", was="3"))
    await catch_up(engine, SRC)
    await engine.publish_anomalies()
    assert engine.anomalies.counts == {"refused_report": 1, "not_applied": 1}
    assert "correction of fill x-9" in engine.anomalies.last
    assert "only the price difference was booked" in engine.anomalies.last
