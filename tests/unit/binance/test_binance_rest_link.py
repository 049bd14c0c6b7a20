"""REST alone stops answering while the user-data stream stays up (a REST outage, a proxy
gone, requests timing out), with the adapter built as the desk builds it.

What the trader must see: the "rest" link DISCONNECTED with the reason as soon as a call
finds Binance unreachable (not `rest LIVE` while every order and query fails), orders
refused before sending meanwhile, and "rest" LIVE again once a call is answered. An order
whose answer never came is asked about, never sent again.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from silvertine_tui.brokers import BrokerTimeout, NotConnected, OrderRejected
from silvertine_tui.domain import OrderStatus
from tests.contract.test_broker_contract import statuses
from tests.support.binance_broker import Session
from tests.unit.binance.test_binance_broker_orders import ended, req, wait_for
from tests.unit.binance.test_binance_venue_restart import (
    DOWN,
    LIVE,
    desk_built_session,
    link,
    newest_health,
    pane,
    wait_until,
)

POST = ("POST", "/api/v3/order")
# Bounds for what happens in the background (a ping, the asking after a timeout), with
# room for a loaded 2-core CI machine.
BACK_WITHIN_S = 15.0


async def test_rest_out_alone_shows_rest_down_and_live_again_after_an_answered_call() -> None:
    async with desk_built_session() as s:
        resting = await s.broker.place(req(s, qty="0.5"))
        await wait_for(s, ended(resting, OrderStatus.NEW), "NEW")

        s.fake.stop_answering_rest()  # connections cut; the user-data stream goes on
        with pytest.raises(NotConnected) as caught:
            await s.broker.query_order(resting)
        # The failure is shown: the call's error says what and why...
        assert "query order ETHUSDT" in str(caught.value), caught.value
        assert "connection to Binance broke" in str(caught.value), caught.value
        # ...and the call's own finding moved the link before it raised.
        rest = s.broker.health_state.links["rest"]
        assert rest.state is DOWN, rest
        assert "query order ETHUSDT" in rest.detail, rest.detail
        assert "connection to Binance broke" in rest.detail, rest.detail
        assert "retrying" in rest.detail, rest.detail
        # Only REST is out: the stream is still subscribed and its link LIVE.
        assert link(s, "user") is LIVE
        assert s.broker.user.subscribed
        health = await newest_health(s)
        assert health.payload.metrics["link:rest"] == "DISCONNECTED"
        assert "connection to Binance broke" in str(health.payload.metrics["link_detail:rest"])
        text, _ = await pane(s, time.time())
        assert "\n  rest DISCONNECTED" in text, text
        assert "\n  user LIVE" in text, text
        assert "connection to Binance broke" in text, text  # the reason, on the rest line

        # Orders are refused before sending.
        posts = s.fake.requests.count(POST)
        with pytest.raises(NotConnected, match="is DISCONNECTED") as refused:
            await s.broker.place(req(s, qty="0.1"))
        # ...saying why, not only "check the health pane".
        assert "(rest DISCONNECTED: " in str(refused.value), refused.value
        assert "connection to Binance broke" in str(refused.value), refused.value
        assert s.fake.requests.count(POST) == posts, "an order went out while REST was down"
        # Another failure in the same outage: the link keeps saying why, counted once.
        with pytest.raises(NotConnected):
            await s.broker.balances()
        assert link(s, "rest") is DOWN
        assert "account" in s.broker.health_state.links["rest"].detail
        assert s.broker.health_state.errors["rest"] == 1

        s.fake.answer_rest()
        venue = await s.broker.query_order(resting)  # the next call is answered
        assert venue is not None
        assert venue.status is OrderStatus.NEW
        assert link(s, "rest") is LIVE
        assert s.broker.state is LIVE
        assert s.broker.health_state.errors["rest"] == 1
        assert s.broker.health_state.reconnects == 0  # the stream never went away
        again = await s.broker.place(req(s, qty="0.1"))
        await wait_for(s, ended(again, OrderStatus.NEW), "NEW once REST answers")
        await s.broker.publish_health()
        text, _ = await pane(s, time.time())
        assert "\n  rest LIVE" in text, text


async def test_rest_comes_back_without_a_call_while_orders_are_held() -> None:
    """While "rest" is down orders are refused locally, so nothing the trader does would
    bring it back: the adapter's own pings find Binance again."""
    async with desk_built_session() as s:
        s.fake.stop_answering_rest()
        with pytest.raises(NotConnected):
            await s.broker.balances()
        assert link(s, "rest") is DOWN
        pings = s.fake.requests.count(("GET", "/api/v3/ping"))
        await wait_until(
            lambda: s.fake.requests.count(("GET", "/api/v3/ping")) > pings,
            "a ping while REST is out",
            BACK_WITHIN_S,
        )
        assert link(s, "rest") is DOWN  # the ping found nothing either
        s.fake.answer_rest()
        await wait_until(lambda: link(s, "rest") is LIVE, "rest LIVE again", BACK_WITHIN_S)
        assert s.broker.state is LIVE
        coid = await s.broker.place(req(s, qty="0.1"))
        await wait_for(s, ended(coid, OrderStatus.NEW), "NEW")


