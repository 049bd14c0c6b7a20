"""A second change of an order refused before it goes to Binance, while the first
change's answer (the replacement, NEW at its terms) still waits for its account event:
the journal ends with the replacement's terms, NEW, and says the refusal.

The second change's PENDING_REPLACE was a repeat behind that held NEW
(`TrackedOrder.replace_after_held`). Before, the refusal (`_change_put_back`) wrote NEW
"modify refused" at the old terms, the held NEW was then dropped as no news, and the
flush (`_flush_held`) wrote PENDING_REPLACE after it: the desk showed the order on its
way at 1,990 for good while Binance worked it at 1,985 (the code review's HIGH). The
send guard's refusal after the journal writes (`_change_not_sent`) goes the same one
path and says its refusal too.

The real python-binance client against the fake Binance, the engine reading the
journal as the desk does."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.domain.errors import OrderValidationError
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import OrderUpdateEvent
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.support.binance_broker import BinanceDriver, Session, build_broker
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"


@contextlib.asynccontextmanager
async def desk() -> AsyncIterator[tuple[Session, TradingEngine]]:
    """o1 BUY 1.0 @ 1,990 working at Binance and NEW on the engine; 10,000 USDT."""
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
            await fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
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


async def since_pending(session: Session) -> list[tuple[OrderStatus, D | None, str]]:
    """o1's updates from its first modify's PENDING_REPLACE on."""
    found = [
        (e.payload.status, e.payload.limit_price, e.payload.reason)
        for e in await session.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
    ]
    first = next(i for i, u in enumerate(found) if u[0] is S.PENDING_REPLACE)
    return found[first:]


# The second change, what it raises, and how its refusal begins.
CASES = {
    # The adapter's own funds check (10 at 1,985 locks 19,850 USDT of 10,000).
    "funds": ({"quantity": D("10")}, OrderRejected, "locks 19850 USDT", "modify refused: "),
    # The limit off the tick grid: refused once the instrument is read.
    "validation": (
        {"limit_price": D("1984.999")},
        OrderValidationError,
        "tick size",
        "modify refused: ",
    ),
    # The send guard, asked after the change's journal writes (`_change_not_sent`).
    "halted": (
        {"limit_price": D("1980")},
        OrderRejected,
        "trading is HALTED",
        "modify not sent: trading is HALTED",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_a_second_change_refused_behind_the_held_replacement_ends_at_its_terms(
    case: str,
) -> None:
    change, error, words, refusal = CASES[case]
    async with desk() as (session, engine):
        broker, fake = session.broker, session.fake
        fake.lose_next_account_event(5)  # (the replacement's NEW waits for it)
        await broker.modify("o1", limit_price=D("1985"))
        held = [u for _, u in broker._held if u.client_order_id == "o1"]
        assert [(u.status, u.limit_price) for u in held] == [(S.NEW, D("1985"))], held
        if case == "halted":
            await engine.set_trading_state(TradingState.HALTED)
        with pytest.raises(error, match=words):
            await broker.modify("o1", **change)
        await until(lambda: not broker._held and not broker._flush_tasks, 5.0, "held flushed")
        await asyncio.sleep(0.1)  # (anything written after the flush lands)

        said = await since_pending(session)
        assert [u[:2] for u in said] == [(S.PENDING_REPLACE, None), (S.NEW, D("1985"))], said
        assert said[-1][2].startswith(refusal), said
        assert broker._orders["o1"].status is S.NEW
        await journaled(session, engine, lambda: True)
        order = engine.oms.orders["o1"].order
        assert (order.status, order.limit_price) == (S.NEW, D("1985"))
        assert order.reason.startswith(refusal), order.reason
        [at_binance] = [o for o in fake.exchange.open_orders() if o.client_order_id == "o1"]
        assert (at_binance.price, at_binance.orig_qty) == (D("1985"), D("1"))
