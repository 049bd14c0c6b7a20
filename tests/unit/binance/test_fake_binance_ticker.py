"""The fake Binance's 24 h rolling window statistics, driven by the real python-binance:
GET /api/v3/ticker/24hr (one symbol, a list, all; FULL or MINI; its documented
weights) and the `<symbol>@miniTicker` stream (the first push at subscription, then on
every change)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client, next_message, socket_manager

from .conftest import api_error

SYMBOL = "BTCUSDT"


async def test_the_24hr_ticker_of_a_symbol_holds_the_windows_open(
    fake: FakeBinance, client: Any
) -> None:
    untraded = await client.get_ticker(symbol=SYMBOL)
    # A symbol that has not traded in the window: zeros, as Binance answers.
    assert (untraded["openPrice"], untraded["lastPrice"], untraded["count"]) == (
        "0.00000000",
        "0.00000000",
        0,
    )
    assert (untraded["bidPrice"], untraded["askPrice"]) == ("100.00000000", "101.00000000")
    await fake.set_24h_open(SYMBOL, "95")
    await fake.trade(SYMBOL, "100", "0.5")
    await fake.trade(SYMBOL, "102", "0.25")
    ticker = await client.get_ticker(symbol=SYMBOL)
    assert {
        k: ticker[k]
        for k in (
            "symbol",
            "openPrice",
            "lastPrice",
            "highPrice",
            "lowPrice",
            "volume",
            "priceChange",
            "priceChangePercent",
            "count",
        )
    } == {
        "symbol": SYMBOL,
        "openPrice": "95.00000000",
        "lastPrice": "102.00000000",
        "highPrice": "102.00000000",
        "lowPrice": "100.00000000",
        "volume": "0.75000000",
        "priceChange": "7.00000000",
        "priceChangePercent": "7.368",
        "count": 2,
    }
    assert ticker["closeTime"] - ticker["openTime"] == 86_400_000
    assert abs(ticker["closeTime"] - fake.server_time()) < 5_000


def symbols(*names: str) -> str:
    """The `symbols` parameter as Binance documents it, URL-encoded (python-binance puts
    every value but `symbol`'s into the query string as it is given)."""
    return quote(json.dumps(list(names), separators=(",", ":")))


async def test_a_list_of_symbols_mini_and_the_documented_weights() -> None:
    async with FakeBinance(
        symbols=[SymbolSpec("BTCUSDT", "BTC", "USDT"), SymbolSpec("ETHUSDT", "ETH", "USDT")]
    ) as fake:
        await fake.trade("ETHUSDT", "2000", "1")  # without set_24h_open: the first print
        async with binance_client(fake) as client:
            before = fake.used_weight
            rows = await client.get_ticker(symbols=symbols("BTCUSDT", "ETHUSDT"), type="MINI")
            assert fake.used_weight - before == 2  # 1-20 symbols
            assert [row["symbol"] for row in rows] == ["BTCUSDT", "ETHUSDT"]
            assert rows[1]["openPrice"] == "2000.00000000"
            assert "priceChangePercent" not in rows[1]  # MINI
            assert {"openTime", "closeTime", "count"} <= set(rows[1])
            before = fake.used_weight
            everything = await client.get_ticker()
            assert fake.used_weight - before == 80  # every symbol
            assert len(everything) == 2
            before = fake.used_weight
            await client.get_ticker(symbol="ETHUSDT")
            assert fake.used_weight - before == 2
            unknown = await api_error(client.get_ticker(symbol="DOGEUSDT"))
            assert unknown.code == -1121
            both = await api_error(client.get_ticker(symbol="ETHUSDT", symbols=symbols("ETHUSDT")))
            assert both.code == -1128


async def test_the_mini_ticker_stream_pushes_at_subscription_and_on_change(
    fake: FakeBinance,
) -> None:
    await fake.set_24h_open(SYMBOL, "95")
    async with binance_client(fake) as client:
        manager = socket_manager(fake, client)
        async with manager.multiplex_socket([f"{SYMBOL.lower()}@miniTicker"]) as socket:
            first = await next_message(socket)
            assert first["stream"] == "btcusdt@miniTicker"
            assert {k: first["data"][k] for k in "esoc"} == {
                "e": "24hrMiniTicker",
                "s": SYMBOL,
                "o": "95.00000000",
                "c": "95.00000000",
            }
            await fake.trade(SYMBOL, "99", "1")
            traded = (await next_message(socket))["data"]
            assert (traded["o"], traded["c"], traded["v"]) == (
                "95.00000000",
                "99.00000000",
                "1.00000000",
            )
            # The window rolls on: its open changes.
            await fake.set_24h_open(SYMBOL, "96.5")
            rolled = (await next_message(socket))["data"]
            assert rolled["o"] == "96.50000000"
            assert rolled["E"] >= traded["E"]
