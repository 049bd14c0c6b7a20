"""Every fault the fake Binance injects, observed through the real python-binance client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from binance.exceptions import BinanceAPIException, ReadLoopClosed
from binance.ws.constants import WSListenerState

from tests.fakes.binance import FakeBinance
from tests.fakes.binance.client import (
    binance_client,
    next_message,
    next_report,
    socket_manager,
)

SYMBOL = "BTCUSDT"


@pytest.fixture
async def client(fake: FakeBinance) -> AsyncIterator[Any]:
    async with binance_client(fake) as c:
        yield c


@pytest.fixture
async def manager(fake: FakeBinance, client: Any) -> Any:
    return socket_manager(fake, client)


@pytest.fixture
async def user(fake: FakeBinance, manager: Any) -> AsyncIterator[Any]:
    async with manager.user_socket() as socket:
        await fake.wait_for_user_subscriptions(1)
        yield socket


async def api_error(call: Any) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as caught:
        await call
    return caught.value


async def library_reconnected(fake: FakeBinance, client: Any, connects: int) -> None:
    """Until python-binance's WebSocket API connection is back. A request sent while the
    library is still reconnecting can be lost: its read loop replaces the connection the
    answer comes back on."""
    await fake.wait_for_api_connects(connects)
    async with asyncio.timeout(2):
        while client.ws_api.ws_state is not WSListenerState.STREAMING:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # the library offers no event to wait on


async def drain(socket: Any, quiet: float = 0.3) -> list[dict[str, Any]]:
    """Everything the socket yields until it has been quiet for `quiet` seconds."""
    messages: list[dict[str, Any]] = []
    while True:
        try:
            messages.append(await next_message(socket, quiet))
        except TimeoutError:
            return messages


async def test_429_with_retry_after_then_418_when_retried_early(
    fake: FakeBinance, client: Any
) -> None:
    fake.throttle(requests=1, retry_after=0.3, ban=0.3)
    error = await api_error(client.get_server_time())
    assert (error.status_code, error.code) == (429, -1003)
    assert error.message.startswith("Too much request weight used")
    assert client.response.headers["Retry-After"] == "1"
    error = await api_error(client.get_account())  # did not wait: banned
    assert (error.status_code, error.code) == (418, -1003)
    assert error.message.startswith("Way too much request weight used; IP banned until")
    assert "Retry-After" in client.response.headers
    await asyncio.sleep(0.35)
    assert "serverTime" in await client.get_server_time()


async def test_next_order_rejected_with_2010_or_1013(fake: FakeBinance, client: Any) -> None:
    fake.reject_next_order()
    error = await api_error(client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99"))
    assert (error.status_code, error.code) == (400, -2010)
    assert error.message == "Account has insufficient balance for requested action."
    fake.fail_next_order_filter("NOTIONAL")
    error = await api_error(client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99"))
    assert (error.code, error.message) == (-1013, "Filter failure: NOTIONAL")
    assert fake.orders == {}
    placed = await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    assert placed["status"] == "NEW"


async def test_a_cancel_racing_a_fill_gets_2011_after_the_fill_report(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    placed = await client.order_limit_sell(symbol=SYMBOL, quantity="0.2", price="102")
    assert (await next_report(user))["x"] == "NEW"
    fake.race_next_cancel()
    error = await api_error(client.cancel_order(symbol=SYMBOL, orderId=placed["orderId"]))
    assert (error.code, error.message) == (-2011, "Unknown order sent.")
    fill = await next_report(user)
    assert (fill["x"], fill["X"], fill["z"]) == ("TRADE", "FILLED", "0.20000000")
    queried = await client.get_order(symbol=SYMBOL, orderId=placed["orderId"])
    assert queried["status"] == "FILLED"


async def test_a_websocket_drop_leaves_the_user_socket_unsubscribed(
    fake: FakeBinance, client: Any, manager: Any, user: Any
) -> None:
    await fake.drop_connections()
    error = await next_message(user)
    assert (error["e"], error["type"]) == ("error", "ConnectionClosedError")
    # python-binance reconnects its WebSocket API connection but does not re-subscribe.
    await library_reconnected(fake, client, 2)
    assert fake.user_subscriptions() == 0
    await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    assert {m["e"] for m in await drain(user)} == {"error"}  # no executionReport


async def test_rebuilding_the_user_socket_after_a_drop_resubscribes(
    fake: FakeBinance, client: Any, manager: Any
) -> None:
    async with manager.user_socket() as socket:
        await fake.wait_for_user_subscriptions(1)
        await fake.drop_connections()
        assert (await next_message(socket))["e"] == "error"
        await library_reconnected(fake, client, 2)
    async with manager.user_socket() as socket:
        await fake.wait_for_user_subscriptions(1)
        await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
        assert (await next_report(socket))["x"] == "NEW"


async def test_a_market_stream_reconnects_after_a_drop(fake: FakeBinance, manager: Any) -> None:
    async with manager.trade_socket(SYMBOL) as socket:
        await fake.wait_for_stream("btcusdt@trade")
        await fake.drop_connections(user_data=False)
        assert (await next_message(socket))["e"] == "error"
        await fake.wait_for_stream_connects(2)
        await fake.trade(SYMBOL, "100.5", "0.1")
        while (message := await next_message(socket))["e"] == "error":
            pass
        assert (message["e"], message["p"]) == ("trade", "100.50000000")


async def test_server_shutdown_is_sent_then_the_connection_closes(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(fake.ws_api_url) as raw,
    ):
        await fake.wait_for_api_connects(2)
        await fake.send_server_shutdown(close_after=0.05)
        frame = json.loads(await raw.receive_str(timeout=1))
        assert frame["event"]["e"] == "serverShutdown"
        assert "subscriptionId" not in frame
        assert (await raw.receive(timeout=1)).type == aiohttp.WSMsgType.CLOSE
    # python-binance drops the event (no subscription id); its user socket sees the close.
    closed = await next_message(user)
    assert (closed["e"], closed["type"]) == ("error", "ConnectionClosedOK")
    await library_reconnected(fake, client, 3)


async def test_event_stream_terminated_ends_the_subscription(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    await fake.terminate_event_streams()
    ended = await next_message(user)
    assert ended["e"] == "eventStreamTerminated"
    assert fake.user_subscriptions() == 0
    await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    assert await drain(user) == []


async def test_duplicate_report(fake: FakeBinance, client: Any, user: Any) -> None:
    fake.duplicate_next_reports(1)
    await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    first, second = await next_report(user), await next_report(user)
    assert first == second
    assert first["x"] == "NEW"


async def test_reports_out_of_order(fake: FakeBinance, client: Any, user: Any) -> None:
    fake.reorder_next_reports(2)
    placed = await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    await fake.fill(placed["orderId"])
    first, second = await next_report(user), await next_report(user)
    assert [(first["x"], first["X"]), (second["x"], second["X"])] == [
        ("TRADE", "FILLED"),
        ("NEW", "NEW"),
    ]


async def test_a_report_arrives_before_the_rest_reply(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    seen: list[tuple[float, dict[str, Any]]] = []

    async def read() -> None:
        while True:
            event = await user.recv()
            seen.append((time.monotonic(), event))

    reader = asyncio.create_task(read())
    try:
        fake.report_before_reply(delay=0.1)
        placed = await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
        replied = time.monotonic()
    finally:
        reader.cancel()
    reports = [(at, e) for at, e in seen if e.get("e") == "executionReport"]
    assert [e["i"] for _, e in reports] == [placed["orderId"]]
    assert reports[0][0] < replied


async def test_rest_timeout_after_the_order_was_accepted(fake: FakeBinance, user: Any) -> None:
    async with binance_client(fake, request_timeout=0.3) as client:
        fake.swallow_next_order_reply()
        with pytest.raises(TimeoutError):
            await client.order_limit_buy(
                symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="lost-reply"
            )
        # The order lives at the venue: its report came, and a query finds it.
        report = await next_report(user)
        assert (report["c"], report["X"]) == ("lost-reply", "NEW")
        queried = await client.get_order(symbol=SYMBOL, origClientOrderId="lost-reply")
        assert queried["status"] == "NEW"


async def test_refused_reconnects_make_a_market_stream_give_up(
    fake: FakeBinance, manager: Any
) -> None:
    async with manager.trade_socket(SYMBOL) as socket:
        await fake.wait_for_stream("btcusdt@trade")
        # python-binance's MAX_RECONNECTS (5) counts the drop itself: 4 attempts.
        fake.refuse_connections(4, user_data=False)
        await fake.drop_connections(user_data=False)
        errors: list[str] = []

        async def read_until_closed() -> None:
            while True:
                errors.append((await next_message(socket))["type"])

        with pytest.raises(ReadLoopClosed):
            await read_until_closed()
    assert errors[-1] == "BinanceWebsocketUnableToConnect"
    assert fake.stream_connects == 1


async def test_refused_reconnects_end_user_data_until_the_socket_is_rebuilt(
    fake: FakeBinance, client: Any, manager: Any
) -> None:
    async with manager.user_socket() as socket:
        await fake.wait_for_user_subscriptions(1)
        fake.refuse_connections(4, streams=False)
        await fake.drop_connections(streams=False)
        errors = [m["type"] for m in await drain(socket)]
        assert errors[-1] == "BinanceWebsocketUnableToConnect"
        assert fake.api_connects == 1
    async with manager.user_socket() as socket:  # a fresh connection and subscription
        await fake.wait_for_user_subscriptions(1)
        await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
        assert (await next_report(socket))["x"] == "NEW"


async def test_a_reset_request_gets_no_answer_and_acts_only_when_asked(
    fake: FakeBinance, client: Any
) -> None:
    orders = ("POST", "/api/v3/order")
    fake.reset_next_requests(1, after_processing=False)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    assert fake.orders == {}
    fake.reset_next_requests(1)  # after processing: the order lives, its answer is lost
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.order_limit_buy(
            symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="cut"
        )
    assert [o.client_order_id for o in fake.orders.values()] == ["cut"]
    assert fake.requests.count(orders) == 2
    # aiohttp re-sends an idempotent request once when a kept-alive connection drops:
    # a single reset of a GET goes unnoticed by the client.
    fake.reset_next_requests(1, after_processing=False)
    assert (await client.get_account())["balances"]
    assert fake.requests.count(("GET", "/api/v3/account")) == 2


async def test_background_weight_is_added_to_the_usage_header(
    fake: FakeBinance, client: Any
) -> None:
    fake.set_background_weight(5000)
    await client.get_account()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == fake.used_weight + 5000
    await client.get_account()  # nothing is refused for it
    assert fake.used_weight < 5000


async def test_wrong_time_keeps_a_resynced_client_out_of_the_window(
    fake: FakeBinance, client: Any
) -> None:
    fake.set_clock_skew(30_000)  # python-binance's default recvWindow is 10 s
    fake.report_wrong_time(-30_000)
    served = (await client.get_server_time())["serverTime"]
    assert abs(served - time.time() * 1000) < 1000  # /time tells the unskewed time
    client.timestamp_offset = served - int(time.time() * 1000)
    error = await api_error(client.get_account())
    assert error.code == -1021
    fake.report_wrong_time(0)
    client.timestamp_offset = (await client.get_server_time())["serverTime"] - int(
        time.time() * 1000
    )
    assert (await client.get_account())["balances"]


async def test_failed_requests_answer_5xx_after_acting_or_not(
    fake: FakeBinance, client: Any
) -> None:
    fake.fail_next_requests(1)
    error = await api_error(
        client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="u")
    )
    assert (error.status_code, error.code) == (503, -1007)
    assert "execution status unknown" in error.message
    assert [o.client_order_id for o in fake.orders.values()] == ["u"]  # it was placed
    fake.fail_next_requests(1, status=502, body="<html>Bad Gateway</html>", after_processing=False)
    error = await api_error(client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99"))
    assert (error.status_code, error.code) == (502, 0)  # not JSON: python-binance has no code
    assert len(fake.orders) == 1


async def test_a_delayed_reply_times_out_after_the_server_acted(fake: FakeBinance) -> None:
    async with binance_client(fake, request_timeout=0.2) as client:
        placed = await client.order_limit_buy(
            symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="slow"
        )
        fake.delay_next_replies(0.4)
        with pytest.raises(TimeoutError):
            await client.cancel_order(symbol=SYMBOL, orderId=placed["orderId"])
        assert fake.order_by_client_id("slow").status == "CANCELED"
        assert (await client.get_account())["balances"]  # only the next reply was late


async def test_rest_stops_answering_while_user_data_goes_on(
    fake: FakeBinance, client: Any, user: Any
) -> None:
    fake.stop_answering_rest()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.get_account()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.order_limit_buy(symbol=SYMBOL, quantity="0.1", price="99")
    assert fake.orders == {}  # nothing acted on
    await fake.deposit("USDT", "5")  # the user-data stream still delivers
    assert (await next_message(user))["e"] == "balanceUpdate"
    fake.answer_rest()
    assert (await client.get_account())["balances"]


async def test_hung_rest_times_out_and_is_cut_when_rest_answers_again(
    fake: FakeBinance, user: Any
) -> None:
    async with binance_client(fake, request_timeout=0.3) as client:
        fake.stop_answering_rest(hang=True)
        with pytest.raises(TimeoutError):
            await client.order_limit_buy(
                symbol=SYMBOL, quantity="0.1", price="99", newClientOrderId="held"
            )
        held = asyncio.ensure_future(client.get_account())
        await asyncio.sleep(0.1)
        assert not held.done()  # held open, no answer
        fake.answer_rest()  # the held requests are cut, never acted on
        # aiohttp silently re-sends a GET whose kept-alive connection was cut: answered.
        assert (await held)["balances"]
        assert fake.requests.count(("GET", "/api/v3/account")) == 2
        assert fake.orders == {}
        assert fake.requests.count(("POST", "/api/v3/order")) == 1
        await fake.deposit("USDT", "5")
        assert (await next_message(user))["e"] == "balanceUpdate"
