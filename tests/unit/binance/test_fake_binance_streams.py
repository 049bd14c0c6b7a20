"""Market streams from the fake Binance through python-binance's BinanceSocketManager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.client import binance_client, next_message, socket_manager

SYMBOL = "BTCUSDT"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBinance]:
    async with FakeBinance() as server:
        yield server


@pytest.fixture
async def manager(fake: FakeBinance) -> AsyncIterator[Any]:
    async with binance_client(fake) as client:
        yield socket_manager(fake, client)


async def test_book_ticker_stream(fake: FakeBinance, manager: Any) -> None:
    async with manager.symbol_book_ticker_socket(SYMBOL) as socket:
        await fake.wait_for_stream("btcusdt@bookTicker")
        await fake.set_quote(SYMBOL, "100.10", "100.20", bid_qty="1.5", ask_qty="2")
        tick = await next_message(socket)
    assert {k: tick[k] for k in "sbBaA"} == {
        "s": "BTCUSDT",
        "b": "100.10000000",
        "B": "1.50000000",
        "a": "100.20000000",
        "A": "2.00000000",
    }
    assert isinstance(tick["u"], int)


async def test_trade_stream(fake: FakeBinance, manager: Any) -> None:
    async with manager.trade_socket(SYMBOL) as socket:
        await fake.wait_for_stream("btcusdt@trade")
        await fake.trade(SYMBOL, "100.5", "0.25", buyer_is_maker=True)
        trade = await next_message(socket)
    assert (trade["e"], trade["s"], trade["p"], trade["q"], trade["m"]) == (
        "trade",
        "BTCUSDT",
        "100.50000000",
        "0.25000000",
        True,
    )


async def test_diff_depth_update_ids_chain_and_partial_depth_snapshots(
    fake: FakeBinance, manager: Any
) -> None:
    async with (
        manager.depth_socket(SYMBOL) as diff,
        manager.depth_socket(SYMBOL, depth=manager.WEBSOCKET_DEPTH_5) as partial,
    ):
        await fake.wait_for_stream("btcusdt@depth")
        await fake.wait_for_stream("btcusdt@depth5")
        await fake.set_book(SYMBOL, bids=[("100", "1"), ("99", "2")], asks=[("101", "1")])
        await fake.set_book(SYMBOL, bids=[("100", "0.5")], asks=[("101", "1")])
        first, second = await next_message(diff), await next_message(diff)
        snapshot = await next_message(partial)
        latest = await next_message(partial)
    assert first["e"] == "depthUpdate"
    assert first["b"] == [["99.00000000", "2.00000000"], ["100.00000000", "1.00000000"]]
    assert second["U"] == first["u"] + 1  # no gap
    assert second["b"] == [["99.00000000", "0.00000000"], ["100.00000000", "0.50000000"]]
    assert snapshot["bids"] == [["100.00000000", "1.00000000"], ["99.00000000", "2.00000000"]]
    assert latest == {
        "lastUpdateId": second["u"],
        "bids": [["100.00000000", "0.50000000"]],
        "asks": [["101.00000000", "1.00000000"]],
    }


async def test_combined_stream_wraps_each_payload(fake: FakeBinance, manager: Any) -> None:
    streams = ["btcusdt@bookTicker", "btcusdt@trade"]
    async with manager.multiplex_socket(streams) as socket:
        await fake.wait_for_stream("btcusdt@trade")
        await fake.set_quote(SYMBOL, "100", "101")
        await fake.trade(SYMBOL, "100.5", "0.1")
        messages = [await next_message(socket), await next_message(socket)]
    assert [m["stream"] for m in messages] == streams
    assert messages[0]["data"]["b"] == "100.00000000"
    assert messages[1]["data"]["e"] == "trade"


async def test_a_dropped_depth_update_leaves_a_detectable_gap(
    fake: FakeBinance, manager: Any
) -> None:
    async with manager.depth_socket(SYMBOL) as diff:
        await fake.wait_for_stream("btcusdt@depth")
        await fake.set_quote(SYMBOL, "100", "101")
        fake.drop_next_depth_update(SYMBOL)
        await fake.set_quote(SYMBOL, "100.5", "101")
        await fake.set_quote(SYMBOL, "100.6", "101")
        before, after = await next_message(diff), await next_message(diff)
    assert after["U"] == before["u"] + 2  # one update id never arrived


async def test_a_raw_frame_reaches_the_client_as_it_is(fake: FakeBinance, manager: Any) -> None:
    async with manager.multiplex_socket(["btcusdt@trade"]) as socket:
        await fake.wait_for_stream("btcusdt@trade")
        await fake.send_raw_stream_frame('{"stream": "btcusdt@trade", "data": {"p": 1.5}}')
        odd = await next_message(socket)
        await fake.send_raw_stream_frame("not json {")
        garbled = await next_message(socket)
    assert odd == {"stream": "btcusdt@trade", "data": {"p": 1.5}}
    # python-binance cannot parse it: its read loop reports the error and stops.
    assert garbled["e"] == "error"
    assert garbled["type"] == "JSONDecodeError"
