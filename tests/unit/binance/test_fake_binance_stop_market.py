"""The fake Binance's market stops, driven by the real python-binance AsyncClient:
STOP_LOSS and TAKE_PROFIT take a quantity and a stopPrice only, wait (holding funds)
until a trade reaches the stop (a STOP_LOSS on a move against its side, a TAKE_PROFIT
on the move the other way) and then trade as a MARKET order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.fakes.binance import FakeBinance

from .conftest import api_error

SYMBOL = "BTCUSDT"
D = Decimal


async def test_exchange_info_lists_the_market_stops(client: Any) -> None:
    info = await client.get_symbol_info(SYMBOL)
    assert {"STOP_LOSS", "TAKE_PROFIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"} <= set(
        info["orderTypes"]
    )


@pytest.mark.parametrize("kind", ["STOP_LOSS", "TAKE_PROFIT"])
@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        ({"timeInForce": "GTC"}, -1106, "Parameter 'timeInForce' sent when not required."),
        ({"price": "90"}, -1106, "Parameter 'price' sent when not required."),
        ({"quoteOrderQty": "10"}, -1106, "Parameter 'quoteOrderQty' sent when not required."),
    ],
)
async def test_a_market_stop_takes_no_price_time_in_force_or_quote_amount(
    fake: FakeBinance, client: Any, kind: str, extra: dict[str, str], code: int, message: str
) -> None:
    await fake.trade(SYMBOL, "100.5", "1")
    stop = "96" if kind == "STOP_LOSS" else "105"
    error = await api_error(
        client.create_order(
            symbol=SYMBOL, side="SELL", type=kind, quantity="0.1", stopPrice=stop, **extra
        )
    )
    assert (error.code, error.message) == (code, message)
    missing = await api_error(
        client.create_order(symbol=SYMBOL, side="SELL", type=kind, quantity="0.1")
    )
    assert missing.code == -1102
    assert fake.orders == {}


async def test_a_stop_that_would_trigger_at_once_is_refused(fake: FakeBinance, client: Any) -> None:
    await fake.trade(SYMBOL, "100.5", "1")
    # A buy TAKE_PROFIT above the last price, a sell STOP_LOSS above it.
    for side, kind, stop in (("BUY", "TAKE_PROFIT", "101"), ("SELL", "STOP_LOSS", "101")):
        error = await api_error(
            client.create_order(symbol=SYMBOL, side=side, type=kind, quantity="0.1", stopPrice=stop)
        )
        assert (error.code, error.message) == (-2010, "Order would trigger immediately.")


async def test_a_stop_loss_sell_waits_then_sells_at_market_and_expires_the_rest(
    fake: FakeBinance, client: Any
) -> None:
    await fake.trade(SYMBOL, "100.5", "1")
    base = fake.balances["BTC"]
    placed = await client.create_order(
        symbol=SYMBOL, side="SELL", type="STOP_LOSS", quantity="0.5", stopPrice="96.00"
    )
    order = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert (order["type"], order["status"], order["isWorking"]) == ("STOP_LOSS", "NEW", False)
    assert (order["stopPrice"], order["price"], order["timeInForce"]) == (
        "96.00000000",
        "0.00000000",
        "GTC",
    )
    assert fake.balances["BTC"] == (base[0] - D("0.5"), D("0.5"))  # the quantity is held
    await fake.trade(SYMBOL, "105", "0.01")  # a rise: still waiting
    assert (await client.get_order(symbol=SYMBOL, orderId=placed["orderId"]))["isWorking"] is False
    await fake.set_book(SYMBOL, bids=[("95.5", "0.2"), ("95", "0.2")], asks=[("96.5", "1")])
    await fake.trade(SYMBOL, "96.00", "0.01")
    done = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    # As a MARKET: it walks both bid levels (no limit) and the 0.1 the book lacks expires.
    assert (done["status"], done["executedQty"]) == ("EXPIRED", "0.40000000")
    trades = await client.get_my_trades(symbol=SYMBOL)
    assert [(t["price"], t["qty"], t["isMaker"]) for t in trades] == [
        ("95.50000000", "0.20000000", False),
        ("95.00000000", "0.20000000", False),
    ]
    assert fake.balances["BTC"] == (base[0] - D("0.4"), D("0"))


async def test_a_take_profit_buy_triggers_on_a_fall_and_buys_at_market(
    fake: FakeBinance, client: Any
) -> None:
    await fake.trade(SYMBOL, "100.5", "1")
    quote = fake.balances["USDT"]
    placed = await client.create_order(
        symbol=SYMBOL, side="BUY", type="TAKE_PROFIT", quantity="0.5", stopPrice="95.00"
    )
    assert fake.balances["USDT"] == (quote[0] - D("47.5"), D("47.5"))  # 0.5 at the stop
    await fake.trade(SYMBOL, "110", "0.01")  # a rise would trigger a STOP_LOSS buy: waits
    assert (await client.get_order(symbol=SYMBOL, orderId=placed["orderId"]))["isWorking"] is False
    await fake.set_book(SYMBOL, bids=[("94", "1")], asks=[("95.5", "0.3"), ("96", "1")])
    await fake.trade(SYMBOL, "95.00", "0.01")
    done = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert (done["status"], done["executedQty"], done["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.50000000",
        "47.85000000",
    )
    trades = await client.get_my_trades(symbol=SYMBOL)
    assert [(t["price"], t["qty"]) for t in trades] == [
        ("95.50000000", "0.30000000"),
        ("96.00000000", "0.20000000"),
    ]
    assert fake.balances["USDT"] == (quote[0] - D("47.85"), D("0"))


async def test_a_triggered_buy_the_free_quote_cannot_pay_for_expires(
    fake: FakeBinance, client: Any
) -> None:
    await fake.trade(SYMBOL, "100.5", "1")
    await fake.deposit("USDT", -(fake.balances["USDT"][0] - D("50")))
    placed = await client.create_order(
        symbol=SYMBOL, side="BUY", type="STOP_LOSS", quantity="0.45", stopPrice="105.00"
    )
    await fake.set_book(SYMBOL, bids=[("119", "1")], asks=[("120", "1")])
    await fake.trade(SYMBOL, "120", "0.01")
    done = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert (done["status"], done["executedQty"]) == ("EXPIRED", "0.00000000")
    assert fake.balances["USDT"] == (D("50"), D("0"))
