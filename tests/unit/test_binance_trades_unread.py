"""One symbol's trades that Binance does not answer (myTrades failing for it: a backend
timeout, -1007) while the others' answer.

Before, the failure raised out of the whole reconcile, on every retry: the fills made
while the desk was away in every other symbol were never journaled, nor their orders'
ends, nor any position. Now each symbol is taken as far as it can be trusted: the
others are reconciled; the symbol whose trades are unread has none of its fills
reported (they are journaled, once, when Binance answers), no order of it the journal
does not know is adopted yet (adopted now, at the fills Binance counts, its fills would
come again), and an order of it the journal has working that Binance no longer lists is
reported as Binance's GET order has it (a FILLED is taken as FILLED, its fills
following), not ended CANCELED for want of its fills. The failure is said (a health
message and metric naming the symbol, an error count, a log line) and the reconcile is
asked again until the symbol's trades are read."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import FillEvent, HealthEvent, ReconcileKind
from tests.fakes.binance import SymbolSpec
from tests.support.binance_broker import Session, binance_session, build_broker
from tests.support.waiting import until

ETH, BTC = "ETHUSDT.BINANCE", "BTCUSDT.BINANCE"
SYMBOLS = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BTCUSDT", "BTC", "USDT"))
TRADES = "/api/v3/myTrades"


def buy(coid: str, key: str, qty: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
    )


async def journaled(s: Session, engine: TradingEngine, check) -> None:
    stream = s.bus.layout.exec("binance", "spot")
    for _ in range(300):
        await replay_stream(engine, stream)
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the journal never got there")


async def desk(s: Session) -> TradingEngine:
    await s.fake.set_book("ETHUSDT", [("1989", "50")], [("2011", "50")])
    await s.fake.set_book("BTCUSDT", [("29000", "50")], [("31000", "50")])
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    return engine


async def restarted(s: Session, engine: TradingEngine) -> BinanceBroker:
    again = build_broker(s.fake, s.bus, ["ETHUSDT", "BTCUSDT"])
    engine.brokers["binance"] = again
    await again.connect()
    return again


async def fills_of(s: Session) -> list[str]:
    return [e.payload.exec_id for e in await s.events() if isinstance(e, FillEvent)]


async def test_one_symbol_unread_leaves_the_others_reconciled_and_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with binance_session(symbols=SYMBOLS, balances={"USDT": "100000"}) as s:
        engine = await desk(s)
        await s.broker.place(buy("e1", ETH, "1", "1990"))
        await s.broker.place(buy("b1", BTC, "0.5", "29500"))
        await journaled(s, engine, lambda: {"e1", "b1"} <= engine.oms.orders.keys())
        await s.broker.close()
        # While the desk is away both fill; then BTCUSDT's trades cannot be read.
        await s.fake.fill(s.fake.order_by_client_id("e1").order_id)
        await s.fake.fill(s.fake.order_by_client_id("b1").order_id)
        s.fake.fail_symbol(TRADES, "BTCUSDT")
        again = await restarted(s, engine)
        asked: list[int] = []

        async def session_reconcile() -> None:  # what the session does on a reconnect
            asked.append(1)
            await reconcile_broker(engine, again)

        again.on_reconnect(session_reconcile)
        again.trades_retry_s = (0.1, 0.2)
        try:
            with caplog.at_level(logging.WARNING):
                found = await reconcile_broker(engine, again)
            await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
            # ETHUSDT reconciled: its fill journaled, the order FILLED, the position.
            e1, b1 = engine.oms.orders["e1"].order, engine.oms.orders["b1"].order
            assert (e1.status, e1.filled_qty) == (OrderStatus.FILLED, D("1"))
            assert engine.position("binance", "spot", ETH) == D("1")
            assert ReconcileKind.MISSED_FILL in [r.kind for r in found]
            # BTCUSDT: Binance's status of b1 is taken (FILLED), its fill waits, it is
            # not ended CANCELED for want of it; nothing of it was made up.
            assert b1.status is OrderStatus.FILLED
            assert b1.filled_qty == 0
            assert not [r for r in found if r.kind is ReconcileKind.LOCAL_ORDER_UNKNOWN]
            assert not [f for f in await fills_of(s) if f.startswith("BTCUSDT")]
            # Said: the health message and metric name the symbol; counted; logged.
            messages = [
                e.event.payload.message
                for e in await s.bus.read(s.bus.layout.health)
                if e.ok and isinstance(e.event, HealthEvent)
            ]
            said = [m for m in messages if "BTCUSDT" in m and "trades" in m]
            assert said
            assert "asked again" in said[-1]
            metrics = again.health_state.extra
            assert metrics["trades_unread"] == "BTCUSDT"
            assert again.health_state.errors["trades_unread"] >= 1
            assert [
                r
                for r in caplog.records
                if r.getMessage() == "binance.trades_unread"
                and getattr(r, "symbol", "") == "BTCUSDT"
            ]

            # Binance answers again: the retry's reconcile journals b1's fill, once.
            s.fake.fail_symbol(TRADES, "BTCUSDT", status=None)
            await until(lambda: "trades_unread" not in again.health_state.extra, 10.0, "read")
            await journaled(s, engine, lambda: b1.filled_qty == D("0.5"))
            assert asked
            assert engine.position("binance", "spot", BTC) == D("0.5")
            execs = await fills_of(s)
            assert len(execs) == len(set(execs)) == 2
            # Read: nothing more asked, and it was said.
            count = len(asked)
            await asyncio.sleep(0.5)
            assert len(asked) == count
        finally:
            await again.close()


def place_elsewhere(s: Session, coid: str, symbol: str, qty: str, price: str) -> int:
    """An order another program placed on the account (it reaches Binance, not us)."""
    s.fake.exchange.place(
        {
            "symbol": symbol,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": qty,
            "price": price,
            "newClientOrderId": coid,
        }
    )
    return s.fake.order_by_client_id(coid).order_id


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    e_away=st.integers(0, 10),
    b_away=st.integers(0, 5),
    x_away=st.integers(0, 3),
    b_during=st.integers(0, 5),
)
async def test_no_fill_is_lost_or_doubled_across_an_unread_symbol(
    e_away: int, b_away: int, x_away: int, b_during: int
) -> None:
    """Invariant: whatever filled while the desk was away (ETHUSDT's order, BTCUSDT's,
    and an order another program placed on BTCUSDT), then while BTCUSDT's trades could
    not be read (reported live by the user stream), once Binance answers again each of
    Binance's trades is journaled exactly once, each order holds what Binance says it
    filled, and each position is Binance's balance."""
    tenth = D("0.1")
    b_during = min(b_during, 5 - b_away)
    async with binance_session(symbols=SYMBOLS, balances={"USDT": "1000000"}) as s:
        engine = await desk(s)
        await s.broker.place(buy("e1", ETH, "1", "1990"))
        await s.broker.place(buy("b1", BTC, "0.5", "29500"))
        await journaled(s, engine, lambda: {"e1", "b1"} <= engine.oms.orders.keys())
        await s.broker.close()
        e1_id = s.fake.order_by_client_id("e1").order_id
        b1_id = s.fake.order_by_client_id("b1").order_id
        x1_id = place_elsewhere(s, "x1", "BTCUSDT", "0.5", "29400")
        for order_id, tenths in ((e1_id, e_away), (b1_id, b_away), (x1_id, x_away)):
            if tenths:
                await s.fake.fill(order_id, qty=tenths * tenth)
        s.fake.fail_symbol(TRADES, "BTCUSDT")
        again = await restarted(s, engine)
        again.trades_retry_s = (0.1, 0.2)

        async def session_reconcile() -> None:
            await reconcile_broker(engine, again)

        again.on_reconnect(session_reconcile)
        try:
            await reconcile_broker(engine, again)
            assert "x1" not in engine.oms.orders  # adopted once its fills can be read
            if b_during:  # live, on the user stream, while BTCUSDT's trades are unread
                await s.fake.fill(b1_id, qty=b_during * tenth)
                b1 = engine.oms.orders["b1"].order
                await journaled(s, engine, lambda: b1.filled_qty >= b_during * tenth)
            s.fake.fail_symbol(TRADES, "BTCUSDT", status=None)
            await until(lambda: not again._trades_unread, 10.0, "trades read")
            await journaled(s, engine, lambda: "x1" in engine.oms.orders)
            await replay_stream(engine, s.bus.layout.exec("binance", "spot"))

            execs = await fills_of(s)
            venue = {f"{t.symbol}-{t.trade_id}" for t in s.fake.trades}
            assert sorted(execs) == sorted(venue)  # each trade once
            for coid in ("e1", "b1", "x1"):
                ours = engine.oms.orders[coid].order
                theirs = s.fake.order_by_client_id(coid)
                assert ours.filled_qty == theirs.executed_qty, coid
            balances = s.fake.balances
            for key, asset in ((ETH, "ETH"), (BTC, "BTC")):
                held = sum(balances.get(asset, (D(0), D(0))), D(0))
                assert engine.position("binance", "spot", key) == held, key
        finally:
            await again.close()