async def test_an_order_without_answer_shows_rest_down_and_is_asked_about_not_resent() -> None:
    async with desk_built_session() as s:  # requests time out after 2 s
        s.fake.stop_answering_rest(hang=True)  # held open, never answered
        request = req(s, qty="0.1")
        with pytest.raises(BrokerTimeout, match="do not send it again"):
            await s.broker.place(request)
        coid = request.client_order_id
        rest = s.broker.health_state.links["rest"]
        assert rest.state is DOWN, rest
        assert "no answer from Binance within 2 s" in rest.detail, rest.detail
        assert link(s, "user") is LIVE
        assert statuses(await s.events(), coid) == [OrderStatus.PENDING_NEW]

        s.fake.answer_rest()
        await wait_until(lambda: link(s, "rest") is LIVE, "rest LIVE again", BACK_WITHIN_S)
        # Its fate is asked of Binance, not guessed, and it was never sent again: Binance
        # never saw it, so once the unknown-order window is over it is REJECTED.
        await reaches(s, coid, OrderStatus.REJECTED, BACK_WITHIN_S + 10.0)
        assert statuses(await s.events(), coid) == [OrderStatus.PENDING_NEW, OrderStatus.REJECTED]
        assert s.fake.requests.count(POST) == 1, "the order was sent again"
        assert s.fake.orders == {}
        assert s.fake.requests.count(("GET", "/api/v3/order")) >= 1  # asked
        assert link(s, "rest") is LIVE


async def test_an_answer_is_an_answer_even_an_error_and_a_retried_read_no_outage() -> None:
    async with desk_built_session() as s:
        s.fake.reject_next_order()  # -2010: Binance answered
        with pytest.raises(OrderRejected):
            await s.broker.place(req(s, qty="0.1"))
        assert link(s, "rest") is LIVE
        # A read whose first try is cut (aiohttp's own re-send too) and whose retry is
        # answered: no outage shown.
        s.fake.reset_next_requests(2, after_processing=False)
        assert await s.broker.balances()
        assert s.fake.requests.count(("GET", "/api/v3/account")) >= 3
        assert link(s, "rest") is LIVE
        assert s.broker.health_state.errors["rest"] == 0

        s.fake.stop_answering_rest()
        with pytest.raises(NotConnected):
            await s.broker.balances()
        assert link(s, "rest") is DOWN
        s.fake.answer_rest()
        assert await s.broker.query_order("no-such-order") is None  # -2013: an answer
        assert link(s, "rest") is LIVE
        assert s.broker.health_state.errors["rest"] == 1


async def reaches(s: Session, coid: str, status: OrderStatus, timeout: float) -> None:
    """Poll the journal until the order has `status`, failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while status not in statuses(await s.events(), coid):
        if time.monotonic() > deadline:
            pytest.fail(f"{coid} never {status}: {statuses(await s.events(), coid)}")
        await asyncio.sleep(0.05)
