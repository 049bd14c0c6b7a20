"""An order on a symbol the desk looked up on demand (typed in the ticket, not in the
broker's `symbols`): its position and its fills are followed as a configured symbol's.
Before, every reconcile set its position to 0 (the venue's report did not list it) and
a fill made while the desk was away was never asked for (the order ended CANCELED)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from tests.fakes.binance import SymbolSpec
from tests.support.binance_broker import Session, binance_session, build_broker

BTC = "BTCUSDT.BINANCE"
SYMBOLS = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BTCUSDT", "BTC", "USDT"))


def buy_btc(coid: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("0.5"),
        limit_price=D(price),
    )


async def desk(s: Session) -> TradingEngine:
    await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
    await s.fake.set_book("BTCUSDT", [("29999", "5")], [("30001", "5")])
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    return engine


async def until_journaled(s: Session, engine: TradingEngine, check) -> None:
    stream = s.bus.layout.exec("binance", "spot")
    for _ in range(200):
        await replay_stream(engine, stream)
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the journal never got there")


async def test_a_reconcile_keeps_the_position_in_a_symbol_looked_up_on_demand() -> None:
    async with binance_session(
        symbols=SYMBOLS, quoted=["ETHUSDT"], balances={"USDT": "100000"}
    ) as s:
        engine = await desk(s)
        await s.broker.place(buy_btc("b1", "30001"))  # fills at once
        await until_journaled(s, engine, lambda: engine.position("binance", "spot", BTC) > 0)
        found = await reconcile_broker(engine, s.broker)
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        assert [r.kind for r in found] == []
        assert engine.position("binance", "spot", BTC) == D("0.5")
        assert not engine.anomalies.total


async def test_a_fill_made_away_in_a_symbol_looked_up_on_demand_is_found() -> None:
    async with binance_session(
        symbols=SYMBOLS, quoted=["ETHUSDT"], balances={"USDT": "100000"}
    ) as s:
        engine = await desk(s)
        await s.broker.place(buy_btc("b2", "29000"))  # rests
        await until_journaled(s, engine, lambda: "b2" in engine.oms.orders)
        await s.broker.close()
        await s.fake.fill(s.fake.order_by_client_id("b2").order_id)  # while away
        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        try:
            await again.connect()
            await reconcile_broker(engine, again)
            await until_journaled(
                s, engine, lambda: engine.oms.orders["b2"].order.status is OrderStatus.FILLED
            )
            order = engine.oms.orders["b2"].order
            assert order.filled_qty == D("0.5")
            assert engine.position("binance", "spot", BTC) == D("0.5")
        finally:
            await again.close()


async def test_a_journal_symbol_binance_no_longer_lists_does_not_stop_the_reconcile() -> None:
    """The journal holds a symbol Binance has delisted: asking myTrades for it raised
    InvalidSymbol and the whole reconcile failed (no missed fill, position or status of
    the account reconciled). It is looked up once, found gone, and not asked."""
    async with binance_session(symbols=SYMBOLS, balances={"USDT": "100000"}) as s:
        s.broker.journal_holds({"LUNAUSDT.BINANCE"})
        await s.broker.positions()
        report = await s.broker.reconcile(since_ns=s.broker.clock() - 60_000_000_000)
        assert report.broker == "binance"
        assert "LUNAUSDT.BINANCE" in s.broker._not_traded
