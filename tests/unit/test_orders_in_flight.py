"""Orders on their way to the venue (passed the gate, their place not answered).

A kill switch or cancel all pulled meanwhile: the order is cancelled once the venue has
taken it.
Before, its cancel came back "unknown" (the venue did not know it yet), it was counted
gone ("no longer working at the venue"), the reconcile that followed journaled it
REJECTED ("it never reached it"), and the venue took it a moment later and worked it:
after HALTED, with the desk showing nothing working.

The gate counts them as working: two sells sent at once in REDUCE ONLY each passed it
alone (the other not read back yet), and together turned a long into a short."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import (
    OrderStatus,
    Side,
    TradingState,
)
from silvertine_tui.engine import Session, in_flight
from silvertine_tui.engine.commands import (
    Accepted,
    CancelAll,
    CancelAllDone,
    CancelOrder,
    ModifyOrder,
    PlaceOrder,
    Refused,
    SetTradingState,
)
from tests.support.paper_session import paper_broker, paper_session, resting_buy

ACK_S = 0.1  # the paper venue takes an order this long after it is sent


@pytest.fixture
async def session() -> AsyncIterator[Session]:
    async with paper_session(MemoryBus(), ack_s=ACK_S) as running:
        yield running


async def ended(session: Session, cid: str) -> OrderStatus:
    for _ in range(100):
        view = session.engine.oms.get(cid)
        if view is not None and view.order.status.is_terminal:
            return view.order.status
        await asyncio.sleep(0.02)
    view = session.engine.oms.get(cid)
    return view.order.status if view is not None else OrderStatus.PENDING_NEW


async def test_a_kill_cancels_an_order_on_its_way_once_the_venue_has_it(
    session: Session,
) -> None:
    engine = session.engine
    sending = asyncio.create_task(engine.submit(resting_buy(session)))
    await asyncio.sleep(ACK_S / 5)  # on its way
    report = await engine.kill("drill")
    cid = await sending
    assert report.ok, report.summary()
    assert report.cancelled == (cid,), report.summary()
    assert report.cancels.gone == ()
    assert await ended(session, cid) is OrderStatus.CANCELED
    assert await session.brokers[0].open_orders() == []
    view = engine.oms.get(cid)
    assert view is not None
    statuses = [e.payload.status for e in view.history if e.type == "order.update"]
    assert OrderStatus.REJECTED not in statuses, statuses


async def test_a_cancel_all_cancels_an_order_on_its_way_once_the_venue_has_it(
    session: Session,
) -> None:
    engine = session.engine
    sending = asyncio.create_task(engine.submit(resting_buy(session)))
    await asyncio.sleep(ACK_S / 5)
    outcome = await session.command_gateway().send(CancelAll())
    cid = await sending
    assert isinstance(outcome, CancelAllDone), outcome
    assert outcome.report.cancelled == (cid,), outcome.report.summary()
    assert await ended(session, cid) is OrderStatus.CANCELED
    assert await session.brokers[0].open_orders() == []


async def test_reduce_only_cancels_an_adding_order_on_its_way_once_the_venue_has_it(
    session: Session,
) -> None:
    """REDUCE ONLY set while a buy (which adds: no position) is on its way. Its cancel
    came back "unknown", the report said it was no longer working, and the venue then
    took it and worked it under REDUCE ONLY."""
    engine = session.engine
    sending = asyncio.create_task(engine.submit(resting_buy(session)))
    await asyncio.sleep(ACK_S / 5)  # on its way
    report = await engine.set_trading_state(TradingState.REDUCE_ONLY)
    cid = await sending
    assert report.cancelled == (cid,), report.summary()
    assert report.gone == ()
    assert await ended(session, cid) is OrderStatus.CANCELED
    assert await session.brokers[0].open_orders() == []


async def test_an_order_refused_on_its_way_needs_no_cancel(session: Session) -> None:
    engine = session.engine
    # A sell of BTC the account does not hold: the spot venue refuses it on arrival.
    request = resting_buy(session).model_copy(update={"side": Side.SELL})
    sending = asyncio.create_task(engine.submit(request))
    await asyncio.sleep(ACK_S / 5)
    report = await engine.kill("drill")
    with pytest.raises(BrokerError):
        await sending
    assert report.ok, report.summary()
    assert report.cancelled == ()


@pytest.mark.parametrize("how", ["reduce-only state", "reduce-only orders"])
async def test_two_closing_sells_at_once_never_turn_the_position(
    session: Session, how: str
) -> None:
    engine = session.engine
    gateway = session.command_gateway()
    buy = resting_buy(session)
    mid = paper_broker(session).venue.mid("BTCUSDT.PAPER")
    assert mid is not None
    above = (mid * D("1.01")).quantize(D("0.01"))  # marketable: fills at once
    bought = await gateway.send(PlaceOrder(request=buy.model_copy(update={"limit_price": above})))
    assert isinstance(bought, Accepted), bought
    for _ in range(100):
        if engine.position("paper", "main", "BTCUSDT.PAPER") == D("0.01"):
            break
        await asyncio.sleep(0.02)
    assert engine.position("paper", "main", "BTCUSDT.PAPER") == D("0.01")
    flag = how == "reduce-only orders"
    if not flag:
        await gateway.send(SetTradingState(state=TradingState.REDUCE_ONLY))
    sell = resting_buy(session).model_copy(
        update={"side": Side.SELL, "limit_price": above, "reduce_only": flag}
    )
    first, second = await asyncio.gather(
        gateway.send(PlaceOrder(request=sell.model_copy(update={"client_order_id": "a" * 20}))),
        gateway.send(PlaceOrder(request=sell.model_copy(update={"client_order_id": "b" * 20}))),
    )
    assert isinstance(first, Accepted), first
    assert isinstance(second, Refused), second
    assert "would take position 0.01 through zero with 0.01 already working" in str(second)


async def test_an_order_the_venue_took_counts_until_the_engine_reads_it_back() -> None:
    """Two reduce-only sells of the whole position, the second sent the moment the
    first's place returned (the venue answers at once). The first was let go of when
    its place returned, before the engine's reader had it: the second passed the gate
    and only the venue's own check stopped it (a venue without one, or shorting
    allowed, turned the long into a short). The gate now refuses it."""
    async with paper_session(MemoryBus(), ack_s=0.0) as session:
        engine = session.engine
        gateway = session.command_gateway()
        mid = paper_broker(session).venue.mid("BTCUSDT.PAPER")
        assert mid is not None
        above = (mid * D("1.01")).quantize(D("0.01"))
        buy = resting_buy(session).model_copy(update={"limit_price": above})
        assert isinstance(await gateway.send(PlaceOrder(request=buy)), Accepted)
        for _ in range(100):
            if engine.position("paper", "main", "BTCUSDT.PAPER") == D("0.01"):
                break
            await asyncio.sleep(0.02)
        below = (mid * D("0.995")).quantize(D("0.01"))
        sell = resting_buy(session).model_copy(
            update={"side": Side.SELL, "limit_price": below, "reduce_only": True}
        )
        first = await gateway.send(PlaceOrder(request=sell))
        assert isinstance(first, Accepted), first
        second = await gateway.send(
            PlaceOrder(request=sell.model_copy(update={"client_order_id": "c" * 20}))
        )
        assert isinstance(second, Refused), second
        assert "already working" in str(second)
        for _ in range(100):  # let go once read back
            if not engine.in_flight.now():
                break
            await asyncio.sleep(0.02)
        assert engine.in_flight.now() == {}
        assert first.client_order_id in engine.oms.orders


async def test_two_raises_at_once_in_reduce_only_never_turn_the_position() -> None:
    """Long 0.02, two resting sells of 0.005, REDUCE ONLY; the trader raises both to
    0.015 at once. Each raise was checked against the other's old quantity (a change
    counts once the venue answers and the engine reads it back): both passed the gate,
    and together they sold 0.03 of 0.02 (on a venue that lets a short through). The
    second is now refused at the gate: the first counts at its new quantity."""
    async with paper_session(MemoryBus(), ack_s=0.05) as session:
        engine = session.engine
        gateway = session.command_gateway()
        mid = paper_broker(session).venue.mid("BTCUSDT.PAPER")
        assert mid is not None
        above = (mid * D("1.01")).quantize(D("0.01"))
        buy = resting_buy(session).model_copy(update={"limit_price": above, "quantity": D("0.02")})
        assert isinstance(await gateway.send(PlaceOrder(request=buy)), Accepted)
        for _ in range(100):
            if engine.position("paper", "main", "BTCUSDT.PAPER") == D("0.02"):
                break
            await asyncio.sleep(0.02)
        high = (mid * D("1.02")).quantize(D("0.01"))  # rests above the market
        sells = [
            resting_buy(session).model_copy(
                update={"side": Side.SELL, "limit_price": high, "quantity": D("0.005")}
            )
            for _ in range(2)
        ]
        for sell in sells:
            assert isinstance(await gateway.send(PlaceOrder(request=sell)), Accepted)
        for _ in range(100):
            if all(engine.oms.get(s.client_order_id) is not None for s in sells):
                break
            await asyncio.sleep(0.02)
        await gateway.send(SetTradingState(state=TradingState.REDUCE_ONLY))
        outcomes = await asyncio.gather(
            *(
                gateway.send(ModifyOrder(client_order_id=s.client_order_id, quantity=D("0.015")))
                for s in sells
            )
        )
        refused = [o for o in outcomes if isinstance(o, Refused)]
        assert len(refused) == 1, outcomes
        assert "already working" in str(refused[0])


async def test_a_raise_of_an_order_that_ended_is_let_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """A raise is let go once the order shows it, but only when the gate asks about
    the order, which it never does once the order ended: each raised order that then
    filled or was cancelled stayed for the session. Now any raise answered longer than
    `READ_BACK_S` ago goes at the next raise (the bound shortened here)."""
    monkeypatch.setattr(in_flight, "READ_BACK_S", 0.05)
    async with paper_session(MemoryBus(), ack_s=0.0) as session:
        engine = session.engine
        gateway = session.command_gateway()
        first, second = resting_buy(session), resting_buy(session)
        for request in (first, second):
            assert isinstance(await gateway.send(PlaceOrder(request=request)), Accepted)
        for _ in range(100):
            if all(engine.oms.get(r.client_order_id) is not None for r in (first, second)):
                break
            await asyncio.sleep(0.02)
        raised = ModifyOrder(client_order_id=first.client_order_id, quantity=D("0.02"))
        assert isinstance(await gateway.send(raised), Accepted)
        assert isinstance(
            await gateway.send(CancelOrder(client_order_id=first.client_order_id)), Accepted
        )
        assert await ended(session, first.client_order_id) is OrderStatus.CANCELED
        await asyncio.sleep(0.1)
        again = ModifyOrder(client_order_id=second.client_order_id, quantity=D("0.02"))
        assert isinstance(await gateway.send(again), Accepted)
        assert len(engine.changes_in_flight) <= 1  # the ended order's change is gone
