"""REDUCE ONLY refuses a new order that would add to a position; entering it cancels
the working orders that would (they must not fill either) and keeps those that reduce
the position, on this desk and on a desk that reads the state another desk set."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TradingState,
)
from silvertine_tui.engine.commands import (
    Accepted,
    CancelAllDone,
    EngineGateway,
    Failed,
    ModifyOrder,
    PlaceOrder,
    Refused,
    Resume,
    SetTradingState,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.events import FillEvent, LogEvent, OrderUpdateEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue
from tests.unit.test_engine_kill import make, sync


def limit(side: Side, price: str) -> OrderRequest:
    return OrderRequest(
        broker="v0",
        account="main",
        instrument=INSTRUMENT.key,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=D("1"),
        limit_price=D(price),
    )


async def hold(engine: TradingEngine, venue: ScriptedVenue, position: int) -> None:
    """Take a position of `position` (filled at the venue, read back from the journal)."""
    if not position:
        return
    side = Side.BUY if position > 0 else Side.SELL
    cid = await engine.submit(
        limit(side, "10.00").model_copy(update={"quantity": D(abs(position))})
    )
    fill = Fill(
        exec_id=f"t-{cid}",
        client_order_id=cid,
        broker="v0",
        account="main",
        instrument=INSTRUMENT.key,
        side=side,
        quantity=D(abs(position)),
        price=D("10.00"),
    )
    await engine.bus.publish(FillEvent.create("v0/main", fill))
    del venue.venue_orders[cid]  # filled: no longer open there
    await sync(engine)
    assert engine.position("v0", "main", INSTRUMENT.key) == position


@pytest.mark.parametrize("position", [2, -2, 0])
async def test_entering_reduce_only_cancels_what_would_add_and_keeps_what_reduces(
    position: int,
) -> None:
    _, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, position)
    buy = await engine.submit(limit(Side.BUY, "9.00"))
    sell = await engine.submit(limit(Side.SELL, "11.00"))
    adding = {2: [buy], -2: [sell], 0: [buy, sell]}[position]

    outcome = await EngineGateway(engine).send(SetTradingState(state=TradingState.REDUCE_ONLY))

    assert isinstance(outcome, CancelAllDone)
    assert sorted(outcome.report.cancelled) == sorted(adding)
    assert outcome.report.ok
    assert outcome.report.summary() == (
        f"cancelled {len(adding)} order(s) that would add to a position."
    )
    assert sorted(venue.venue_orders) == sorted({buy, sell} - set(adding))
    assert engine.gate.state is TradingState.REDUCE_ONLY
    # What it cancelled, the gate refuses when new.
    with pytest.raises(RiskRejected, match="trading is REDUCE ONLY"):
        await engine.submit(limit(Side.BUY if position >= 0 else Side.SELL, "9.50"))


async def test_reduce_only_read_from_another_desk_cancels_here_too() -> None:
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 2)
    buy = await engine.submit(limit(Side.BUY, "9.00"))
    sell = await engine.submit(limit(Side.SELL, "11.00"))
    other = TradingEngine(bus, [], RiskConfig())  # another desk (or a watcher) on the bus
    await other.set_trading_state(TradingState.REDUCE_ONLY)

    await sync(engine)
    assert engine.gate.state is TradingState.REDUCE_ONLY
    assert engine.reduce_from_elsewhere
    report = await engine.honour_reduce_only()

    assert report is not None
    assert report.cancelled == (buy,)
    assert list(venue.venue_orders) == [sell]
    assert engine.reduce_from_elsewhere == ""
    logged = [
        e.event.payload.message
        for e in await bus.read(bus.layout.health)
        if isinstance(e.event, LogEvent)
    ]
    assert any(
        m.endswith(
            "after REDUCE ONLY on another desk: cancelled 1 order(s) that would add to a position."
        )
        for m in logged
    ), logged
    # Staying in it is no new change: read again, nothing more to honour.
    await sync(engine)
    assert engine.reduce_from_elsewhere == ""


async def test_a_half_filled_exit_can_be_repriced_in_reduce_only() -> None:
    """Long 2, a sell of 2 half filled (position 1): a price change leaves 1 to sell,
    which reduces. Judged whole, it was refused: "a sell of 2 would take position 1
    through zero; largest allowed 1", and the trader could not move the exit."""
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 2)
    sell = await engine.submit(limit(Side.SELL, "11.00").model_copy(update={"quantity": D(2)}))
    fill = Fill(
        exec_id="half",
        client_order_id=sell,
        broker="v0",
        account="main",
        instrument=INSTRUMENT.key,
        side=Side.SELL,
        quantity=D(1),
        price=D("11.00"),
    )
    await bus.publish(FillEvent.create("v0/main", fill))
    await bus.publish(
        OrderUpdateEvent.create(
            "v0/main",
            OrderUpdate(client_order_id=sell, status=OrderStatus.PARTIALLY_FILLED, filled_qty=D(1)),
        )
    )
    await sync(engine)
    assert engine.position("v0", "main", INSTRUMENT.key) == 1
    gateway = EngineGateway(engine)
    await gateway.send(SetTradingState(state=TradingState.REDUCE_ONLY))
    moved = await gateway.send(ModifyOrder(client_order_id=sell, limit_price=D("10.50")))
    assert moved.kind == "accepted", moved
    # More than is left to reduce is still refused: 3 in all leaves 2 against 1.
    grown = await gateway.send(ModifyOrder(client_order_id=sell, quantity=D(3)))
    assert grown.kind == "refused", grown
    assert "a sell of 2 would take position 1 through zero" in str(grown), grown


