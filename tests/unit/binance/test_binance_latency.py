"""The Health pane's latency of a Binance broker is its last REST answer's round trip,
not the ping asked at connect: after a venue frozen a while the pane read `lat 2,665ms`
for over 3 minutes while orders and modifies were answered in milliseconds (a trader's
review on the fake Binance), and a venue slowing down never showed."""

from __future__ import annotations

import contextlib

from silvertine_tui.brokers import BrokerError
from tests.support.binance_broker import binance_session


async def test_the_latency_follows_every_rest_answer() -> None:
    async with binance_session() as s:
        broker = s.broker
        await broker.publish_health()
        at_connect = broker.health_state.rtt_ms
        assert at_connect is not None
        assert at_connect < 300

        s.fake.delay_next_replies(0.4)  # a slow answer
        await broker.balances()
        await broker.publish_health()
        slow = broker.health_state.rtt_ms
        assert slow is not None
        assert slow >= 400

        await broker.balances()  # answered at once again
        await broker.publish_health()
        fast = broker.health_state.rtt_ms
        assert fast is not None
        assert fast < 300
        metrics = broker.health_state.as_metrics(0)
        assert metrics["rtt_ms"] == fast


async def test_a_call_that_times_out_shows_its_wait_not_the_last_good_answer() -> None:
    async with binance_session(request_timeout_s=0.5) as s:
        broker = s.broker
        s.fake.delay_next_replies(2.0, count=10)  # no answer within the timeout, retried too
        with contextlib.suppress(BrokerError):
            await broker.rest.server_time_ms()
        await broker.publish_health()
        waited = broker.health_state.rtt_ms
        assert waited is not None
        assert waited >= 500
