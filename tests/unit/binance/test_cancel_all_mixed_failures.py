"""A cancel all (the kill switch's) whose sweep Binance's 429 holds for one symbol while
another symbol's fails otherwise: not a `CancelHeld` (a failure that is not the rate
limit's is in it), so the engine's report listed the venue's open orders again, and a
listing is a read: it waited the Retry-After out (8 s here) before the trader had a
word. Now the listing is refused at once while the Retry-After runs, the report comes
back at once saying which symbol is held (until when) and which failed (why), and the
held cancel goes out by itself once, when the Retry-After is over.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError, RateLimited
from silvertine_tui.brokers.binance.rest import CancelHeld
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from tests.fakes.binance import SymbolSpec
from tests.fakes.binance.exchange import BinanceError
from tests.support.binance_broker import Session, binance_session
from tests.support.waiting import until

SYMBOLS = (SymbolSpec("ETHUSDT", "ETH", "USDT"), SymbolSpec("BTCUSDT", "BTC", "USDT"))
SWEEP = ("DELETE", "/api/v3/openOrders")
CANCEL = ("DELETE", "/api/v3/order")
RETRY_AFTER = 4.0
PROMPT_S = 2.0  # a report at once, with room for a loaded machine
TOO_MANY = BinanceError(-1003, "Too much request weight used.", status=429)
REFUSED = BinanceError(-1100, "Illegal characters found in a parameter.", status=400)


def request(key: str, price: str, qty: str) -> OrderRequest:
    return OrderRequest(
        broker="binance",
        account="spot",
        instrument=key,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
    )


async def two_symbols_working(s: Session) -> tuple[str, str]:
    await s.fake.set_book("ETHUSDT", [("1989", "50")], [("2011", "50")])
    await s.fake.set_book("BTCUSDT", [("29000", "50")], [("31000", "50")])
    eth = await s.broker.place(request("ETHUSDT.BINANCE", "1980", "0.5"))
    btc = await s.broker.place(request("BTCUSDT.BINANCE", "28000", "0.01"))
    await s.driver.settle()
    return eth, btc


def mixed_failures(s: Session) -> None:
    """ETHUSDT's sweep answered 429 (Retry-After 4 s), BTCUSDT's refused otherwise."""
    s.fake.faults.retry_after_s = RETRY_AFTER
    s.fake.refuse_symbol(*SWEEP, "ETHUSDT", TOO_MANY)
    s.fake.refuse_symbol(*SWEEP, "BTCUSDT", REFUSED)


async def test_the_adapters_cancel_all_says_which_symbol_is_held_until_when_and_which_failed() -> (
    None
):
    async with binance_session(symbols=SYMBOLS, balances={"USDT": "100000"}) as s:
        await two_symbols_working(s)
        mixed_failures(s)
        with pytest.raises(BrokerError) as failed:
            await s.broker.cancel_all()
        assert not isinstance(failed.value, CancelHeld)  # one failed otherwise
        said = str(failed.value)
        other, _, held = said.partition("; held by Binance's rate limit until ")
        assert other.startswith(
            "cancel all at binance/spot: cancelled 0, the orders of BTCUSDT may still be "
            "working (BTCUSDT: cancel all orders BTCUSDT: "
        )
        assert "-1100" in other
        assert other.endswith("; cancel them again or at the venue")
        assert "ETHUSDT" not in other
        assert "(4 s more): the cancel all of ETHUSDT goes out by itself then" in held
        assert "BTCUSDT" not in held

        # The engine's listing is refused at once while the Retry-After runs.
        started = time.monotonic()
        with pytest.raises(RateLimited, match=r"not asked: Binance's 429 Retry-After runs \d s"):
            await s.broker.open_orders()
        assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("how", ["kill", "cancel_all"])
async def test_a_kill_with_mixed_failures_reports_at_once_and_the_held_sweep_goes_once(
    how: str,
) -> None:
    async with binance_session(symbols=SYMBOLS, balances={"USDT": "100000"}) as s:
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        eth, btc = await two_symbols_working(s)
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        assert {v.client_order_id for v in engine.oms.working()} == {eth, btc}
        mixed_failures(s)

        started = time.monotonic()
        if how == "kill":
            report = (await engine.kill("drill")).cancels
        else:
            report = await engine.cancel_all()
        took = time.monotonic() - started
        assert took < PROMPT_S, f"the {how} report waited {took:.1f} s for the Retry-After"
        sent = list(s.fake.requests)
        assert sent.count(SWEEP) == 2
        assert sent.count(CANCEL) == 0

        assert not report.ok
        assert sorted(report.still_working) == sorted([eth, btc]), report.summary()
        # ETHUSDT's order goes with its symbol's owed cancel all; BTCUSDT's own cancel,
        # held by the same Retry-After, goes by itself too.
        assert "goes out by itself with the cancel all of ETHUSDT in" in report.still_working[eth]
        assert "goes out by itself in" in report.still_working[btc]
        problems = " ".join(report.problems)
        assert "held by Binance's rate limit until" in problems
        assert "the cancel all of ETHUSDT goes out by itself then" in problems
        assert "the orders of BTCUSDT may still be working (BTCUSDT: " in problems
        assert "-1100" in problems

        # Binance takes requests again once the Retry-After is over.
        s.fake.refuse_symbol(*SWEEP, "ETHUSDT", None)
        await until(
            lambda: all(s.fake.order_by_client_id(c).status == "CANCELED" for c in (eth, btc)),
            RETRY_AFTER + 4,
            "the held cancels",
        )
        assert time.monotonic() - started >= RETRY_AFTER - 0.5
        await asyncio.sleep(0.5)
        after = s.fake.requests[len(sent) :]
        assert after.count(SWEEP) == 1  # ETHUSDT's owed sweep, once
        assert after.count(CANCEL) == 1  # BTCUSDT's order's owed cancel, once
        assert s.broker.rest.usage.bans == 0
        await s.driver.settle()
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        assert engine.oms.working() == []
