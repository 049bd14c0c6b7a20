"""A kill switch or a cancel all at Binance while its REST stops answering (the user
stream up), then REST back: the real session, python-binance and the wire-level fake,
on a real Redis.

The sweep (DELETE openOrders) journals PENDING_CANCEL for each order and meets REST
gone: the orders' own cancels are refused unsent (the order path down). Before, nothing
asked Binance about those orders again and nothing cancelled them: 40 s and more after
REST was back (Health LIVE) both read PENDING_CANCEL on the desk and in the journal
while Binance worked them NEW, and the kill's orders stayed working, HALTED, its words
saying "nothing is kept to send later" (the Binance drill's HIGH). REST alone out brings
no reconnect of the user stream, which is when a kill's owed cancels were made.

Now the orders whose sweep failed are asked of Binance once REST answers again (as a
single cancel's are) and shown as Binance holds them, and a kill's owed cancels are made
then, trading still HALTED (the adapter announces the order path back: the session
reconciles, then `cancel_kill_owed`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.binance.rest import BinanceRest
from silvertine_tui.brokers.registry import BrokerRegistry
from silvertine_tui.brokers.retry import RetryPolicy
from silvertine_tui.bus import EventBus
from silvertine_tui.config import BinanceBrokerConfig, BrokerConfigBase, Settings
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradingState,
)
from silvertine_tui.engine import Session
from silvertine_tui.events import OrderUpdateEvent
from tests.fakes.binance import Commission, FakeBinance, SymbolSpec
from tests.support.binance_broker import quick_library_timings
from tests.support.desks import log_messages, logged_line
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

S = OrderStatus
SYMBOL = "BTCUSDT"
KEY = "BTCUSDT.BINANCE"
BACK = "kill switch: binance/main is back"


def _broker(config: BrokerConfigBase, bus: EventBus, **_: Any) -> BinanceBroker:
    """The registry's Binance adapter, as the desk builds it, with quick retries (the
    tests' `build_broker`)."""
    assert isinstance(config, BinanceBrokerConfig)
    rest = BinanceRest(config, retry=RetryPolicy(attempts=3, base_delay=0.02, max_delay=0.1))
    broker = BinanceBroker(config, bus, rest=rest, retry_first_s=0.05, retry_max_s=0.2)
    broker.user.subscribe_timeout_s = 1.0
    return broker


def _settings(url: str, prefix: str, fake: FakeBinance) -> Settings:
    return Settings.model_validate(
        {
            "bus": {"url": url, "prefix": prefix},
            "brokers": [
                {
                    "name": "binance",
                    "type": "binance",
                    "account": "main",
                    "api_key": SecretStr(fake.api_key),
                    "api_secret": SecretStr(fake.api_secret),
                    "testnet": True,
                    "rest_url": fake.api_url,
                    "ws_api_url": fake.ws_api_url,
                    "stream_url": fake.stream_url,
                    "symbols": [SYMBOL],
                    "request_timeout_s": 0.5,
                }
            ],
        }
    )


@dataclass
class Desk:
    session: Session
    fake: FakeBinance
    buy: str
    sell: str

    @property
    def broker(self) -> BinanceBroker:
        broker = self.session.engine.brokers["binance"]
        assert isinstance(broker, BinanceBroker)
        return broker

    def status(self, cid: str) -> OrderStatus:
        return self.session.engine.oms.orders[cid].order.status

    def at_binance(self, cid: str) -> str:
        return self.fake.order_by_client_id(cid).status

    async def journaled(self, cid: str) -> list[tuple[OrderStatus, str]]:
        """The order's statuses in the journal (the exec stream), oldest first."""
        stream = self.session.bus.layout.exec("binance", "main")
        return [
            (e.event.payload.status, e.event.payload.reason)
            for e in await self.session.bus.read(stream)
            if isinstance(e.event, OrderUpdateEvent) and e.event.payload.client_order_id == cid
        ]


def _limit(side: Side, price: str) -> OrderRequest:
    return OrderRequest(
        broker="binance",
        account="main",
        instrument=KEY,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.01"),
        limit_price=Decimal(price),
        tif=TimeInForce.GTC,
    )


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110 - the desk's readers apply on their own
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout} s: {what}") from None


