"""TWS asked for its time: one round trip at a time, and a TWS that stops answering is
said in the health pane and refuses orders, until it answers again. Against the fake
TWS with the real ib_async client."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState as L
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk
from tests.support.waiting import until


async def test_two_settles_at_once_each_get_their_answer() -> None:
    """ib_async keeps one pending future for the time: a second request made while
    the first was on its way replaced it, and the first caller waited out its whole
    timeout (10 s by default; 1 s here) for an answer that had come."""
    async with FakeTws() as fake, desk(fake) as d:
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.gather(d.broker.settle(), d.broker.settle(), d.broker.settle())
        assert loop.time() - started < 0.5


async def test_a_tws_that_stops_answering_refuses_orders_until_it_answers_again() -> None:
    """A hung TWS keeps its socket open: the desk said LIVE for as long as it was hung
    (52 s in a drive, the quotes aging beside it). Asked its time every `watchdog_s`,
    a TWS with no answer within `answer_timeout_s` is DEGRADED on the api link, orders
    are refused before anything is journaled, and it is LIVE again once it answers."""
    async with FakeTws() as fake, desk(fake, watchdog_s=0.05, answer_timeout_s=0.2) as d:
        broker = d.broker
        fake.ignore_next("current_time", 10_000)  # TWS hangs
        await until(lambda: broker.health_state.links["api"].state is L.DEGRADED, 3.0)
        api = broker.health_state.links["api"]
        assert "TWS has not answered for 0.2 s" in api.detail
        assert broker.state is L.DEGRADED
        assert broker.health_state.errors["unanswered"] == 1  # once an outage
        journaled = len(await d.events())
        with pytest.raises(NotConnected, match=r"order path is down .*TWS has not answered"):
            await broker.place(d.request(limit="148.00"))
        assert len(await d.events()) == journaled  # nothing journaled, nothing sent
        fake.faults.ignored["current_time"] = 0  # TWS wakes
        await until(lambda: broker.health_state.links["api"].state is L.LIVE, 3.0)
        assert broker.health_state.links["api"].detail.endswith("answers again")
        assert broker.state is L.LIVE
        assert broker.health_state.errors["unanswered"] == 1
        assert await broker.place(d.request(limit="148.00"))


async def test_a_tws_that_answers_is_never_called_hung() -> None:
    async with FakeTws() as fake, desk(fake, watchdog_s=0.02, answer_timeout_s=0.5) as d:
        await asyncio.sleep(0.3)  # a dozen questions, each answered
        assert len(fake.requests_of(m.REQ_CURRENT_TIME)) >= 5  # it did ask
        assert d.broker.health_state.links["api"].state is L.LIVE
        assert d.broker.health_state.errors["unanswered"] == 0


async def test_cancels_still_go_to_a_tws_that_stopped_answering() -> None:
    """New orders are refused while TWS does not answer; cancels are not: a cancel that
    reaches a TWS late (acted on when it wakes) does no harm, and refused, the kill
    switch left every IB order working ("the order path is down ... nothing was
    sent" in a drive). Here TWS leaves only the time unanswered, so the cancels it
    gets are acted on at once."""
    async with FakeTws() as fake, desk(fake, watchdog_s=0.05, answer_timeout_s=0.2) as d:
        broker = d.broker
        first = await broker.place(d.request(limit="148.00"))
        second = await broker.place(d.request(limit="147.00"))
        await broker.settle()
        fake.ignore_next("current_time", 10_000)
        await until(lambda: broker.health_state.links["api"].state is L.DEGRADED, 3.0)
        with pytest.raises(NotConnected, match="order path is down"):
            await broker.modify(first, limit_price=Decimal("146.00"))  # a change is refused
        await broker.cancel(first)
        assert {o.ticket.order_ref for o in fake.orders if o.working} == {second}
        await broker.cancel_all()  # the global cancel (the kill switch's)
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        assert not [o for o in fake.orders if o.working]


async def test_the_round_trip_of_each_question_is_health_s_latency() -> None:
    """Health's `lat` read `-` on the IB desk for as long as it ran, though the watchdog
    asks TWS its time every `watchdog_s` (a trader's review): each answer's round trip
    is the broker's `rtt_ms` now; a question left unanswered, its wait."""
    async with FakeTws() as fake, desk(fake, watchdog_s=0.05, answer_timeout_s=0.3) as d:
        broker = d.broker
        await until(lambda: broker.health_state.rtt_ms is not None, 3.0)
        rtt = broker.health_state.rtt_ms
        assert rtt is not None
        assert 0 < rtt < 300
        # What Health reads: the broker's heartbeat on the bus carries it.
        async with asyncio.timeout(3.0):
            while not [h for h in await d.health() if h.metrics.get("rtt_ms") is not None]:  # noqa: ASYNC110 - the broker publishes on its own
                await asyncio.sleep(0.05)
        fake.ignore_next("current_time", 10_000)
        await until(lambda: broker.health_state.links["api"].state is L.DEGRADED, 3.0)
        waited = broker.health_state.rtt_ms
        assert waited is not None
        assert waited >= 290