async def test_reduce_only_not_journaled_still_cancels_what_adds_and_says_so() -> None:
    """The bus refuses REDUCE ONLY's journal write. It went REDUCE_ONLY here, told the
    trader it failed, and cancelled nothing; asked again, it was refused as already
    REDUCE_ONLY: the order that adds worked on. Now it holds here at once (as the kill
    switch's HALTED does), its cancels go out beside the write, which is retried, and
    a write that never took is in the report."""
    bus, engine, (venue,) = await make(ScriptedVenue)
    await hold(engine, venue, 2)
    adds = await engine.submit(limit(Side.BUY, "9.00"))
    await sync(engine)
    bus.failures["risk"] = 1  # refused once, then written on the retry
    done = await EngineGateway(engine).send(
        SetTradingState(state=TradingState.REDUCE_ONLY, leaving=TradingState.ACTIVE)
    )
    assert isinstance(done, CancelAllDone), done
    assert done.report.cancelled == (adds,)
    assert done.report.ok, done.report.summary()
    assert adds not in venue.venue_orders
    assert engine.gate.state is TradingState.REDUCE_ONLY

    bus.failures["risk"] = 100  # never written
    await EngineGateway(engine).send(SetTradingState(state=TradingState.ACTIVE))
    assert engine.gate.state is TradingState.REDUCE_ONLY  # a looser state waits for its write
    bus.failures["risk"] = 0
    await EngineGateway(engine).send(SetTradingState(state=TradingState.ACTIVE))
    assert engine.gate.state is TradingState.ACTIVE
    bus.failures["risk"] = 100
    done = await EngineGateway(engine).send(SetTradingState(state=TradingState.REDUCE_ONLY))
    assert isinstance(done, CancelAllDone), done
    assert not done.report.ok
    assert "REDUCE_ONLY holds on this desk; not journaled" in done.report.summary()
    assert engine.gate.state is TradingState.REDUCE_ONLY


async def test_a_resume_not_journaled_leaves_trading_halted() -> None:
    """Refused by the bus, a resume said "failed" while the desk traded again (ACTIVE
    here, HALTED in the journal and on every other desk)."""
    bus, engine, _ = await make(ScriptedVenue)
    await engine.kill("drill")
    gateway = EngineGateway(engine)
    bus.failures["risk"] = 1
    resumed = await gateway.send(Resume(leaving=TradingState.HALTED))
    assert isinstance(resumed, Failed), resumed
    assert engine.gate.state is TradingState.HALTED
    assert engine.projection.trading_state is TradingState.HALTED
    placed = await gateway.send(PlaceOrder(request=limit(Side.BUY, "9.00")))
    assert isinstance(placed, Refused), placed
    resumed = await gateway.send(Resume(leaving=TradingState.HALTED))
    assert isinstance(resumed, Accepted), resumed
    assert engine.gate.state is TradingState.ACTIVE
