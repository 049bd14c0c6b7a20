"""Clock skew and a broken network: what is retried, what is never sent twice."""

from __future__ import annotations

import pytest

from silvertine_tui.brokers.binance.errors import ClockOutOfSync
from silvertine_tui.brokers.errors import BrokerTimeout, NotConnected
from tests.fakes.binance import FakeBinance
from tests.support.binance_rest import TestTime, limit_buy, started_rest

SYMBOL = "BTCUSDT"
ORDER = ("POST", "/api/v3/order")
CANCEL = ("DELETE", "/api/v3/order")
ACCOUNT = ("GET", "/api/v3/account")
TIME = ("GET", "/api/v3/time")


# ------------------------------------------------------------------ -1021


async def test_clock_skew_resyncs_the_offset_and_retries_once(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        fake.set_clock_skew(10_000)  # Binance's clock is 10 s ahead: recvWindow is 5 s
        sent = len(fake.requests)
        account = await rest.account()
        assert account["balances"]
        assert fake.requests[sent:] == [ACCOUNT, TIME, ACCOUNT]
        assert rest.clock_resyncs == 1
        assert rest.client is not None
        assert rest.client.timestamp_offset == pytest.approx(10_000, abs=500)
        assert rest.usage.offset_ms == rest.client.timestamp_offset
        # The next calls use the new offset: no more -1021.
        await rest.account()
        assert rest.clock_resyncs == 1


async def test_clock_skew_on_a_new_order_resends_it_once_safely(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        fake.set_clock_skew(-3_000)  # Binance is behind: our timestamps look 3 s ahead
        placed = await rest.new_order(limit_buy("skewed"))
        assert placed["status"] == "NEW"
        assert fake.requests.count(ORDER) == 2  # the first was refused with -1021
        assert len(fake.orders) == 1


async def test_a_persistent_clock_error_is_clear(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        fake.set_clock_skew(10_000)
        fake.report_wrong_time(-10_000)  # /time keeps telling the old time
        sent = len(fake.requests)
        with pytest.raises(ClockOutOfSync) as caught:
            await rest.new_order(limit_buy("never"))
        message = str(caught.value)
        assert caught.value.code == -1021
        assert "even after re-syncing" in message
        assert "NTP" in message
        assert "recv_window_ms" in message
        assert fake.requests[sent:] == [ORDER, TIME, ORDER]  # exactly one retry
        assert fake.orders == {}
        with pytest.raises(ClockOutOfSync):
            await rest.account()  # reads are not retried on it either
        assert fake.requests.count(ACCOUNT) == 2


# ------------------------------------------------------------------ network


async def test_swallowed_order_reply_is_a_timeout_and_never_resent(fake: FakeBinance) -> None:
    async with started_rest(fake, request_timeout_s=0.3) as rest:
        fake.swallow_next_order_reply()
        with pytest.raises(BrokerTimeout) as caught:
            await rest.new_order(limit_buy("lost-reply"))
        assert "within 0.3 s" in str(caught.value)
        assert "do not send it again" in str(caught.value)
        assert fake.requests.count(ORDER) == 1
        assert len(fake.orders) == 1  # it lives at the venue: exactly one
        found = await rest.get_order(SYMBOL, "lost-reply")
        assert found is not None
        assert found["status"] == "NEW"


async def test_connection_lost_after_sending_an_order_is_a_timeout(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        fake.reset_next_requests(1, after_processing=True)
        with pytest.raises(BrokerTimeout, match="broke after the order was sent"):
            await rest.new_order(limit_buy("cut"))
        assert fake.requests.count(ORDER) == 1
        assert [o.client_order_id for o in fake.orders.values()] == ["cut"]


async def test_connection_lost_on_cancel_replace_is_a_timeout(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        await rest.new_order(limit_buy("a"))
        fake.reset_next_requests(1, after_processing=True)
        with pytest.raises(BrokerTimeout):
            await rest.cancel_replace(
                {
                    **limit_buy("b"),
                    "cancelReplaceMode": "STOP_ON_FAILURE",
                    "cancelOrigClientOrderId": "a",
                }
            )
        assert fake.requests.count(("POST", "/api/v3/order/cancelReplace")) == 1
        assert fake.order_by_client_id("b").status == "NEW"


async def test_reads_retry_transient_connection_resets_with_backoff(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.reset_next_requests(3, after_processing=False)
        account = await rest.account()
        assert account["balances"]
        assert test_time.sleeps  # our backoff, beyond aiohttp's own single re-send
        assert fake.requests.count(ACCOUNT) == 4


async def test_reads_give_up_after_the_retry_budget(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.reset_next_requests(100, after_processing=False)
        with pytest.raises(NotConnected, match="connection to Binance broke") as caught:
            await rest.account()
        assert len(test_time.sleeps) == 2  # three attempts
        # The budget is spent: the error no longer says "retrying" (the health pane's
        # link does, where the adapter keeps looking for Binance).
        assert "retrying" not in str(caught.value)


async def test_a_cancel_that_never_got_through_does_not_promise_a_retry(
    fake: FakeBinance,
) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        await rest.new_order(limit_buy("stuck"))
        fake.reset_next_requests(100, after_processing=False)
        with pytest.raises(NotConnected, match="cancel order BTCUSDT stuck") as caught:
            await rest.cancel_order(SYMBOL, "stuck")
        assert "retrying" not in str(caught.value)
        assert len(test_time.sleeps) == 2
        assert fake.order_by_client_id("stuck").status == "NEW"


async def test_cancel_whose_reply_was_lost_counts_as_cancelled(fake: FakeBinance) -> None:
    async with started_rest(fake) as rest:
        await rest.new_order(limit_buy("to-cancel"))
        # The cancel happens, its reply is lost; the re-sent cancel finds nothing (-2011).
        fake.reset_next_requests(1, after_processing=True)
        answer = await rest.cancel_order(SYMBOL, "to-cancel")
        assert (answer["status"], answer["origClientOrderId"]) == ("CANCELED", "to-cancel")
        assert fake.requests.count(CANCEL) == 2
        assert fake.order_by_client_id("to-cancel").status == "CANCELED"


async def test_venue_gone_after_start_is_not_connected_for_reads(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        url = fake.api_url
        await fake.stop()
        with pytest.raises(NotConnected) as caught:
            await rest.account()
        assert url in str(caught.value)
        assert len(test_time.sleeps) == 2
        with pytest.raises(NotConnected, match="The order was not sent"):
            await rest.new_order(limit_buy("offline"))


async def test_a_5xx_after_a_new_order_is_an_unknown_outcome_never_resent(
    fake: FakeBinance,
) -> None:
    async with started_rest(fake) as rest:
        fake.fail_next_requests(1)  # -1007: "execution status unknown"
        with pytest.raises(BrokerTimeout) as caught:
            await rest.new_order(limit_buy("maybe"))
        assert caught.value.code == -1007
        assert "could not say whether the order was taken" in str(caught.value)
        assert fake.requests.count(ORDER) == 1
        assert [o.client_order_id for o in fake.orders.values()] == ["maybe"]


async def test_a_proxy_error_page_on_reads_is_retried_then_named(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        page = "<html><body>502 Bad Gateway</body></html>"
        fake.fail_next_requests(1, status=502, body=page, after_processing=False)
        assert (await rest.account())["balances"]
        assert len(test_time.sleeps) == 1
        fake.fail_next_requests(3, status=502, body=page, after_processing=False)
        with pytest.raises(NotConnected) as caught:
            await rest.account()
        message = str(caught.value)
        assert "HTTP 502" in message
        assert "not Binance's" in message
        assert "bound method" not in message
        assert "<html>" not in message


async def test_read_timeouts_are_retried_with_backoff(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time, request_timeout_s=0.2) as rest:
        fake.delay_next_replies(0.4)
        assert (await rest.open_orders(SYMBOL)) == []
        assert len(test_time.sleeps) == 1
        assert fake.requests.count(("GET", "/api/v3/openOrders")) == 2


async def test_a_cancel_that_timed_out_is_retried_and_confirmed(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time, request_timeout_s=0.2) as rest:
        await rest.new_order(limit_buy("slow-cancel"))
        fake.delay_next_replies(0.4)  # the cancel happens; its answer comes too late
        answer = await rest.cancel_order(SYMBOL, "slow-cancel")
        assert answer["status"] == "CANCELED"
        assert fake.requests.count(CANCEL) == 2
        assert len(test_time.sleeps) == 1
