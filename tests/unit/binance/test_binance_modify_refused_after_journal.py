"""A modify whose journal write waited (Redis busy or stalled) while trading went
HALTED is not sent to Binance: the broker asks the engine again once the change's
intent and PENDING_REPLACE are written (`Broker._refuse_change_if_held`, `send_guard`).
Nothing goes out (no cancelReplace, no amend), the journal's PENDING_REPLACE goes back
to the order's status (`BinanceBroker._change_not_sent`) saying why, and the modify
raises `OrderRejected` with those words. Before, the change went to Binance after
HALTED.

The wire is the real one (python-binance against the fake Binance); the bus is a
memory bus whose one write waits until the test lets it go."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.bus import BusError, BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.support.binance_broker import BinanceDriver, Session, build_broker
from tests.support.binance_stream import journaled, o1

S = OrderStatus
ETH = "ETHUSDT"
REPLACE = ("POST", "/api/v3/order/cancelReplace")
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
HALTED = r"^modify of o1 not sent: trading is HALTED \(kill switch\)"


class SlowBus(MemoryBus):
    """A memory bus whose one write `slow_on` picks waits until `go` is set (Redis
    stalled): `held` is set while it waits. The one write `refuse_on` picks is refused
    (Redis READONLY), once."""

    def __init__(self, options: BusOptions) -> None:
        super().__init__(options)
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


def pending_replace(event: EventBase) -> bool:
    return (
        isinstance(event, OrderUpdateEvent)
        and event.payload.client_order_id == "o1"
        and event.payload.status is S.PENDING_REPLACE
    )


@contextlib.asynccontextmanager
async def desk() -> AsyncIterator[tuple[Session, SlowBus, FakeBinance, TradingEngine]]:
    """o1 BUY 1.0 @ 1,990 working at Binance and NEW on the engine; ETHUSDT amendable."""
    bus = SlowBus(BusOptions(prefix=f"binance-{uuid.uuid4().hex[:8]}", block_ms=50))
    await bus.start()
    fake = FakeBinance(
        symbols=(SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),),
        balances={"USDT": "100000"},
        commission=Commission(mode="quote"),
    )
    async with fake:
        broker = build_broker(fake, bus, [ETH], request_timeout_s=5.0)
        session = Session(fake, bus, broker, BinanceDriver(fake, broker, ETH))
        try:
            await broker.connect()
            await fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
            engine = TradingEngine(bus, [broker], RiskConfig())
            await engine.load_instruments()
            await broker.place(o1())
            await journaled(
                session,
                engine,
                lambda: "o1" in engine.oms.orders and engine.oms.orders["o1"].order.status is S.NEW,
            )
            yield session, bus, fake, engine
        finally:
            bus.go.set()
            await broker.close()
            await bus.close()


async def since_pending(session: Session) -> list[tuple[OrderStatus, D | None, str]]:
    """o1's updates from its modify's PENDING_REPLACE on."""
    found = [
        (e.payload.status, e.payload.filled_qty, e.payload.reason)
        for e in await session.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
    ]
    first = next(i for i, u in enumerate(found) if u[0] is S.PENDING_REPLACE)
    return found[first:]


async def halted_while_journaled(
    session: Session, bus: SlowBus, engine: TradingEngine, **change: D
) -> str:
    """The modify of o1 handed to the broker (trading ACTIVE), its PENDING_REPLACE held
    in the bus while trading goes HALTED; returns what it raised, as the order's
    history says it ("modify not sent: ...")."""
    bus.slow_on = pending_replace
    modify = asyncio.create_task(engine.modify("o1", **change))
    await asyncio.wait_for(bus.held.wait(), 5.0)
    await engine.set_trading_state(TradingState.HALTED)
    bus.go.set()
    with pytest.raises(OrderRejected, match=HALTED) as refused:
        await asyncio.wait_for(modify, 10.0)
    said = str(refused.value)
    assert said.endswith("; the order works on unchanged at its old terms"), said
    return "modify " + said.removeprefix("modify of o1 ")


@pytest.mark.parametrize(
    "change",
    [{"limit_price": D("1985")}, {"quantity": D("0.6")}],
    ids=["price-by-cancelReplace", "quantity-cut-by-amend"],
)
async def test_a_modify_held_in_its_journal_write_as_trading_halts_is_not_sent(
    change: dict[str, D],
) -> None:
    async with desk() as (session, bus, fake, engine):
        [before] = fake.orders.values()
        asked = len(fake.requests)
        said = await halted_while_journaled(session, bus, engine, **change)

        # Nothing went to Binance: the same venue order, at its old terms.
        assert [r for r in fake.requests[asked:] if r in (REPLACE, AMEND)] == []
        [after] = fake.orders.values()
        assert (after.order_id, after.status, after.price, after.orig_qty) == (
            before.order_id,
            "NEW",
            D("1990"),
            D("1.0"),
        )
        # The journal's PENDING_REPLACE is resolved, saying why; the desk reads it back.
        assert await since_pending(session) == [
            (S.PENDING_REPLACE, None, ""),
            (S.NEW, D(0), said),
        ]
        await journaled(session, engine, lambda: engine.oms.orders["o1"].order.reason == said)
        order = engine.oms.orders["o1"].order
        assert (order.status, order.limit_price, order.quantity) == (S.NEW, D("1990"), D("1.0"))


async def test_a_part_filled_order_s_modify_refused_so_goes_back_to_partially_filled() -> None:
    async with desk() as (session, bus, fake, engine):
        await fake.fill(fake.order_by_client_id("o1").order_id, qty=D("0.4"))
        await journaled(
            session, engine, lambda: engine.oms.orders["o1"].order.status is S.PARTIALLY_FILLED
        )
        asked = len(fake.requests)
        said = await halted_while_journaled(session, bus, engine, limit_price=D("1985"))

        assert [r for r in fake.requests[asked:] if r in (REPLACE, AMEND)] == []
        assert await since_pending(session) == [
            (S.PENDING_REPLACE, None, ""),
            (S.PARTIALLY_FILLED, D("0.4"), said),
        ]
        await journaled(session, engine, lambda: engine.oms.orders["o1"].order.reason == said)
        order = engine.oms.orders["o1"].order
        assert (order.status, order.limit_price, order.filled_qty) == (
            S.PARTIALLY_FILLED,
            D("1990"),
            D("0.4"),
        )


async def test_the_status_put_back_that_the_bus_refuses_is_kept_and_written_later() -> None:
    """The journal's PENDING_REPLACE must not stay for good: the status put back, refused
    by the bus, is kept and written again once it takes it, not raised (the modify's
    refusal is what the caller hears)."""
    async with desk() as (session, bus, _fake, engine):
        bus.refuse_on = lambda e: (
            isinstance(e, OrderUpdateEvent)
            and e.payload.client_order_id == "o1"
            and e.payload.reason.startswith("modify not sent")
        )
        said = await halted_while_journaled(session, bus, engine, limit_price=D("1985"))
        assert bus.refuse_on is None  # (refused once)
        assert session.broker.unjournaled == 1
        await journaled(session, engine, lambda: engine.oms.orders["o1"].order.reason == said)
        assert session.broker.unjournaled == 0
        assert await since_pending(session) == [
            (S.PENDING_REPLACE, None, ""),
            (S.NEW, D(0), said),
        ]
        assert engine.oms.orders["o1"].order.status is S.NEW


async def test_an_amend_behind_a_held_status_asks_again_after_writing_it() -> None:
    """o1's part fill (0.4) waits for its account event (its PARTIALLY_FILLED held), so
    a quantity cut first writes that held status, then amends. That write stalled
    (Redis) while trading went HALTED: the amend went to Binance after the halt (the
    code review's HIGH: the guard was asked before the write, not after). Now nothing
    is sent, and the order reads PARTIALLY_FILLED."""
    async with desk() as (session, bus, fake, engine):
        fake.lose_next_account_event()
        await fake.fill(fake.order_by_client_id("o1").order_id, qty=D("0.4"))
        async with asyncio.timeout(5):
            while not session.broker._held:  # noqa: ASYNC110 (its status waits for the account event)
                await asyncio.sleep(0.001)
        bus.slow_on = lambda e: (
            isinstance(e, OrderUpdateEvent)
            and e.payload.client_order_id == "o1"
            and e.payload.status is OrderStatus.PARTIALLY_FILLED
        )
        asked = len(fake.requests)
        modify = asyncio.create_task(engine.modify("o1", quantity=D("0.6")))
        await asyncio.wait_for(bus.held.wait(), 5.0)
        await engine.set_trading_state(TradingState.HALTED)
        bus.go.set()
        with pytest.raises(OrderRejected, match="trading is HALTED"):
            await asyncio.wait_for(modify, 10.0)
        assert [r for r in fake.requests[asked:] if r in (REPLACE, AMEND)] == []
        # The journal ends at the held status written (the part fill), never at
        # PENDING_REPLACE; the refusal is the modify's own (raised above).
        said = await since_pending(session)
        assert said[-1][:2] == (OrderStatus.PARTIALLY_FILLED, D("0.4")), said
        assert fake.order_by_client_id("o1").orig_qty == D("1.0")


async def test_a_cancel_racing_the_status_put_back_is_not_written_over() -> None:
    """o1's change held in its journal write, a cancel of it sent meanwhile (its
    PENDING_CANCEL waiting on the publish lock), trading HALTED: the change is not
    sent, and its status put back never lands over the cancel's PENDING_CANCEL (it
    read PENDING_REPLACE, PENDING_CANCEL, NEW "modify not sent ...", CANCELED: the code
    review's MED)."""
    async with desk() as (session, bus, fake, engine):
        bus.slow_on = pending_replace
        modify = asyncio.create_task(engine.modify("o1", limit_price=D("1985")))
        await asyncio.wait_for(bus.held.wait(), 5.0)
        cancel = asyncio.create_task(session.broker.cancel("o1"))
        await asyncio.sleep(0.2)
        await engine.set_trading_state(TradingState.HALTED)
        bus.go.set()
        with pytest.raises(OrderRejected, match="trading is HALTED"):
            await asyncio.wait_for(modify, 10.0)
        await asyncio.wait_for(cancel, 10.0)
        async with asyncio.timeout(5):
            said = [u[0] for u in await since_pending(session)]
            while OrderStatus.CANCELED not in said:
                await asyncio.sleep(0.05)
                said = [u[0] for u in await since_pending(session)]
        assert said[: said.index(OrderStatus.CANCELED) + 1] == [
            OrderStatus.PENDING_REPLACE,
            OrderStatus.PENDING_CANCEL,
            OrderStatus.CANCELED,
        ], said
        assert fake.order_by_client_id("o1").price == D("1990")
