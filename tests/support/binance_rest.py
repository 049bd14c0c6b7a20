"""`BinanceRest` against a `FakeBinance`, with a clock the test drives.

`TestTime.sleep` records every wait `BinanceRest` asks for and moves `TestTime.clock` by
it, so a one-minute throttle takes no time; `real_cap` also really sleeps up to that
many seconds (the fake's 429/418 windows run on the real clock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

from silvertine_tui.brokers.binance.rest import BinanceRest
from silvertine_tui.brokers.retry import RetryPolicy
from silvertine_tui.config import BinanceBrokerConfig
from tests.fakes.binance import FakeBinance


class TestTime:
    __test__ = False  # not a pytest test class

    def __init__(self, real_cap: float = 0.0) -> None:
        self.now_ns = time.time_ns()
        self.sleeps: list[float] = []
        self.real_cap = real_cap

    def clock(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += int(seconds * 1e9)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(min(seconds, self.real_cap))


class Endpoints(Protocol):
    """What `rest_config` takes from a `FakeBinance` (or a stand-in without a server)."""

    @property
    def api_key(self) -> str: ...
    @property
    def api_secret(self) -> str: ...
    @property
    def api_url(self) -> str: ...
    @property
    def ws_api_url(self) -> str: ...
    @property
    def stream_url(self) -> str: ...


def rest_config(fake: Endpoints, **overrides: Any) -> BinanceBrokerConfig:
    fields: dict[str, Any] = {
        "name": "binance",
        "api_key": fake.api_key,
        "api_secret": fake.api_secret,
        "testnet": True,
        "rest_url": fake.api_url,
        "ws_api_url": fake.ws_api_url,
        "stream_url": fake.stream_url,
        "symbols": ["BTCUSDT"],
    }
    fields.update(overrides)
    return BinanceBrokerConfig.model_validate(fields)


@asynccontextmanager
async def started_rest(
    fake: FakeBinance,
    test_time: TestTime | None = None,
    *,
    request_timeout_s: float | None = None,
    **overrides: Any,
) -> AsyncIterator[BinanceRest]:
    test_time = test_time or TestTime()
    rest = BinanceRest(
        rest_config(fake, **overrides),
        clock=test_time.clock,
        sleep=test_time.sleep,
        request_timeout_s=request_timeout_s,
        retry=RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2),
    )
    await rest.start()
    try:
        yield rest
    finally:
        await rest.close()


def limit_buy(client_order_id: str, qty: str = "0.1", price: str = "99") -> dict[str, str]:
    """A GTC limit buy of BTCUSDT as python-binance's `create_order` takes it."""
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": qty,
        "price": price,
        "newClientOrderId": client_order_id,
    }
