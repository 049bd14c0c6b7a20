"""User data from the fake Binance through python-binance's own user socket (WebSocket API
`userDataStream.subscribe.signature`), unmodified."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from binance.exceptions import BinanceAPIException

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.client import binance_client, next_message, next_report, socket_manager

SYMBOL = "BTCUSDT"
D = Decimal

REPORT_FIELDS = set("eEscSofqpPxXrilzLnNTtwmZOC")


@pytest.fixture
async def client(fake: FakeBinance) -> AsyncIterator[Any]:
    async with binance_client(fake) as c:
        yield c


@pytest.fixture
async def user(fake: FakeBinance, client: Any) -> AsyncIterator[Any]:
    async with socket_manager(fake, client).user_socket() as socket:
        await fake.wait_for_user_subscriptions(1)
        yield socket


async def test_new_order_then_fill_reach_the_user_socket(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    placed = await client.order_limit_buy(
        symbol=SYMBOL, quantity="0.2", price="99.00", newClientOrderId="c-1"
    )
    new = await next_message(user)
    assert set(new) >= REPORT_FIELDS
    assert (new["e"], new["x"], new["X"], new["c"], new["i"]) == (
        "executionReport",
        "NEW",
        "NEW",
        "c-1",
        placed["orderId"],
    )
    assert (new["q"], new["p"], new["w"], new["t"]) == ("0.20000000", "99.00000000", True, -1)
    position = await next_message(user)
    assert position["e"] == "outboundAccountPosition"
    assert position["B"] == [{"a": "USDT", "f": "9980.20000000", "l": "19.80000000"}]

    await fake.set_quote(SYMBOL, "98", "99")  # the ask comes down to our bid
    fill = await next_message(user)
    assert (fill["x"], fill["X"], fill["l"], fill["L"], fill["z"]) == (
        "TRADE",
        "FILLED",
        "0.20000000",
        "99.00000000",
        "0.20000000",
    )
    assert (fill["n"], fill["N"], fill["m"], fill["Z"]) == (
        "0.00020000",
        "BTC",
        True,
        "19.80000000",
    )
    assert fill["t"] == fake.trades[-1].trade_id
    position = await next_message(user)
    assert {b["a"]: (b["f"], b["l"]) for b in position["B"]} == {
        "BTC": ("1.19980000", "0.00000000"),
        "USDT": ("9980.20000000", "0.00000000"),
    }


async def test_cancel_report_carries_the_original_client_id(client: Any, user: Any) -> None:
    await client.order_limit_sell(
        symbol=SYMBOL, quantity="0.1", price="110", newClientOrderId="to-cancel"
    )
    assert (await next_report(user))["x"] == "NEW"
    answer = await client.cancel_order(symbol=SYMBOL, origClientOrderId="to-cancel")
    cancelled = await next_report(user)
    assert (cancelled["x"], cancelled["X"]) == ("CANCELED", "CANCELED")
    assert cancelled["C"] == "to-cancel"
    assert cancelled["c"] == answer["clientOrderId"]


async def test_partial_fills_accumulate_until_filled(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    placed = await client.order_limit_sell(symbol=SYMBOL, quantity="0.3", price="105.00")
    assert (await next_report(user))["x"] == "NEW"
    await fake.fill(placed["orderId"], qty="0.1")
    first = await next_report(user)
    assert (first["X"], first["l"], first["z"], first["Z"]) == (
        "PARTIALLY_FILLED",
        "0.10000000",
        "0.10000000",
        "10.50000000",
    )
    await fake.trade(SYMBOL, "106", "0.5")  # prints through our offer: the rest fills
    last = await next_report(user)
    assert (last["X"], last["l"], last["z"], last["L"]) == (
        "FILLED",
        "0.20000000",
        "0.30000000",
        "105.00000000",
    )
    assert D(last["Z"]) / D(last["z"]) == D("105")  # average price = Z / z
    assert fake.balances["BTC"] == (D("0.7"), D(0))


async def test_a_deposit_sends_balance_update_then_position(fake: FakeBinance, user: Any) -> None:
    await fake.deposit("USDT", "250.5")
    update = await next_message(user)
    assert (update["e"], update["a"], update["d"]) == ("balanceUpdate", "USDT", "250.50000000")
    position = await next_message(user)
    assert position["B"] == [{"a": "USDT", "f": "10250.50000000", "l": "0.00000000"}]


async def test_market_order_reports_new_then_trade(client: Any, user: Any) -> None:
    await client.order_market_sell(symbol=SYMBOL, quantity="0.05")
    new, trade = await next_report(user), await next_report(user)
    assert (new["x"], new["o"], new["w"]) == ("NEW", "MARKET", False)
    assert (trade["x"], trade["X"], trade["L"], trade["N"]) == (
        "TRADE",
        "FILLED",
        "100.00000000",
        "USDT",
    )


async def test_the_subscription_signature_is_checked(fake: FakeBinance) -> None:
    async with binance_client(fake, api_secret="wrong") as client:
        with pytest.raises(BinanceAPIException) as caught:
            async with socket_manager(fake, client).user_socket():
                pass
    assert caught.value.code == -1022
    assert fake.user_subscriptions() == 0
