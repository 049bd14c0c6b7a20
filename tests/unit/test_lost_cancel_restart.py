"""A cancel or a modify journaled by a desk that stopped before its venue answered (or
before it was sent), at a venue that keeps its own state (the scripted venue: a dict
the test sets, as a real venue's listing). The restart's reconcile takes what the venue
holds; then a cancel the venue never took is made again and said, a modify so lost is
said (an ERROR Log line) and never sent again, and an order that ended at the venue, or
whose modify the venue took, is sent and said nothing
(`recovery.lost_requests`, `TradingEngine.cancel_lost`). The paper venue's drill on
Redis: tests/integration/test_lost_cancel_restart.py."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    ConnectionState,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from silvertine_tui.domain.ids import short_id
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, recover, replay_stream
from silvertine_tui.events import (
    EventBase,
    LogEvent,
    LogLevel,
    ModifyRequest,
    ModifyRequestEvent,
)
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

ACCOUNT = ("scripted", "main")


async def first_run() -> tuple[MemoryBus, ScriptedVenue, str]:
    """A desk rests a buy of 2 @ 10.00 at the scripted venue; the order's id."""
    bus = MemoryBus()
    await bus.start()
    venue = ScriptedVenue.build(bus)
    engine = TradingEngine(bus, [venue], RiskConfig())
    await venue.connect()
    await engine.load_instruments()
    cid = await engine.submit(
        OrderRequest(
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=D(2),
            limit_price=D("10.00"),
            tif=TimeInForce.GTC,
        )
    )
    await replay_stream(engine, bus.layout.exec(*ACCOUNT))
    assert engine.oms.orders[cid].order.status is OrderStatus.NEW
    return bus, venue, cid


async def restart(bus: MemoryBus, before: ScriptedVenue) -> tuple[TradingEngine, ScriptedVenue]:
    """A new desk on the same journal, its venue holding what `before` held; recovered,
    connected and reconciled as a session's start does."""
    venue = ScriptedVenue.build(bus)
    venue.venue_orders = dict(before.venue_orders)
    venue.venue_fills = list(before.venue_fills)
    venue.venue_positions = dict(before.venue_positions)
    engine = TradingEngine(bus, [venue], RiskConfig())
    await recover(engine, [ACCOUNT])
    await venue.connect()
    await engine.load_instruments()
    await reconcile_broker(engine, venue)
    return engine, venue


async def settled(engine: TradingEngine) -> None:
    """The restarted desk's background cancels done (the waits that make them: none
    on a build that makes none), and their events applied."""
    owed: dict[str, asyncio.Task[None]] = getattr(engine, "_lost_cancel_waits", {})
    waits = [t for t in owed.values() if not t.done()]
    if waits:
        await asyncio.wait_for(asyncio.gather(*waits), 10)
    await replay_stream(engine, engine.bus.layout.exec(*ACCOUNT))


async def journal_types(bus: MemoryBus, cid: str) -> list[str]:
    return [
        e.event.type
        for e in await bus.read(bus.layout.exec(*ACCOUNT))
        if isinstance(e.event, EventBase)
        and getattr(e.event.payload, "client_order_id", None) == cid
    ]


async def log_lines(bus: MemoryBus) -> list[tuple[LogLevel, str]]:
    return [
        (e.event.payload.level, e.event.payload.message)
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, LogEvent)
    ]


async def journal_modify(venue: ScriptedVenue, cid: str, **terms: D) -> None:
    """The desk journals a modify's intent (request, PENDING_REPLACE) and stops before
    sending it."""
    await venue.publish(
        ModifyRequestEvent.create(venue.source, ModifyRequest(client_order_id=cid, **terms))
    )
    await venue.publish_update(OrderUpdate(client_order_id=cid, status=OrderStatus.PENDING_REPLACE))


async def test_a_cancel_the_venue_never_had_is_made_again_after_the_reconcile() -> None:
    bus, venue, cid = await first_run()
    await venue.journal_cancel(cid, "")  # journaled; the desk stops before sending it
    engine, again = await restart(bus, venue)
    await settled(engine)
    assert engine.oms.orders[cid].order.status is OrderStatus.CANCELED
    assert cid not in again.venue_orders  # cancelled at the venue
    said = (
        f"cancel of {short_id(cid)} lost when the desk stopped (the venue still works it NEW): "
        "sent again"
    )
    assert (LogLevel.WARNING, said) in await log_lines(bus)
    types = await journal_types(bus, cid)
    assert types.count("order.cancel") == 2
    assert engine.unanswered == {}
    assert engine.lost_cancels == {}

    # A later reconcile (a reconnect) sends nothing again.
    await reconcile_broker(engine, again)
    await settled(engine)
    assert (await journal_types(bus, cid)).count("order.cancel") == 2


async def test_an_order_the_venue_filled_while_its_cancel_was_lost_is_sent_nothing() -> None:
    bus, venue, cid = await first_run()
    await venue.journal_cancel(cid, "")
    # The venue filled it meanwhile: no longer open, its fill listed.
    del venue.venue_orders[cid]
    venue.venue_fills.append(
        Fill(
            exec_id="x-1",
            client_order_id=cid,
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            side=Side.BUY,
            quantity=D(2),
            price=D("10.00"),
        )
    )
    venue.venue_positions[INSTRUMENT.key] = D(2)
    engine, _ = await restart(bus, venue)
    await settled(engine)
    assert engine.oms.orders[cid].order.status is OrderStatus.FILLED
    assert (await journal_types(bus, cid)).count("order.cancel") == 1
    assert not [m for _, m in await log_lines(bus) if "lost when the desk" in m]


