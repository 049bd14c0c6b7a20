"""The paper broker and a modify refused after its journal writes
(`Broker._refuse_change_if_held`): the order's status as the venue holds it is put
back (`PaperBroker._change_not_sent` -> `_as_the_venue_holds`), through the outbox,
behind the reports queued before it (another order's fill waiting out its latency).
A cancel of the same order journaled its PENDING_CANCEL meanwhile, and the put-back
then landed after it: the journal read PENDING_REPLACE, PENDING_CANCEL, NEW "modify
not sent ...", CANCELED. Now the adapter's own steps are journaled under the outbox's
lock too (`publish_update`) and the put-back is written only while the journal still
reads the change's PENDING_REPLACE (`_stale_put_back`).

The bus is a memory bus whose one write waits until the test lets it go (Redis slow);
the paper venue runs no market of its own: the test feeds it a quote."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import PaperBrokerConfig, Settings
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    TradingState,
)
from silvertine_tui.engine import Session
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.support.desks import until

S = OrderStatus
KEY = "BTCUSDT.PAPER"
HALTED = r"trading is HALTED \(kill switch\)"


class SlowBus(MemoryBus):
    """A memory bus whose one write `slow_on` picks waits until `go` is set (Redis
    stalled): `held` is set while it waits."""

    def __init__(self) -> None:
        super().__init__(BusOptions(prefix=f"paper-{uuid.uuid4().hex[:8]}", block_ms=50))
        self.slow_on: Callable[[EventBase], bool] | None = None
        self.held = asyncio.Event()
        self.go = asyncio.Event()

    async def publish(self, event: EventBase) -> str | None:
        if self.slow_on is not None and self.slow_on(event):
            self.slow_on = None
            self.held.set()
            await self.go.wait()
        return await super().publish(event)


@contextlib.asynccontextmanager
async def paper_desk() -> AsyncIterator[tuple[Session, PaperBroker, SlowBus]]:
    """A session on one paper broker whose fills reach the journal 0.3 s after they are
    made (a busy venue's outbox); orders and cancels are answered at once."""
    bus = SlowBus()
    await bus.start()
    paper = PaperBrokerConfig(
        name="paper",
        account="main",
        seed=7,
        symbols=["BTCUSDT"],
        market={"autorun": False},
        latency={"ack_ms": 0, "fill_ms": 300, "cancel_ms": 1, "jitter_ms": 0},
    )
    session = Session(Settings.model_validate({"brokers": [paper]}), bus=bus)
    await session.start()
    try:
        [broker] = session.brokers
        assert isinstance(broker, PaperBroker)
        yield session, broker, bus
    finally:
        bus.go.set()
        await session.close()
        await bus.close()


def buy(price: Decimal) -> OrderRequest:
    return OrderRequest(
        broker="paper",
        account="main",
        instrument=KEY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=price.quantize(Decimal("0.01")),
        tif=TimeInForce.GTC,
    )


async def resting(session: Session, *prices: Decimal) -> list[str]:
    """Buys at `prices`, each NEW on the desk."""
    ids = [await session.engine.submit(buy(price)) for price in prices]
    await until(
        lambda: all(
            (view := session.engine.oms.get(cid)) is not None and view.order.status is S.NEW
            for cid in ids
        ),
        5,
    )
    return ids


async def updates_of(bus: SlowBus, cid: str) -> list[tuple[OrderStatus, str]]:
    return [
        (e.event.payload.status, e.event.payload.reason)
        for e in await bus.read(bus.layout.exec("paper", "main"))
        if isinstance(e.event, OrderUpdateEvent) and e.event.payload.client_order_id == cid
    ]


def pending_replace_of(cid: str) -> Callable[[EventBase], bool]:
    return lambda e: (
        isinstance(e, OrderUpdateEvent)
        and e.payload.client_order_id == cid
        and e.payload.status is S.PENDING_REPLACE
    )


async def held_change(
    session: Session, paper: PaperBroker, bus: SlowBus, cid: str
) -> asyncio.Task[None]:
    """`cid`'s modify handed to the broker, its PENDING_REPLACE held in the bus."""
    bus.slow_on = pending_replace_of(cid)
    mid = paper.venue.mid(KEY)
    assert mid is not None
    price = (mid * Decimal("0.97")).quantize(Decimal("0.01"))
    change = asyncio.create_task(session.engine.modify(cid, limit_price=price))
    await asyncio.wait_for(bus.held.wait(), 5)
    return change


async def fill_on_its_way(paper: PaperBroker, price: Decimal) -> None:
    """The market trades down to `price`: a resting buy there fills, its report queued
    for the fill latency."""
    at = price.quantize(Decimal("0.01"))
    quote = Quote(instrument=KEY, bid=at - 1, ask=at, bid_size=Decimal(1), ask_size=Decimal(1))
    reports = await paper.on_market_data(quote)
    assert [r.status for r in reports] == [S.FILLED]


async def test_a_cancel_racing_the_status_put_back_is_not_written_over() -> None:
    async with paper_desk() as (session, paper, bus):
        mid = paper.venue.mid(KEY)
        assert mid is not None
        a, b = await resting(session, mid * Decimal("0.98"), mid * Decimal("0.995"))
        change = await held_change(session, paper, bus, a)
        cancel = asyncio.create_task(paper.cancel(a))
        await asyncio.sleep(0.05)  # its PENDING_CANCEL waits behind the change's write
        await fill_on_its_way(paper, mid * Decimal("0.99"))  # b's fill, 0.3 s away
        await session.engine.set_trading_state(TradingState.HALTED)
        bus.go.set()
        with pytest.raises(OrderRejected, match=rf"^modify of {a} not sent: {HALTED}"):
            await asyncio.wait_for(change, 5)
        await asyncio.wait_for(cancel, 5)
        await paper.settle()

        said = await updates_of(bus, a)
        first = [s for s, _ in said].index(S.PENDING_REPLACE)
        assert [s for s, _ in said[first:]] == [S.PENDING_REPLACE, S.PENDING_CANCEL, S.CANCELED]
        assert not any(reason.startswith("modify not sent") for _, reason in said), said
        order = paper.venue.order(a)
        assert order is not None
        assert order.status is S.CANCELED
        assert order.limit_price == (mid * Decimal("0.98")).quantize(Decimal("0.01"))
        assert [s for s, _ in await updates_of(bus, b)][-1] is S.FILLED
        await until(lambda: session.engine.oms.orders[a].order.status is S.CANCELED, 5)


async def test_a_status_put_back_behind_a_fill_on_its_way_is_still_written() -> None:
    """Nothing raced it: the put-back waits behind the other order's fill and is then
    written, the order NEW again, saying why."""
    async with paper_desk() as (session, paper, bus):
        mid = paper.venue.mid(KEY)
        assert mid is not None
        a, b = await resting(session, mid * Decimal("0.98"), mid * Decimal("0.995"))
        change = await held_change(session, paper, bus, a)
        await fill_on_its_way(paper, mid * Decimal("0.99"))
        await session.engine.set_trading_state(TradingState.HALTED)
        bus.go.set()
        with pytest.raises(OrderRejected, match=HALTED) as refused:
            await asyncio.wait_for(change, 5)
        said = "modify " + str(refused.value).removeprefix(f"modify of {a} ")
        await paper.settle()
        assert (await updates_of(bus, a))[-2:] == [(S.PENDING_REPLACE, ""), (S.NEW, said)]
        await until(lambda: session.engine.oms.orders[a].order.reason == said, 5)
        assert session.engine.oms.orders[a].order.status is S.NEW
        assert [s for s, _ in await updates_of(bus, b)][-1] is S.FILLED
