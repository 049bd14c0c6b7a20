"""The fake Binance spot server's REST side, driven by the real python-binance AsyncClient."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from tests.fakes.binance import API_KEY, API_SECRET, Commission, FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.fakes.binance.signing import matches, rest_payload, sign

from .conftest import api_error

SYMBOL = "BTCUSDT"
D = Decimal

# Binance spot API docs, rest-api.md "SIGNED Endpoint Examples for POST /api/v3/order",
# HMAC keys (binance/binance-spot-api-docs).
DOC_QUERY = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
DOC_QUERY_NON_ASCII = (
    "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
    "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
)
DOC_SIGNATURE_NON_ASCII = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"


def test_signature_reproduces_the_documented_hmac_examples() -> None:
    assert sign(API_SECRET, DOC_QUERY) == DOC_SIGNATURE
    assert sign(API_SECRET, DOC_QUERY_NON_ASCII) == DOC_SIGNATURE_NON_ASCII
    payload, signature = rest_payload(f"{DOC_QUERY}&signature={DOC_SIGNATURE}", "")
    assert (payload, signature) == (DOC_QUERY, DOC_SIGNATURE)
    assert matches(API_SECRET, payload, DOC_SIGNATURE.upper())  # HMAC is case-insensitive
    assert not matches(API_SECRET, payload.replace("price=0.1", "price=0.2"), DOC_SIGNATURE)


async def test_the_documented_curl_request_is_accepted_as_sent() -> None:
    ltcbtc = SymbolSpec(
        "LTCBTC",
        "LTC",
        "BTC",
        tick_size=D("0.000001"),
        min_price=D("0.000001"),
        step_size=D("0.001"),
        min_qty=D("0.001"),
        min_notional=D("0.0001"),
    )
    async with FakeBinance(symbols=[ltcbtc], balances={"BTC": "1"}) as fake:
        # The doc's timestamp is from 2017: put the server clock there.
        fake.set_clock_skew(1499827319559 + 500 - int(time.time() * 1000))
        async with aiohttp.ClientSession() as http:
            url = f"{fake.api_url}/v3/order?{DOC_QUERY}&signature={DOC_SIGNATURE}"
            async with http.post(url, headers={"X-MBX-APIKEY": API_KEY}) as response:
                body = await response.json()
                assert response.status == 200, body
            tampered = url.replace("quantity=1", "quantity=2")
            async with http.post(tampered, headers={"X-MBX-APIKEY": API_KEY}) as response:
                assert response.status == 400
                assert await response.json() == {
                    "code": -1022,
                    "msg": "Signature for this request is not valid.",
                }
        assert body["status"] == "NEW"
        assert fake.balances["BTC"] == (D("0.9"), D("0.1"))


async def test_a_wrong_secret_gets_1022(fake: FakeBinance) -> None:
    async with binance_client(fake, api_secret="not-the-secret") as c:
        error = await api_error(c.get_account())
    assert (error.status_code, error.code) == (400, -1022)
    assert error.message == "Signature for this request is not valid."


async def test_an_unknown_api_key_gets_2015(fake: FakeBinance) -> None:
    async with binance_client(fake, api_key="someone-else") as c:
        error = await api_error(c.get_open_orders(symbol=SYMBOL))
    assert (error.status_code, error.code) == (401, -2015)


async def test_clock_skew_gives_1021_and_a_resync_fixes_it(fake: FakeBinance, client: Any) -> None:
    fake.set_clock_skew(20_000)  # the client's timestamps now look 20 s old
    error = await api_error(client.get_account())
    assert (error.status_code, error.code) == (400, -1021)
    assert error.message == "Timestamp for this request is outside of the recvWindow."
    fake.set_clock_skew(-20_000)  # ... or 20 s in the future
    error = await api_error(client.get_account())
    assert error.message == "Timestamp for this request was 1000ms ahead of the server's time."
    # What AsyncClient.create() does once (and never again): re-sync the offset.
    server = await client.get_server_time()
    client.timestamp_offset = server["serverTime"] - int(time.time() * 1000)
    account = await client.get_account()
    assert {b["asset"] for b in account["balances"]} == {"BTC", "USDT", "BNB"}


async def test_exchange_info_lists_the_configured_filters() -> None:
    old_style = SymbolSpec(
        "ETHBTC",
        "ETH",
        "BTC",
        notional_filter="MIN_NOTIONAL",
        min_notional=D("0.001"),
        status="BREAK",
    )
    async with (
        FakeBinance(symbols=[SymbolSpec("BTCUSDT", "BTC", "USDT"), old_style]) as fake,
        binance_client(fake) as client,
    ):
        assert await client.ping() == {}
        info = await client.get_symbol_info("BTCUSDT")
        filters = {f["filterType"]: f for f in info["filters"]}
        assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
        assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
        assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
        assert set(filters) == {
            "PRICE_FILTER",
            "LOT_SIZE",
            "MARKET_LOT_SIZE",
            "NOTIONAL",
            "PERCENT_PRICE_BY_SIDE",
        }
        eth = await client.get_symbol_info("ETHBTC")
        assert eth["status"] == "BREAK"
        assert "MIN_NOTIONAL" in {f["filterType"] for f in eth["filters"]}
        await fake.set_quote("ETHBTC", "0.05", "0.06")
        error = await api_error(client.order_limit_buy(symbol="ETHBTC", quantity="1", price="0.05"))
        assert (error.code, error.message) == (-2010, "Market is closed.")


async def test_place_query_cancel_round_trip_moves_locked_funds(
    fake: FakeBinance, client: Any
) -> None:
    placed = await client.order_limit_buy(
        symbol=SYMBOL, quantity="0.5", price="99.00", newClientOrderId="mine-1"
    )
    assert placed["status"] == "NEW"
    assert placed["clientOrderId"] == "mine-1"
    assert placed["fills"] == []
    assert fake.balances["USDT"] == (D("9950.5"), D("49.5"))

    by_id = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    by_client_id = await client.get_order(symbol=SYMBOL, origClientOrderId="mine-1")
    assert by_id == by_client_id
    assert by_id["origQty"] == "0.50000000"
    assert by_id["price"] == "99.00000000"
    assert by_id["isWorking"] is True

    cancelled = await client.cancel_order(symbol=SYMBOL, origClientOrderId="mine-1")
    assert cancelled["status"] == "CANCELED"
    assert cancelled["origClientOrderId"] == "mine-1"
    assert cancelled["clientOrderId"] != "mine-1"
    assert fake.balances["USDT"] == (D("10000"), D("0"))
    assert (await client.get_order(symbol=SYMBOL, orderId=placed["orderId"]))["status"] == (
        "CANCELED"
    )


async def test_unknown_orders_get_2013_on_query_and_2011_on_cancel(client: Any) -> None:
    error = await api_error(client.get_order(symbol=SYMBOL, orderId=999))
    assert (error.code, error.message) == (-2013, "Order does not exist.")
    error = await api_error(client.cancel_order(symbol=SYMBOL, orderId=999))
    assert (error.code, error.message) == (-2011, "Unknown order sent.")
    error = await api_error(client.get_order(symbol="NOPE", orderId=1))
    assert (error.code, error.message) == (-1121, "Invalid symbol.")


async def test_open_orders_and_cancel_all_on_a_symbol(fake: FakeBinance, client: Any) -> None:
    await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="90.00")
    await client.order_limit_sell(symbol=SYMBOL, quantity="0.2", price="120.00")
    open_orders = await client.get_open_orders(symbol=SYMBOL)
    assert sorted(o["side"] for o in open_orders) == ["BUY", "SELL"]
    assert fake.balances["BTC"] == (D("0.8"), D("0.2"))

    cancelled = await client.cancel_all_open_orders(symbol=SYMBOL)
    assert [o["status"] for o in cancelled] == ["CANCELED", "CANCELED"]
    assert await client.get_open_orders(symbol=SYMBOL) == []
    assert fake.balances["BTC"] == (D("1"), D("0"))
    error = await api_error(client.cancel_all_open_orders(symbol=SYMBOL))
    assert error.code == -2011


async def test_cancel_replace_swaps_the_order_or_reports_what_failed(
    fake: FakeBinance, client: Any
) -> None:
    first = await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="95.00")
    swapped = await client.cancel_replace_order(
        symbol=SYMBOL,
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.2",
        price="96.00",
        cancelReplaceMode="STOP_ON_FAILURE",
        cancelOrderId=first["orderId"],
    )
    assert swapped["cancelResult"] == "SUCCESS"
    assert swapped["newOrderResult"] == "SUCCESS"
    assert swapped["cancelResponse"]["status"] == "CANCELED"
    assert swapped["newOrderResponse"]["origQty"] == "0.20000000"
    assert fake.balances["USDT"] == (D("9980.8"), D("19.2"))

    error = await api_error(
        client.cancel_replace_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.2",
            price="96.00",
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrderId=first["orderId"],
        )
    )
    assert (error.status_code, error.code) == (400, -2022)
    assert len(fake.exchange.open_orders(SYMBOL)) == 1  # nothing new was attempted

    error = await api_error(
        client.cancel_replace_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.2",
            price="96.00",
            cancelReplaceMode="ALLOW_FAILURE",
            cancelOrderId=first["orderId"],
        )
    )
    assert (error.status_code, error.code) == (409, -2021)
    assert len(fake.exchange.open_orders(SYMBOL)) == 2
    # BinanceAPIException keeps only code and msg; the `data` is still in its response.
    data = (await error.response.json())["data"]
    assert (data["cancelResult"], data["newOrderResult"]) == ("FAILURE", "SUCCESS")
    assert data["cancelResponse"] == {"code": -2011, "msg": "Unknown order sent."}
    assert data["newOrderResponse"]["status"] == "NEW"

    # The cancel succeeds and the new order is rejected: -2021 too, and the old one is gone.
    victim = fake.exchange.open_orders(SYMBOL)[0]
    fake.reject_next_order()
    error = await api_error(
        client.cancel_replace_order(
            symbol=SYMBOL,
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity="0.2",
            price="96.00",
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrderId=victim.order_id,
        )
    )
    assert (error.status_code, error.code) == (409, -2021)
    assert victim.status == "CANCELED"
    assert len(fake.exchange.open_orders(SYMBOL)) == 1


@pytest.mark.parametrize(
    ("order", "failing"),
    [
        (
            {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1", "price": "100.005"},
            "PRICE_FILTER",
        ),
        (
            {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.000015", "price": "100.00"},
            "LOT_SIZE",
        ),
        (
            {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "100.00"},
            "NOTIONAL",
        ),
        ({"type": "MARKET", "quantity": "150"}, "MARKET_LOT_SIZE"),
        (
            {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01", "price": "600.00"},
            "PERCENT_PRICE_BY_SIDE",
        ),
    ],
)
async def test_filters_reject_with_1013(
    fake: FakeBinance, client: Any, order: dict[str, str], failing: str
) -> None:
    error = await api_error(client.create_order(symbol=SYMBOL, side="BUY", **order))
    assert (error.status_code, error.code) == (400, -1013)
    assert error.message == f"Filter failure: {failing}"
    error = await api_error(client.create_test_order(symbol=SYMBOL, side="BUY", **order))
    assert error.message == f"Filter failure: {failing}"
    assert fake.orders == {}


async def test_insufficient_balance_gets_2010(fake: FakeBinance, client: Any) -> None:
    error = await api_error(client.order_limit_sell(symbol=SYMBOL, quantity="1.5", price="100"))
    assert (error.status_code, error.code) == (400, -2010)
    assert error.message == "Account has insufficient balance for requested action."
    error = await api_error(client.order_limit_buy(symbol=SYMBOL, quantity="200", price="100"))
    assert error.code == -2010
    assert fake.orders == {}


async def test_order_test_validates_without_placing(fake: FakeBinance, client: Any) -> None:
    ok = await client.create_test_order(
        symbol=SYMBOL, side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.1", price="99"
    )
    assert ok == {}
    assert fake.orders == {}


@pytest.mark.parametrize(
    ("commission", "btc", "usdt", "bnb", "fee"),
    [
        # buy 0.1 at 101 as taker, 0.1 %: 10.1 USDT notional
        (Commission(mode="received"), "1.0999", "9989.9", "10", ("0.00010000", "BTC")),
        (Commission(mode="base"), "1.0999", "9989.9", "10", ("0.00010000", "BTC")),
        (Commission(mode="quote"), "1.1", "9989.8899", "10", ("0.01010000", "USDT")),
        # 0.0101 USDT at 600 USDT per BNB = 0.0000168333.. rounded up to 8 places
        (Commission(mode="bnb"), "1.1", "9989.9", "9.99998316", ("0.00001684", "BNB")),
    ],
)
async def test_market_buy_fills_at_the_ask_and_charges_commission(
    commission: Commission, btc: str, usdt: str, bnb: str, fee: tuple[str, str]
) -> None:
    async with FakeBinance(commission=commission) as fake, binance_client(fake) as client:
        await fake.set_quote(SYMBOL, "100", "101")
        placed = await client.order_market_buy(symbol=SYMBOL, quantity="0.1")
        assert placed["status"] == "FILLED"
        assert placed["cummulativeQuoteQty"] == "10.10000000"
        [fill] = placed["fills"]
        assert (fill["price"], fill["qty"]) == ("101.00000000", "0.10000000")
        assert (fill["commission"], fill["commissionAsset"]) == fee
        assert fake.balances["BTC"] == (D(btc), D(0))
        assert fake.balances["USDT"] == (D(usdt), D(0))
        assert fake.balances["BNB"] == (D(bnb), D(0))
        [trade] = await client.get_my_trades(symbol=SYMBOL)
        assert (trade["commission"], trade["commissionAsset"]) == fee
        assert trade["isMaker"] is False


async def test_bnb_commission_falls_back_to_the_received_asset_without_bnb() -> None:
    async with (
        FakeBinance(balances={"BTC": "1", "USDT": "0"}, commission=Commission(mode="bnb")) as fake,
        binance_client(fake) as client,
    ):
        await fake.set_quote(SYMBOL, "100", "101")
        sold = await client.order_market_sell(symbol=SYMBOL, quantity="0.1")
        assert sold["fills"][0]["commissionAsset"] == "USDT"
        assert fake.balances["USDT"] == (D("9.99"), D(0))  # 10 - 0.1 %
        assert fake.balances["BTC"] == (D("0.9"), D(0))


async def test_market_quote_order_qty_walks_the_book(fake: FakeBinance, client: Any) -> None:
    await fake.set_book(SYMBOL, bids=[("100", "1")], asks=[("101", "0.05"), ("102", "1")])
    placed = await client.order_market_buy(symbol=SYMBOL, quoteOrderQty="30")
    assert placed["status"] == "FILLED"
    assert [(f["price"], f["qty"]) for f in placed["fills"]] == [
        ("101.00000000", "0.05000000"),
        ("102.00000000", "0.24460000"),  # (30 - 5.05) / 102 on the 0.00001 step
    ]
    assert placed["origQuoteOrderQty"] == "30.00000000"
    assert fake.exchange.depth(SYMBOL)["asks"] == [["102.00000000", "0.75540000"]]


async def test_time_in_force_and_limit_maker(fake: FakeBinance, client: Any) -> None:
    await fake.set_book(SYMBOL, bids=[("100", "1")], asks=[("101", "0.3")])
    ioc = await client.order_limit_buy(
        symbol=SYMBOL, quantity="0.5", price="101", timeInForce="IOC"
    )
    assert (ioc["status"], ioc["executedQty"]) == ("EXPIRED", "0.30000000")
    await fake.set_book(SYMBOL, bids=[("100", "1")], asks=[("101", "0.3")])
    fok = await client.order_limit_buy(
        symbol=SYMBOL, quantity="0.5", price="101", timeInForce="FOK"
    )
    assert (fok["status"], fok["executedQty"]) == ("EXPIRED", "0.00000000")
    gtc = await client.order_limit_buy(symbol=SYMBOL, quantity="0.5", price="101")
    assert (gtc["status"], gtc["executedQty"]) == ("PARTIALLY_FILLED", "0.30000000")
    error = await api_error(
        client.create_order(
            symbol=SYMBOL, side="SELL", type="LIMIT_MAKER", quantity="0.1", price="100"
        )
    )
    assert (error.code, error.message) == (-2010, "Order would immediately match and take.")


async def test_stop_loss_limit_waits_for_its_stop_then_works(
    fake: FakeBinance, client: Any
) -> None:
    await fake.trade(SYMBOL, "100.5", "1")
    stop = await client.create_order(
        symbol=SYMBOL,
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="0.1",
        price="95.00",
        stopPrice="96.00",
    )
    assert set(stop) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert (await client.get_order(symbol=SYMBOL, orderId=stop["orderId"]))["isWorking"] is False
    await fake.set_book(SYMBOL, bids=[("95.5", "1")], asks=[("96.5", "1")])
    await fake.trade(SYMBOL, "96.00", "0.01")
    done = await client.get_order(symbol=SYMBOL, orderId=stop["orderId"])
    assert (done["status"], done["executedQty"], done["stopPrice"]) == (
        "FILLED",
        "0.10000000",
        "96.00000000",
    )
    [trade] = await client.get_my_trades(symbol=SYMBOL)
    assert trade["price"] == "95.50000000"  # taker against the bid once triggered


async def test_my_trades_filters_by_from_id_and_start_time(fake: FakeBinance, client: Any) -> None:
    order = await client.order_limit_sell(symbol=SYMBOL, quantity="0.3", price="105.00")
    for _ in range(3):
        await fake.fill(order["orderId"], qty="0.1")
    trades = await client.get_my_trades(symbol=SYMBOL)
    ids = [t["id"] for t in trades]
    assert len(ids) == 3
    assert [t["id"] for t in await client.get_my_trades(symbol=SYMBOL, fromId=ids[1])] == ids[1:]
    later = await client.get_my_trades(symbol=SYMBOL, startTime=trades[0]["time"] + 10**6)
    assert later == []
    by_order = await client.get_my_trades(symbol=SYMBOL, orderId=order["orderId"], limit=2)
    assert [t["id"] for t in by_order] == ids[-2:]


async def test_usage_headers_count_weight_and_orders(client: Any) -> None:
    await client.get_account()
    first = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    await client.get_account()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 20
    assert "X-MBX-ORDER-COUNT-10S" not in client.response.headers
    await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="90")
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "1"
    await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="90")
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "2"
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 22
    await client.get_open_orders()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 102


async def test_a_client_id_that_form_encoding_changes_fails_the_signature(client: Any) -> None:
    # python-binance signs `newClientOrderId=a:b` but sends `a%3Ab` in the form body; the
    # signed payload is what was received (rest-api.md), so keep ids to [A-Za-z0-9._-].
    error = await api_error(
        client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="a:b")
    )
    assert error.code == -1022
    placed = await client.order_limit_buy(
        symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="a-b._1"
    )
    assert placed["clientOrderId"] == "a-b._1"


async def test_new_order_response_types(client: Any) -> None:
    ack = await client.order_limit_buy(
        symbol=SYMBOL, quantity="0.1", price="99", newOrderRespType="ACK"
    )
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = await client.order_market_buy(symbol=SYMBOL, quantity="0.1", newOrderRespType="RESULT")
    assert "fills" not in result
    assert (result["status"], result["executedQty"]) == ("FILLED", "0.10000000")
    full = await client.order_market_sell(symbol=SYMBOL, quantity="0.1")
    assert full["fills"][0]["price"] == "100.00000000"


async def test_malformed_parameters_get_binance_errors(client: Any) -> None:
    error = await api_error(client.get_my_trades(symbol=SYMBOL, fromId="abc"))
    assert (error.status_code, error.code) == (400, -1102)
    error = await api_error(client.order_limit_buy(symbol=SYMBOL, quantity="x", price="99"))
    assert error.code == -1100
    error = await api_error(client.create_order(symbol=SYMBOL, side="BUY", type="LIMIT"))
    assert (error.code, error.message) == (
        -1102,
        "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
    )


async def test_a_fake_can_come_back_on_a_known_port() -> None:
    async with FakeBinance() as first:
        port = first.port
    async with FakeBinance(port=port) as again, binance_client(again) as client:
        assert again.port == port
        assert again.api_url == f"http://127.0.0.1:{port}/api"
        assert "serverTime" in await client.get_server_time()
