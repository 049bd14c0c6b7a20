"""`BinanceRest` against the fake Binance (the real python-binance client in between):
start-up, the calls, usage headers and how Binance's errors reach the trader."""

from __future__ import annotations

import asyncio
import socket
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from binance import AsyncClient

from silvertine_tui.brokers.binance.errors import (
    CancelReplaceFailed,
    CredentialsRejected,
    FilterFailure,
    InvalidSymbol,
)
from silvertine_tui.brokers.binance.rest import BinanceRest
from silvertine_tui.brokers.errors import (
    BrokerError,
    InsufficientFunds,
    NotConnected,
    OrderRejected,
    UnknownOrder,
)
from tests.fakes.binance import FakeBinance
from tests.support.binance_rest import TestTime, limit_buy, rest_config, started_rest

SYMBOL = "BTCUSDT"
WRONG_SECRET = "S3cr3tThatMustNeverBeShownAnywhere0000000000000000000000000000000"
WRONG_KEY = "K3yThatMustNeverBeShownAnywhere00000000000000000000000000000000000"


@pytest.fixture
async def rest(fake: FakeBinance) -> AsyncIterator[BinanceRest]:
    async with started_rest(fake) as started:
        yield started


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    shown = "".join(traceback.format_exception(error))
    for secret in secrets:
        assert secret not in shown


# ------------------------------------------------------------------ start-up


async def test_start_uses_the_configured_urls_even_on_testnet(
    fake: FakeBinance, rest: BinanceRest
) -> None:
    client = rest.client
    assert isinstance(client, AsyncClient)
    # testnet: true would switch python-binance to testnet.binance.vision: the override wins.
    assert client.testnet is True
    assert client.API_URL == client.API_TESTNET_URL == fake.api_url
    assert client.ws_api._url == fake.ws_api_url
    assert client.REQUEST_RECVWINDOW == 5000
    assert fake.requests[:2] == [("GET", "/api/v3/ping"), ("GET", "/api/v3/time")]
    assert rest.usage.weight_1m == 2  # ping and time, from the last answer's header
    assert await rest.ping() >= 0
    assert rest.rtt_ms is not None


async def test_unreachable_venue_is_not_connected_naming_the_url_and_no_secret() -> None:
    port = closed_port()
    config = rest_config(
        _Unstarted(port), api_key=WRONG_KEY, api_secret=WRONG_SECRET, request_timeout_s=1.0
    )
    rest = BinanceRest(config)
    with pytest.raises(NotConnected) as caught:
        await rest.start()
    message = str(caught.value)
    assert f"http://127.0.0.1:{port}/api" in message
    assert "connection refused" in message
    assert "check the network" in message.lower()
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert_no_secret(caught.value, WRONG_KEY, WRONG_SECRET)
    assert rest.client is None


async def test_unknown_host_names_the_dns_failure() -> None:
    config = rest_config(_Unstarted(1), rest_url="http://binance-fake.invalid/api")
    rest = BinanceRest(config, request_timeout_s=2.0)
    with pytest.raises(NotConnected, match=r"DNS lookup failed for binance-fake\.invalid"):
        await rest.start()


async def test_a_venue_that_never_answers_is_not_connected_after_the_timeout() -> None:
    done = asyncio.Event()
    handlers: list[asyncio.Task[None]] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        try:
            await reader.read(1)  # accept, read, never answer
            await done.wait()
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        rest = BinanceRest(rest_config(_Unstarted(port)), request_timeout_s=0.2)
        with pytest.raises(NotConnected) as caught:
            await rest.start()
    finally:
        done.set()
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()
    message = str(caught.value)
    assert f"127.0.0.1:{port}/api" in message
    assert "no answer from Binance within 0.2 s" in message
    assert "Check the network" in message


class _Unstarted:
    """Enough of a FakeBinance for `rest_config` without a server behind the port."""

    api_key = WRONG_KEY
    api_secret = WRONG_SECRET

    def __init__(self, port: int) -> None:
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.ws_api_url = f"ws://127.0.0.1:{port}/ws-api/v3"
        self.stream_url = f"ws://127.0.0.1:{port}/"


async def test_calls_before_start_are_refused_without_sending(fake: FakeBinance) -> None:
    rest = BinanceRest(rest_config(fake))
    with pytest.raises(NotConnected, match="Nothing was sent"):
        await rest.new_order(limit_buy("early"))
    assert fake.requests == []


# ------------------------------------------------------------------ calls


