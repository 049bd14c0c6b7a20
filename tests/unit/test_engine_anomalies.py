"""Nothing only in a log file: an overfill, a report for an order the journal does not
know, a report contradicting a finished order and a position the venue disagrees with
are counted, published for the health pane and a toast, and not re-alerted on replay."""

from __future__ import annotations

import asyncio
import re
import time
from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import PaperBrokerConfig, RiskConfig, Settings
from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Side,
)
from silvertine_tui.engine import Session
from silvertine_tui.engine.anomalies import ENGINE_COMPONENT
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.recovery import catch_up, reconcile, recover
from silvertine_tui.events import (
    FillEvent,
    HealthEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
)
from silvertine_tui.ui.model import FeedModel
from silvertine_tui.ui.widgets.health import BusLine, HealthPane, engine_line
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

SRC = "scripted/main"


async def make() -> tuple[MemoryBus, TradingEngine, ScriptedVenue]:
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    return bus, engine, venue


async def sync(engine: TradingEngine) -> None:
    """What the session's reader does: apply, then publish what was found."""
    await catch_up(engine, SRC)


def order(qty: str = "2") -> OrderRequest:
    return OrderRequest(
        broker="scripted",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D("10.00"),
    )


def fill(cid: str, exec_id: str, qty: str, *, ts: int | None = None) -> FillEvent:
    return FillEvent.create(
        SRC,
        Fill(
            exec_id=exec_id,
            client_order_id=cid,
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            quantity=D(qty),
            price=D("10.00"),
        ),
        ts=ts,
    )


async def engine_health(bus: MemoryBus) -> list[HealthEvent]:
    return [
        e.event
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == ENGINE_COMPONENT
    ]


async def test_an_overfill_is_counted_published_and_toasted() -> None:
    bus, engine, _ = await make()
    cid = await engine.submit(order("2"))
    await bus.publish(fill(cid, "x-1", "2"))
    await bus.publish(fill(cid, "x-2", "1"))  # the venue filled more than was ordered
    await sync(engine)
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("3")
    assert engine.anomalies.counts["overfill"] == 1
    (health,) = await engine_health(bus)
    assert health.payload.state is ConnectionState.DEGRADED
    assert health.payload.metrics["overfill"] == 1
    assert health.payload.metrics["anomalies"] == 1
    message = health.payload.message
    assert cid in message
    assert "x-2" in message
    assert "filled 3 > ordered 2" in message

    model = FeedModel(prefix=bus.options.prefix, clock=lambda: 0.0)
    for entry in await bus.read(bus.layout.health):
        model.ingest(entry)
    notices = [n for n in model.take_notices() if n.title.startswith("Engine")]
    assert [(n.title, n.severity) for n in notices] == [("Engine: overfill", "error")]
    assert cid in notices[0].message

    # The health pane's line, from a projection of the health stream alone.
    projection = DeskProjection()
    for entry in await bus.read(bus.layout.health):
        projection.apply_entry(entry)
    pane = HealthPane()
    line = engine_line(projection.anomalies)
    assert line is not None
    text = pane.render_text([], _bus_line(), engine.gate.state, engine=line).plain
    assert "engine DEGRADED" in text
    assert "overfill 1" in text


async def test_an_absurd_overfill_is_written_as_held_in_its_health_event() -> None:
    """A fill of 10^100 (data no check caught): the message said it with 100 zeros, and
    one of 10^500000 made a half-megabyte health event on the bus."""
    bus, engine, _ = await make()
    cid = await engine.submit(order("2"))
    await bus.publish(fill(cid, "x-1", "1E+100"))
    await sync(engine)
    assert engine.anomalies.counts["overfill"] == 1
    (health,) = await engine_health(bus)
    message = health.payload.message
    assert "1E+100 " in message
    assert re.search(r"filled 1(\.0+)?E\+100 > ordered 2", message), message
    assert "0" * 61 not in message


async def test_a_fill_for_an_unknown_order_counts_at_once() -> None:
    bus, engine, _ = await make()
    await bus.publish(fill("nobody-sent-this", "x-9", "1"))
    await sync(engine)
    assert engine.anomalies.counts["unknown_order"] == 1
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("1")
    (health,) = await engine_health(bus)
    assert "nobody-sent-this" in health.payload.message


async def test_a_live_report_for_a_rejected_order_counts_but_a_late_one_does_not() -> None:
    bus, engine, _ = await make()
    # what a broker journals for an order the venue refused
    refused = order()
    rejected = refused.client_order_id
    await bus.publish(OrderRequestEvent.create(SRC, refused))
    await bus.publish(
        OrderUpdateEvent.create(
            SRC, OrderUpdate(client_order_id=rejected, status=OrderStatus.REJECTED)
        )
    )
    filled = await engine.submit(order())
    await bus.publish(
        OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=filled, status=OrderStatus.FILLED))
    )
    await sync(engine)
    assert engine.oms.get(rejected).order.status is OrderStatus.REJECTED  # type: ignore[union-attr]
    # a late NEW after FILLED is an old report arriving late: not an anomaly
    await bus.publish(
        OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=filled, status=OrderStatus.NEW))
    )
    await sync(engine)
    assert sum(engine.anomalies.counts.values()) == 0
    # the venue says the order we think rejected is working
    await bus.publish(
        OrderUpdateEvent.create(SRC, OrderUpdate(client_order_id=rejected, status=OrderStatus.NEW))
    )
    await sync(engine)
    assert engine.anomalies.counts["refused_report"] == 1
    (health,) = await engine_health(bus)
    assert rejected in health.payload.message
    assert "REJECTED" in health.payload.message


