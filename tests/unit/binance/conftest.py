"""What every Binance test shares: quick library sockets and a quoted fake venue."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import quick_library_timings

SYMBOL = "BTCUSDT"


@pytest.fixture(autouse=True)
def quick_library_sockets() -> Iterator[None]:
    """python-binance reads each socket with a 10 s timeout and notices a close only
    between reads (closing a client would take 10 s a test)."""
    with quick_library_timings():
        yield


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    """The fake venue with BTCUSDT quoted 100 / 101."""
    async with FakeBinance() as server:
        await server.set_quote(SYMBOL, "100", "101")
        yield server


@pytest.fixture
async def client(fake: FakeBinance) -> AsyncIterator[Any]:
    """The real python-binance AsyncClient on the fake."""
    async with binance_client(fake) as c:
        yield c


async def api_error(call: Any) -> BinanceAPIException:
    """The Binance error `call` raises."""
    with pytest.raises(BinanceAPIException) as caught:
        await call
    return caught.value
