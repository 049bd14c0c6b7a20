"""A fee asset the journal holds a balance in (BNB, no instrument of it followed) and
Binance no longer lists (it lists only what is not 0) goes to 0 on the desk after a
restart: the adapter has not published it in this run, and its reconcile's zeros
covered only the followed instruments' assets. It stayed at its journaled balance."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from tests.fakes.binance.exchange import Balance
from tests.support.binance_broker import Session, binance_session, build_broker

BNB = ("binance", "spot", "BNB")


async def until_applied(s: Session, engine: TradingEngine, total: D) -> None:
    for _ in range(200):
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        held = engine.portfolio.balances.get(BNB)
        if held is not None and held.total == total:
            return
        await asyncio.sleep(0.01)
    held = engine.portfolio.balances.get(BNB)
    raise AssertionError(f"BNB on the desk: {held and held.total}, not {total}")


async def test_a_fee_asset_gone_while_the_desk_was_down_is_zero_after_a_restart() -> None:
    async with binance_session(balances={"USDT": "10000", "BNB": "5"}) as s:
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await until_applied(s, engine, D(5))  # published as the adapter connected
        await s.broker.close()
        s.fake.exchange.balances["BNB"] = Balance()  # withdrawn while the desk was down
        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        try:
            await again.connect()
            await reconcile_broker(engine, again)
            await until_applied(s, engine, D(0))
        finally:
            await again.close()
