"""A second change of an order made while the first change's replacement waits, NEW at
its terms, for its account event (`BinanceBroker._held`), then a fill comes: the fill's
NEW (`BinanceBroker._new_before_fill`) takes the held statuses that go before it and
spends the second change's PENDING_REPLACE (`TrackedOrder.replace_after_held`) as the
flush of the held statuses does.

Before, the fill took the first held NEW of the order whatever its venue order and left
`replace_after_held` set: the second change answered with fills at once (its
replacement traded through the book) journaled the first replacement's NEW as the one
before the second's fill, no PENDING_REPLACE of the second change and no NEW at its
terms; and the next status of the order that waited for its account event (that fill's
PARTIALLY_FILLED) was followed by a PENDING_REPLACE nothing ended: the desk read the
order on its way for good while Binance worked it, part-filled, at 2,005.

The real python-binance client against the fake Binance (REST and the user stream),
the engine reading the journal as the desk does."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers.binance import broker as binance_broker
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.support.binance_broker import BinanceDriver, Session, build_broker
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"


@contextlib.asynccontextmanager
async def desk() -> AsyncIterator[tuple[Session, TradingEngine]]:
    """o1 BUY 1.0 @ 1,990 working at Binance and NEW on the engine; 10,000 USDT; 0.4
    ETH offered at 2,001."""
    bus = MemoryBus(BusOptions(prefix=f"binance-{uuid.uuid4().hex[:8]}", block_ms=50))
    await bus.start()
    async with FakeBinance(
        symbols=(SymbolSpec(ETH, "ETH", "USDT"),),
        balances={"USDT": "10000"},
        commission=Commission(mode="quote"),
    ) as fake:
        broker = build_broker(fake, bus, [ETH], request_timeout_s=5.0)
        session = Session(fake, bus, broker, BinanceDriver(fake, broker, ETH))
        try:
            await broker.connect()
            await fake.set_book(ETH, [("1980", "5")], [("2001", "0.4")])
            engine = TradingEngine(bus, [broker], RiskConfig())
            await engine.load_instruments()
            await broker.place(o1())
            await journaled(
                session,
                engine,
                lambda: "o1" in engine.oms.orders and engine.oms.orders["o1"].order.status is S.NEW,
            )
            yield session, engine
        finally:
            await broker.close()
            await bus.close()


async def test_a_second_change_filled_at_once_behind_the_held_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The first replacement's NEW waits for its account event (lost) for longer than
    # this test takes: the timer that sends it without one never runs first.
    monkeypatch.setattr(binance_broker, "ACCOUNT_WAIT_S", 5.0)
    async with desk() as (session, engine):
        broker, fake = session.broker, session.fake
        fake.lose_next_account_event(1)  # the first change's
        await broker.modify("o1", limit_price=D("1985"))
        held = [u for _, u in broker._held if u.client_order_id == "o1"]
        assert [(u.status, u.limit_price) for u in held] == [(S.NEW, D("1985"))], held

        # Through the offer: Binance's replacement buys the 0.4 offered at once (in the
        # cancelReplace's answer and on the stream) and works the rest at 2,005.
        await broker.modify("o1", limit_price=D("2005"))
        await until(lambda: not broker._held and not broker._flush_tasks, 5.0, "held flushed")
        await journaled(
            session,
            engine,
            lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"),
        )

        said: list[tuple[object, str | None, D | None]] = []
        for e in await session.events():
            if isinstance(e, FillEvent) and e.payload.client_order_id == "o1":
                said.append(("FILL", e.payload.venue_order_id, None))
            elif isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1":
                u = e.payload
                said.append((u.status, u.venue_order_id, u.limit_price))
        first = said.index((S.PENDING_REPLACE, None, None))
        r1 = held[0].venue_order_id
        [r2] = [o.order_id for o in fake.exchange.open_orders() if o.client_order_id == "o1"]
        assert said[first:] == [
            (S.PENDING_REPLACE, None, None),
            (S.NEW, r1, D("1985")),
            (S.PENDING_REPLACE, None, None),  # the second change, on its way
            (S.NEW, str(r2), D("2005")),  # its replacement at its terms, then its fill
            ("FILL", str(r2), None),
            (S.PARTIALLY_FILLED, str(r2), D("2005")),
        ], said[first:]
        assert not broker._orders["o1"].replace_after_held

        order = engine.oms.orders["o1"].order
        assert (order.status, order.limit_price, order.filled_qty) == (
            S.PARTIALLY_FILLED,
            D("2005"),
            D("0.4"),
        )
        [at_binance] = [o for o in fake.exchange.open_orders() if o.client_order_id == "o1"]
        assert (at_binance.status, at_binance.price) == ("PARTIALLY_FILLED", D("2005"))