async def test_a_modify_the_venue_never_had_is_said_and_not_sent_again() -> None:
    bus, venue, cid = await first_run()
    await journal_modify(venue, cid, quantity=D(3), limit_price=D("10.50"))
    engine, again = await restart(bus, venue)
    await settled(engine)
    order = engine.oms.orders[cid].order
    assert (order.status, order.quantity, order.limit_price) == (OrderStatus.NEW, 2, D("10.00"))
    said = (
        f"modify of {short_id(cid)} (quantity 2 -> 3, limit 10.00 -> 10.50) lost when the desk "
        "stopped: the venue works it at quantity 2, 10.00; change it again if you still want it"
    )
    assert (LogLevel.ERROR, said) in await log_lines(bus)
    types = await journal_types(bus, cid)
    assert types.count("order.modify") == 1
    assert "order.cancel" not in types
    assert again.venue_orders[cid].limit_price == D("10.00")


async def test_a_modify_the_venue_took_while_the_desk_was_down_is_not_said_lost() -> None:
    bus, venue, cid = await first_run()
    await journal_modify(venue, cid, limit_price=D("10.50"))
    # Sent before the desk stopped, taken by the venue, its answer never read.
    venue.venue_orders[cid] = venue.venue_orders[cid].model_copy(update={"limit_price": D("10.50")})
    engine, _ = await restart(bus, venue)
    await settled(engine)
    order = engine.oms.orders[cid].order
    assert (order.status, order.limit_price) == (OrderStatus.NEW, D("10.50"))
    assert not [m for _, m in await log_lines(bus) if "lost when the desk" in m]


async def test_a_lost_cancel_owed_while_the_broker_is_away_is_said_and_made_at_restart() -> None:
    """The reconcile took the venue's NEW; the broker went away right after, before the
    cancel went: it is said at once, and its intent journaled again, so that a desk
    stopped before the venue is back makes it at its next start. Kept in memory alone,
    nothing said it and the next start began with the order NEW: the cancel was never
    made (review rl)."""
    bus, venue, cid = await first_run()
    await venue.journal_cancel(cid, "")  # journaled; the desk stops before sending it
    # Run 2: recovered and reconciled; the venue drops right after the reconcile.
    second = ScriptedVenue.build(bus)
    second.venue_orders = dict(venue.venue_orders)
    engine = TradingEngine(bus, [second], RiskConfig())
    await recover(engine, [ACCOUNT])
    await second.connect()
    await engine.load_instruments()
    await reconcile_broker(engine, second)
    await second.set_state(ConnectionState.DISCONNECTED, "venue away")
    await asyncio.sleep(0.6)
    await replay_stream(engine, bus.layout.exec(*ACCOUNT))
    assert engine.lost_cancels  # owed
    said = (
        f"cancel of {short_id(cid)} lost when the desk stopped (the venue still works it NEW): "
        "it is made once scripted/main can carry a cancel again (it reads PENDING_CANCEL until "
        "then)"
    )
    assert (LogLevel.WARNING, said) in await log_lines(bus)
    assert engine.oms.orders[cid].order.status is OrderStatus.PENDING_CANCEL
    # Run 3: the desk stopped while the venue was away; the venue is back.
    for task in list(engine._lost_cancel_waits.values()):
        task.cancel()
    third, again = await restart(bus, second)
    await settled(third)
    assert cid not in again.venue_orders, "the cancel the trader asked for was never made"
    assert third.oms.orders[cid].order.status is OrderStatus.CANCELED
    sent = [m for _, m in await log_lines(bus) if m.endswith("NEW): sent again")]
    assert len(sent) == 1, sent


async def test_a_lost_cancel_is_not_made_over_a_change_the_trader_made_since() -> None:
    """The start's reconcile did not succeed (failed, or the venue was away); the
    broker is tradable while unreconciled (after a reconnect), the order reads
    PENDING_CANCEL. The trader changes its price (their newest word on the order): the
    venue takes it, the order reads NEW at 10.50. The retry's reconcile then succeeds:
    the cancel lost at the start is not made over the change (it cancelled the order
    the trader had just repriced: review rl)."""
    bus, venue, cid = await first_run()
    await venue.journal_cancel(cid, "")
    second = ScriptedVenue.build(bus)
    second.venue_orders = dict(venue.venue_orders)
    engine = TradingEngine(bus, [second], RiskConfig())
    await recover(engine, [ACCOUNT])
    await second.connect()
    await engine.load_instruments()
    assert engine.unanswered  # the start's record of the lost cancel
    # (no reconcile succeeded yet) The trader reprices the order.
    await engine.modify(cid, limit_price=D("10.50"))
    await replay_stream(engine, bus.layout.exec(*ACCOUNT))
    order = engine.oms.orders[cid].order
    assert (order.status, order.limit_price) == (OrderStatus.NEW, D("10.50"))
    # The retry's reconcile succeeds.
    await reconcile_broker(engine, second)
    await settled(engine)
    assert cid in second.venue_orders, (
        f"the order the trader repriced was cancelled: {await journal_types(bus, cid)}"
    )
    assert engine.oms.orders[cid].order.status is OrderStatus.NEW
    assert not [m for _, m in await log_lines(bus) if "lost when the desk" in m]