async def test_order_lifecycle_through_the_rest_layer(fake: FakeBinance, rest: BinanceRest) -> None:
    info = await rest.exchange_info([SYMBOL])
    assert [s["symbol"] for s in info["symbols"]] == [SYMBOL]
    account = await rest.account()
    assert {b["asset"] for b in account["balances"]} >= {"BTC", "USDT"}
    book = await rest.depth(SYMBOL, 5)
    assert book["bids"][0][0] == "100.00000000"

    placed = await rest.new_order(limit_buy("t-1"))
    assert (placed["clientOrderId"], placed["status"]) == ("t-1", "NEW")
    assert rest.usage.order_count_10s == 1
    queried = await rest.get_order(SYMBOL, "t-1")
    assert queried is not None
    assert queried["orderId"] == placed["orderId"]
    assert [o["clientOrderId"] for o in await rest.open_orders(SYMBOL)] == ["t-1"]
    assert len(await rest.open_orders()) == 1

    cancelled = await rest.cancel_order(SYMBOL, "t-1")
    assert (cancelled["origClientOrderId"], cancelled["status"]) == ("t-1", "CANCELED")
    assert await rest.open_orders(SYMBOL) == []
    assert await rest.cancel_open_orders(SYMBOL) == []  # Binance: -2011 when none is open

    await rest.new_order({**limit_buy("t-2", price="101"), "timeInForce": "IOC"})
    trades = await rest.my_trades(SYMBOL)
    assert [t["price"] for t in trades] == ["101.00000000"]
    assert await rest.my_trades(SYMBOL, from_id=trades[0]["id"] + 1) == []


async def test_usage_headers_are_read_after_every_call(
    fake: FakeBinance, rest: BinanceRest
) -> None:
    before = rest.usage.weight_1m
    await rest.account()  # weight 20
    assert rest.usage.weight_1m == before + 20 == fake.used_weight
    await rest.open_orders()  # weight 80 without a symbol
    assert rest.usage.weight_1m == before + 100
    await rest.new_order(limit_buy("u-1"))
    await rest.new_order(limit_buy("u-2"))
    metrics = rest.usage.as_metrics()
    assert metrics["weight_1m"] == fake.used_weight
    assert metrics["weight_limit_1m"] == 6000
    assert metrics["orders_10s"] == 2
    assert metrics["order_limit_10s"] == 100
    assert metrics["banned_s"] == 0
    # Integers only: the health pane would show a float in [0, 1] as a percentage.
    assert all(type(value) is int for value in metrics.values())


# ------------------------------------------------------------------ errors


async def test_insufficient_balance_is_insufficient_funds(
    fake: FakeBinance, rest: BinanceRest
) -> None:
    with pytest.raises(InsufficientFunds) as caught:
        await rest.new_order(limit_buy("big", qty="1000", price="99"))  # 99,000 USDT
    assert caught.value.code == -2010
    assert "not enough free balance" in str(caught.value)
    assert "code -2010" in str(caught.value)
    assert fake.orders == {}


async def test_other_new_order_rejections_are_order_rejected(
    fake: FakeBinance, rest: BinanceRest
) -> None:
    fake.reject_next_order(-2010, "Duplicate order sent.")
    with pytest.raises(OrderRejected) as caught:
        await rest.new_order(limit_buy("dup"))
    assert not isinstance(caught.value, InsufficientFunds)
    assert caught.value.code == -2010
    assert "Duplicate order sent." in str(caught.value)


async def test_filter_failure_names_the_filter(fake: FakeBinance, rest: BinanceRest) -> None:
    with pytest.raises(FilterFailure) as caught:
        await rest.new_order(limit_buy("odd-price", price="99.005"))  # tick 0.01
    assert (caught.value.code, caught.value.filter) == (-1013, "PRICE_FILTER")
    assert "filter PRICE_FILTER" in str(caught.value)
    assert "tick size" in str(caught.value)
    fake.fail_next_order_filter("NOTIONAL")
    with pytest.raises(FilterFailure, match="order's value") as caught:
        await rest.new_order(limit_buy("small"))
    assert caught.value.filter == "NOTIONAL"


async def test_cancel_that_raced_a_fill_is_unknown_order_naming_the_fill(
    fake: FakeBinance, rest: BinanceRest
) -> None:
    await rest.new_order(limit_buy("racy"))
    fake.race_next_cancel()
    with pytest.raises(UnknownOrder) as caught:
        await rest.cancel_order(SYMBOL, "racy")
    assert caught.value.code == -2011
    assert "FILLED" in str(caught.value)
    assert fake.order_by_client_id("racy").status == "FILLED"


async def test_cancel_of_an_id_binance_never_had_is_unknown_order(rest: BinanceRest) -> None:
    with pytest.raises(UnknownOrder) as caught:
        await rest.cancel_order(SYMBOL, "never-sent")
    assert caught.value.code == -2011


async def test_query_of_an_unknown_order_is_none(fake: FakeBinance, rest: BinanceRest) -> None:
    assert await rest.get_order(SYMBOL, "never-sent") is None
    assert fake.requests[-1] == ("GET", "/api/v3/order")