@contextlib.asynccontextmanager
async def desk(redis_server: RedisServer, key_prefix: str) -> AsyncIterator[Desk]:
    """The desk on the fake Binance: BUY 0.01 @ 64,000 and SELL 0.01 @ 66,000 resting."""
    with quick_library_timings():
        async with FakeBinance(
            symbols=(SymbolSpec(SYMBOL, "BTC", "USDT"),),
            balances={"USDT": "100000", "BTC": "1"},
            commission=Commission(mode="quote"),
        ) as fake:
            await fake.set_book(SYMBOL, [("64990", "5")], [("65010", "5")])
            registry = BrokerRegistry(discover=False)
            registry.register("binance", _broker)
            session = Session(_settings(redis_server.url, key_prefix, fake), registry=registry)
            await session.start()
            try:
                buy = await session.engine.submit(_limit(Side.BUY, "64000"))
                sell = await session.engine.submit(_limit(Side.SELL, "66000"))
                d = Desk(session, fake, buy, sell)
                await until(
                    lambda: d.status(buy) is S.NEW and d.status(sell) is S.NEW, 10.0, "both NEW"
                )
                assert d.at_binance(buy) == d.at_binance(sell) == "NEW"
                yield d
            finally:
                fake.answer_rest()
                await session.close()


@pytest.mark.parametrize("outage", ["cut", "hang"])
async def test_a_kill_s_cancels_are_made_once_binance_s_rest_answers_again(
    redis_server: RedisServer, key_prefix: str, outage: str
) -> None:
    async with desk(redis_server, key_prefix) as d:
        d.fake.stop_answering_rest(hang=outage == "hang")
        report = await d.session.engine.kill("drill: Binance's REST out")
        assert sorted(report.still_working) == sorted([d.buy, d.sell]), report.summary()
        assert d.session.engine.kill_owed == {"binance": {d.buy, d.sell}}
        # What it said at the time is what happens: the cancels are kept, not dropped.
        said = report.summary()
        assert "nothing is kept to send later" not in said, said
        assert (
            "its cancel is kept: made once binance/main is back, while trading is still HALTED"
            in said
        ), said
        assert d.broker.rest_down
        assert d.at_binance(d.buy) == d.at_binance(d.sell) == "NEW"

        d.fake.answer_rest()
        await until(lambda: d.broker.state is ConnectionState.LIVE, 10.0, "binance LIVE")
        await until(
            lambda: d.at_binance(d.buy) == d.at_binance(d.sell) == "CANCELED",
            15.0,
            "the kill's owed cancels made at Binance",
        )
        await until(
            lambda: d.status(d.buy) is S.CANCELED and d.status(d.sell) is S.CANCELED,
            10.0,
            "both CANCELED on the desk",
        )
        assert (await d.journaled(d.buy))[-1][0] is S.CANCELED
        assert (await d.journaled(d.sell))[-1][0] is S.CANCELED
        assert d.session.engine.gate.state is TradingState.HALTED
        line = await logged_line(d.session, BACK)
        assert line == f"{BACK}: cancelled the 2 order(s) it had left working.", line
        assert d.session.engine.kill_owed == {}
        # Made once: no "is back" line said while REST was out.
        assert [m for m in await log_messages(d.session) if BACK in m] == [line]


@pytest.mark.parametrize("outage", ["cut", "hang"])
async def test_a_cancel_all_s_orders_show_what_binance_holds_once_rest_answers_again(
    redis_server: RedisServer, key_prefix: str, outage: str
) -> None:
    async with desk(redis_server, key_prefix) as d:
        d.fake.stop_answering_rest(hang=outage == "hang")
        report = await d.session.engine.cancel_all()
        assert sorted(report.still_working) == sorted([d.buy, d.sell]), report.summary()
        assert d.session.engine.gate.state is TradingState.ACTIVE
        # The sweep journaled the cancels it could not make, and says what follows.
        assert d.status(d.buy) is S.PENDING_CANCEL
        assert d.status(d.sell) is S.PENDING_CANCEL
        said = report.summary()
        assert (
            "the orders of BTCUSDT show PENDING_CANCEL until Binance answers again; this desk "
            "then asks Binance for each by itself and shows what it holds"
        ) in said, said

        d.fake.answer_rest()
        await until(lambda: d.broker.state is ConnectionState.LIVE, 10.0, "binance LIVE")
        # Binance works both: the desk shows them working, saying why.
        await until(
            lambda: d.status(d.buy) is S.NEW and d.status(d.sell) is S.NEW,
            15.0,
            "both shown working as Binance holds them",
        )
        for cid in (d.buy, d.sell):
            assert d.at_binance(cid) == "NEW"
            status, reason = (await d.journaled(cid))[-1]
            assert status is S.NEW
            assert "cancel failed" in reason, reason
            assert "still working, cancel it again" in reason, reason
        # Nothing was cancelled behind the trader's back: a cancel all owes nothing.
        await asyncio.sleep(1.0)
        assert d.at_binance(d.buy) == d.at_binance(d.sell) == "NEW"

        # Cancelled again, both go.
        again = await d.session.engine.cancel_all()
        assert again.ok, again.summary()
        assert d.at_binance(d.buy) == d.at_binance(d.sell) == "CANCELED"