async def test_position_disagreements_count_once_until_they_agree_again() -> None:
    bus, engine, venue = await make()
    venue.venue_positions[INSTRUMENT.key] = D("5")
    await reconcile(engine, venue, await venue.reconcile())  # the opening position
    assert engine.anomalies.counts["position_mismatch"] == 0

    def venue_says(qty: str) -> PositionEvent:
        return PositionEvent.create(
            SRC,
            Position(broker="scripted", account="main", instrument=INSTRUMENT.key, quantity=D(qty)),
        )

    await bus.publish(venue_says("5"))  # agrees (the reconcile adopted 5)
    await bus.publish(venue_says("7"))
    await bus.publish(venue_says("7"))
    await sync(engine)
    # Watched, not yet a mismatch: fills may be on their way.
    assert engine.anomalies.counts["position_mismatch"] == 0
    later = time.time_ns() + engine.position_settle_ns
    engine.check_positions(later)
    engine.check_positions(later)
    assert engine.anomalies.counts["position_mismatch"] == 1
    await bus.publish(venue_says("5"))
    await bus.publish(venue_says("6"))
    await sync(engine)
    engine.check_positions(time.time_ns() + engine.position_settle_ns)
    assert engine.anomalies.counts["position_mismatch"] == 2


async def test_a_venue_holding_in_an_instrument_never_traded_is_no_anomaly() -> None:
    """At a first connect the adapter reports what the account already holds before
    the reconcile takes it as the opening position: no alarm for that."""
    bus, engine, _ = await make()
    await bus.publish(
        PositionEvent.create(
            SRC,
            Position(broker="scripted", account="main", instrument=INSTRUMENT.key, quantity=D("3")),
        )
    )
    await sync(engine)
    assert sum(engine.anomalies.counts.values()) == 0


async def test_a_replayed_journal_does_not_alert_again() -> None:
    bus, engine, venue = await make()
    cid = await engine.submit(order("2"))
    await bus.publish(fill(cid, "x-1", "3"))
    await sync(engine)
    assert len(await engine_health(bus)) == 1

    fresh = TradingEngine(bus, [venue], RiskConfig())
    await recover(fresh, [("scripted", "main")])
    assert sum(fresh.anomalies.counts.values()) == 0
    assert fresh.anomalies.replayed["overfill"] == 1
    await fresh.publish_anomalies()
    assert len(await engine_health(bus)) == 1  # nothing new was published


async def test_the_session_reader_publishes_what_it_finds() -> None:
    bus = MemoryBus()
    settings = Settings(brokers=[PaperBrokerConfig(name="paper", account="main")])
    session = Session(settings, bus=bus)
    await session.start()
    try:
        await bus.publish(
            FillEvent.create(
                "paper/main",
                Fill(
                    exec_id="ghost-1",
                    client_order_id="ghost",
                    broker="paper",
                    account="main",
                    instrument="BTCUSDT.PAPER",
                    side=Side.BUY,
                    quantity=D("0.01"),
                    price=D("65000"),
                ),
            )
        )
        for _ in range(200):
            if await engine_health(bus):
                break
            await asyncio.sleep(0.01)
        (health,) = await engine_health(bus)
        assert health.payload.metrics["unknown_order"] == 1
    finally:
        await session.close()


def _bus_line() -> BusLine:
    return BusLine("memory", "memory://", True, None, 0.0, 0.0, 0, 0, 0, "")


async def test_an_entry_that_raises_is_skipped_counted_and_recovered_past() -> None:
    """A fill no check caught (10^500000 at 10^500000: its notional overflows the
    decimal context) ended the session's reader, and failed every recovery after it:
    the desk could not start again. It is now skipped and counted (`not_applied`), live
    and in a recovery, and the entries after it are applied."""
    bus, engine, _ = await make()
    cid = await engine.submit(order("2"))
    await bus.publish(fill(cid, "x-1", "1"))
    huge = D("1E+500000")
    poison = FillEvent.create(
        SRC,
        Fill(
            exec_id="x-huge",
            client_order_id=cid,
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            quantity=huge,
            price=huge,
        ),
    )
    poisoned = await bus.publish(poison)
    await bus.publish(fill(cid, "x-3", "1"))
    other = await engine.submit(order("1"))
    await bus.publish(fill(other, "x-4", "1"))
    await sync(engine)

    assert engine.anomalies.counts["not_applied"] == 1
    assert engine.portfolio.position("scripted", "main", INSTRUMENT.key) == D("3")
    view = engine.oms.get(other)
    assert view is not None
    assert view.order.status is OrderStatus.FILLED  # applied after the skipped entry
    (health,) = await engine_health(bus)
    assert health.payload.state is ConnectionState.DEGRADED
    assert health.payload.metrics["not_applied"] == 1
    assert f"fill {poisoned} on " in health.payload.message
    assert "could not be applied (Overflow" in health.payload.message

    # A desk started again on the same journal recovers past it.
    again = TradingEngine(bus, [], RiskConfig())
    await recover(again, [("scripted", "main")])
    assert again.anomalies.replayed["not_applied"] == 1
    assert again.portfolio.position("scripted", "main", INSTRUMENT.key) == D("3")
    replayed = again.oms.get(other)
    assert replayed is not None
    assert replayed.order.status is OrderStatus.FILLED