async def test_invalid_symbol(rest: BinanceRest) -> None:
    with pytest.raises(InvalidSymbol) as caught:
        await rest.exchange_info(["NOPEUSDT"])
    assert caught.value.code == -1121
    assert "no such symbol" in str(caught.value)
    with pytest.raises(OrderRejected) as rejected:
        await rest.new_order({**limit_buy("x"), "symbol": "NOPEUSDT"})
    assert rejected.value.code == -1121


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [(None, WRONG_SECRET, -1022), (WRONG_KEY, None, -2015)],
    ids=["wrong-secret", "wrong-key"],
)
async def test_refused_key_pair_says_check_the_keys_and_never_shows_them(
    fake: FakeBinance, key: str | None, secret: str | None, code: int
) -> None:
    overrides: dict[str, Any] = {}
    if key is not None:
        overrides["api_key"] = key
    if secret is not None:
        overrides["api_secret"] = secret
    async with started_rest(fake, **overrides) as rest:  # ping and time are not signed
        with pytest.raises(CredentialsRejected) as caught:
            await rest.account()
    assert caught.value.code == code
    assert not caught.value.retryable
    message = str(caught.value)
    assert "check api_key and api_secret" in message.lower()
    assert_no_secret(caught.value, WRONG_KEY, WRONG_SECRET, fake.api_secret)
    # Not retried: a key problem does not go away by asking again.
    assert fake.requests.count(("GET", "/api/v3/account")) == 1


async def test_cancel_replace_failure_carries_the_venue_data(
    fake: FakeBinance, rest: BinanceRest
) -> None:
    await rest.new_order(limit_buy("old"))
    params = {
        **limit_buy("new", price="98"),
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrigClientOrderId": "not-there",
    }
    with pytest.raises(CancelReplaceFailed) as caught:
        await rest.cancel_replace(params)
    error = caught.value
    assert error.code == -2022
    assert error.data["cancelResult"] == "FAILURE"
    assert error.data["newOrderResult"] == "NOT_ATTEMPTED"
    assert error.data["cancelResponse"]["code"] == -2011
    assert not error.cancelled
    assert not error.new_order_placed
    assert "changed nothing" in str(error)

    fake.reject_next_order()  # the cancel works, the new order is refused: -2021
    with pytest.raises(CancelReplaceFailed) as caught:
        await rest.cancel_replace({**params, "cancelOrigClientOrderId": "old"})
    assert caught.value.code == -2021
    assert caught.value.cancelled
    assert not caught.value.new_order_placed
    assert "nothing is working now" in str(caught.value)
    assert fake.order_by_client_id("old").status == "CANCELED"


async def test_cancel_replace_moves_the_order(fake: FakeBinance, rest: BinanceRest) -> None:
    await rest.new_order(limit_buy("first"))
    answer = await rest.cancel_replace(
        {
            **limit_buy("second", price="98"),
            "cancelReplaceMode": "STOP_ON_FAILURE",
            "cancelOrigClientOrderId": "first",
        }
    )
    assert answer["cancelResult"] == answer["newOrderResult"] == "SUCCESS"
    assert [o["clientOrderId"] for o in await rest.open_orders(SYMBOL)] == ["second"]


async def test_every_error_is_a_broker_error_with_the_venue_code(rest: BinanceRest) -> None:
    with pytest.raises(BrokerError) as caught:
        await rest.my_trades("NOPEUSDT")
    assert caught.value.code == -1121


async def test_restart_client_builds_a_new_client(fake: FakeBinance) -> None:
    async with started_rest(fake, TestTime()) as rest:
        first = rest.client
        assert first is not None
        await rest.restart_client()
        assert rest.client is not None
        assert rest.client is not first
        assert first.session.closed
        assert (await rest.account())["balances"]


async def test_concurrent_starts_build_one_client(fake: FakeBinance) -> None:
    rest = BinanceRest(rest_config(fake))
    try:
        await asyncio.gather(rest.start(), rest.start(), rest.start())
        assert fake.requests.count(("GET", "/api/v3/ping")) == 1
    finally:
        await rest.close()
    assert rest.client is None


async def test_logs_never_carry_the_key_pair(
    fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with started_rest(fake) as rest:
        fake.set_clock_skew(10_000)  # a re-sync is logged
        await rest.account()
        fake.throttle(requests=1, retry_after=0.1, ban=1)
        with pytest.raises(BrokerError):
            await rest.new_order(limit_buy("logged"))  # a 429 is logged
    fake.set_clock_skew(0)
    await asyncio.sleep(0.15)  # past the fake's Retry-After
    async with started_rest(fake, api_secret=WRONG_SECRET) as rest:
        with pytest.raises(CredentialsRejected):
            await rest.account()
    events = {record.getMessage() for record in caplog.records}
    assert {"binance.clock_resync", "binance.rate_limited", "binance.rest.error"} <= events
    for record in caplog.records:
        shown = repr(record.__dict__)
        for secret in (fake.api_key, fake.api_secret, WRONG_SECRET):
            assert secret not in shown
