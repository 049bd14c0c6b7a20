"""The base class's part of a modify refused after its journal writes
(`Broker._refuse_change_if_held`): the engine's `send_guard` is asked once the change's
intent and PENDING_REPLACE are written; refused, nothing goes to the venue and the
journal's PENDING_REPLACE is ended by the venue's status of the order (the default
`_change_not_sent`: asked of the venue, journaled as a report, kept when the bus
refuses it). On the scripted venue, which adds nothing of its own to the contract."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import SendRefused
from silvertine_tui.bus import BusError, BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.fakes.scripted_venue import INSTRUMENT, ScriptedVenue

S = OrderStatus


class HeldBus(MemoryBus):
    """The one write `slow_on` picks waits until `go` is set (Redis stalled); the one
    `refuse_on` picks is refused (Redis READONLY), once."""

    def __init__(self) -> None:
        super().__init__(BusOptions(block_ms=50))
        self.slow_on: Callable[[EventBase], bool] | None = None
        self.refuse_on: Callable[[EventBase], bool] | None = None
        self.held = asyncio.Event()
        self.go = asyncio.Event()

    async def publish(self, event: EventBase) -> str | None:
        if self.slow_on is not None and self.slow_on(event):
            self.slow_on = None
            self.held.set()
            await self.go.wait()
        if self.refuse_on is not None and self.refuse_on(event):
            self.refuse_on = None
            raise BusError("Redis refused the write (READONLY): it was not journaled")
        return await super().publish(event)


def updated(status: OrderStatus) -> Callable[[EventBase], bool]:
    return lambda e: isinstance(e, OrderUpdateEvent) and e.payload.status is status


async def working(bus: HeldBus) -> tuple[TradingEngine, ScriptedVenue, str]:
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
            quantity=D(1),
            limit_price=D("10.00"),
        )
    )
    await sync(engine)
    return engine, venue, cid


async def sync(engine: TradingEngine) -> None:
    await replay_stream(engine, engine.bus.layout.exec("scripted", "main"))


async def updates(bus: HeldBus, cid: str) -> list[tuple[OrderStatus, str]]:
    return [
        (e.event.payload.status, e.event.payload.reason)
        for e in await bus.read(bus.layout.exec("scripted", "main"))
        if isinstance(e.event, OrderUpdateEvent) and e.event.payload.client_order_id == cid
    ]


async def halted_while_journaled(bus: HeldBus, engine: TradingEngine, cid: str) -> str:
    """The change handed over (ACTIVE), its PENDING_REPLACE held while trading goes
    HALTED. Returns what it raised, as the order's history says it."""
    bus.slow_on = updated(S.PENDING_REPLACE)
    change = asyncio.create_task(engine.modify(cid, limit_price=D("9.50")))
    await asyncio.wait_for(bus.held.wait(), 5)
    await engine.set_trading_state(TradingState.HALTED)
    bus.go.set()
    with pytest.raises(SendRefused) as refused:  # held by the desk: nothing sent
        await asyncio.wait_for(change, 5)
    said = str(refused.value)
    assert said == (
        f"modify of {cid} not sent: trading is HALTED (kill switch): nothing more goes to "
        "the venues; the order works on unchanged at its old terms"
    )
    return "modify " + said.removeprefix(f"modify of {cid} ")


async def test_a_change_held_as_trading_halts_is_not_sent_and_its_pending_replace_ends() -> None:
    bus = HeldBus()
    await bus.start()
    try:
        engine, venue, cid = await working(bus)
        said = await halted_while_journaled(bus, engine, cid)
        assert venue.venue_orders[cid].limit_price == D("10.00")  # never changed there
        assert (await updates(bus, cid))[-2:] == [(S.PENDING_REPLACE, ""), (S.NEW, said)]
        await sync(engine)
        order = engine.oms.orders[cid].order
        assert (order.status, order.limit_price, order.reason) == (S.NEW, D("10.00"), said)
    finally:
        await bus.close()


async def test_the_status_put_back_that_the_bus_refuses_is_kept_and_written_later() -> None:
    bus = HeldBus()
    await bus.start()
    try:
        engine, venue, cid = await working(bus)
        bus.refuse_on = updated(S.NEW)
        said = await halted_while_journaled(bus, engine, cid)
        assert bus.refuse_on is None  # (refused once: kept, not raised)
        assert venue.unjournaled == 1
        async with asyncio.timeout(5):
            while venue.unjournaled:  # noqa: ASYNC110 - written again on the kept task's timer
                await asyncio.sleep(0.05)
        assert (await updates(bus, cid))[-2:] == [(S.PENDING_REPLACE, ""), (S.NEW, said)]
    finally:
        await bus.close()


async def test_a_change_goes_when_nothing_refuses_it() -> None:
    """The guard asked and answering None: the change goes, as before."""
    bus = HeldBus()
    await bus.start()
    try:
        engine, venue, cid = await working(bus)
        await engine.modify(cid, limit_price=D("9.50"))
        assert venue.venue_orders[cid].limit_price == D("9.50")
        assert [s for s, _ in await updates(bus, cid)][-2:] == [S.PENDING_REPLACE, S.NEW]
    finally:
        await bus.close()
