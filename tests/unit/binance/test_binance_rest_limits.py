"""Rate limits: throttling before Binance's limits, 429 with Retry-After, a 418 ban."""

from __future__ import annotations

import asyncio

import pytest
from binance.exceptions import BinanceAPIException

from silvertine_tui.brokers.binance.errors import Banned
from silvertine_tui.brokers.errors import RateLimited
from tests.fakes.binance import FakeBinance
from tests.fakes.binance.client import binance_client
from tests.support.binance_rest import TestTime, limit_buy, started_rest

SYMBOL = "BTCUSDT"
ORDER = ("POST", "/api/v3/order")
ACCOUNT = ("GET", "/api/v3/account")


async def test_reads_wait_for_the_next_minute_above_the_threshold(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.set_background_weight(5400)  # another program on this IP; 90 % of 6000
        await rest.ping()  # the answer reports the weight
        assert rest.usage.weight_1m >= 5400
        until_next_minute = rest.usage.weight_reset_s()
        sent = len(fake.requests)

        await rest.account()

        assert test_time.sleeps == [pytest.approx(until_next_minute)]
        assert 0 < until_next_minute <= 60
        assert fake.requests[sent:] == [ACCOUNT]  # sent once, after the wait
        assert rest.usage.throttled == 1


async def test_reads_below_the_threshold_do_not_wait(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.set_background_weight(5300)
        await rest.ping()
        await rest.account()
        assert test_time.sleeps == []


async def test_orders_and_cancels_use_the_reserve_above_the_threshold(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.set_background_weight(5900)
        await rest.ping()
        await rest.new_order(limit_buy("reserve"))
        await rest.cancel_order(SYMBOL, "reserve")
        assert test_time.sleeps == []
        assert fake.order_by_client_id("reserve").status == "CANCELED"


async def test_new_order_at_the_weight_limit_is_refused_without_sending(
    fake: FakeBinance,
) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.set_background_weight(6000)
        await rest.ping()
        with pytest.raises(RateLimited) as caught:
            await rest.new_order(limit_buy("too-much"))
        assert "The order was not sent" in str(caught.value)
        assert "weight" in str(caught.value)
        assert caught.value.retry_after == pytest.approx(rest.usage.weight_reset_s())
        assert ORDER not in fake.requests
        assert test_time.sleeps == []  # refused, not delayed
        # A cancel at the limit waits for the minute instead (it must go out).
        await rest.cancel_open_orders(SYMBOL)
        assert len(test_time.sleeps) == 1


async def test_order_count_limit_refuses_new_orders_until_the_window_passes(
    fake: FakeBinance,
) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time, order_count_limit_10s=2) as rest:
        await rest.new_order(limit_buy("o-1"))
        await rest.new_order(limit_buy("o-2"))
        with pytest.raises(RateLimited, match=r"2/2 orders in 10 s") as caught:
            await rest.new_order(limit_buy("o-3"))
        assert caught.value.retry_after == pytest.approx(10, abs=0.01)
        assert fake.requests.count(ORDER) == 2
        assert rest.usage.as_metrics()["orders_10s"] == 2
        # Reads are not held back by the order count.
        await rest.account()
        test_time.advance(10)
        assert rest.usage.order_count_10s == 0
        await rest.new_order(limit_buy("o-3"))
        assert fake.requests.count(ORDER) == 3


async def test_429_on_a_read_waits_retry_after_then_succeeds(fake: FakeBinance) -> None:
    test_time = TestTime(real_cap=0.3)  # the fake's window runs on the real clock
    async with started_rest(fake, test_time) as rest:
        fake.throttle(requests=1, retry_after=0.2, ban=5)
        account = await rest.account()
        assert account["balances"]
        assert test_time.sleeps
        assert max(test_time.sleeps) >= 1.0
        assert fake.requests.count(ACCOUNT) == 2
        assert (rest.usage.rate_limited, rest.usage.bans) == (1, 0)  # never retried early


async def test_429_on_a_new_order_is_refused_and_not_resent(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest:
        fake.throttle(requests=1, retry_after=0.2, ban=5)
        with pytest.raises(RateLimited) as caught:
            await rest.new_order(limit_buy("throttled"))
        assert caught.value.code == -1003
        assert caught.value.retry_after == 1.0
        assert "HTTP 429" in str(caught.value)
        assert fake.requests.count(ORDER) == 1
        assert fake.orders == {}
        assert rest.usage.as_metrics()["backoff_s"] == 1
        # Within Retry-After a new order is refused here (sending would earn a ban).
        with pytest.raises(RateLimited, match="Retry-After"):
            await rest.new_order(limit_buy("again"))
        assert fake.requests.count(ORDER) == 1
        assert rest.usage.bans == 0


async def test_418_ban_refuses_every_call_locally_with_a_countdown(fake: FakeBinance) -> None:
    test_time = TestTime()
    async with started_rest(fake, test_time) as rest, binance_client(fake) as other:
        # Another program on this IP ignores a 429 and gets the IP banned.
        fake.throttle(requests=1, retry_after=0.1, ban=0.3)
        for _ in range(2):
            with pytest.raises(BinanceAPIException):
                await other.get_account()

        with pytest.raises(Banned) as caught:
            await rest.account()
        assert caught.value.retry_after == 1.0  # Retry-After: 1 (rounded up)
        assert "banned this IP" in str(caught.value)
        assert "1 s" in str(caught.value)
        assert rest.usage.as_metrics()["banned_s"] == 1
        assert rest.usage.bans == 1
        sent = len(fake.requests)

        for call in (rest.account(), rest.new_order(limit_buy("banned")), rest.ping()):
            with pytest.raises(Banned, match=r"nothing is sent for 1 s more"):
                await call
        assert len(fake.requests) == sent  # refused without touching the network
        client = rest.client
        with pytest.raises(Banned):
            await rest.restart_client()  # a new client would ping: the old one stays
        assert rest.client is client

        test_time.advance(0.6)
        assert rest.usage.as_metrics()["banned_s"] == 1  # 0.4 s left, rounded up
        test_time.advance(0.5)
        assert rest.usage.as_metrics()["banned_s"] == 0
        await asyncio.sleep(0.35)  # the fake's own ban (0.3 s) is over too
        assert (await rest.account())["balances"]
