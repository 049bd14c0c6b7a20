"""A cancel sent as Binance's REST goes out (connections cut, or no answer in time).

Binance cannot be asked about the order either, so the row stays PENDING_CANCEL (`?`
while the "rest" link reads DISCONNECTED). The trader is told what that means and what
to do next (the order may still be working; the desk asks Binance by itself once it
answers; cancel again then, or the kill switch), and the row resolves by itself once
Binance answers again: asked at once when the "rest" link is back, not at the next slow
ask (`recover_later_s`, 30 s) after the quick ones gave up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from silvertine_tui.brokers import BrokerError, BrokerTimeout, NotConnected
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

S = OrderStatus
QUERY = ("GET", "/api/v3/order")


async def updates(s: Session) -> list[tuple[OrderStatus, str]]:
    return [
        (e.payload.status, e.payload.reason)
        for e in await s.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
    ]


@asynccontextmanager
async def cancelled_unanswered(outage: str) -> AsyncIterator[tuple[Session, BrokerError]]:
    """o1 working; REST goes out (`outage`: connections cut, or held unanswered past
    the client's timeout); o1's cancel fails and o1 cannot be asked either."""
    async with binance_session(balances={"USDT": "100000"}, request_timeout_s=0.3) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        # Quick asks that give up before Binance is back; the slow ones every 30 s.
        s.broker.recover_tries = 2
        s.broker.recover_pause_s = (0.05, 0.05)
        assert s.broker.recover_later_s == 30.0
        await s.broker.place(o1())
        await until(lambda: s.broker._orders["o1"].status is S.NEW, 3.0, "NEW")
        s.fake.stop_answering_rest(hang=outage == "hang")
        with pytest.raises(BrokerError) as failed:
            await s.broker.cancel("o1")
        assert s.broker.rest_down
        assert s.broker.state is ConnectionState.DISCONNECTED  # the row reads PENDING_CANCEL?
        assert (await updates(s))[-1][0] is S.PENDING_CANCEL
        yield s, failed.value


@pytest.mark.parametrize("outage", ["cut", "hang"])
async def test_the_failed_cancel_says_the_order_may_work_and_what_to_do_next(
    outage: str,
) -> None:
    async with cancelled_unanswered(outage) as (s, error):
        assert isinstance(error, NotConnected | BrokerTimeout)  # (retryable, as it was)
        said = str(error)
        assert said.startswith("cancel of o1 at binance/spot: Binance did not confirm it (")
        assert "it may still be working at Binance" in said
        assert "shows PENDING_CANCEL until Binance answers again" in said
        assert "asks Binance for it by itself" in said
        assert "cancel it again" in said
        assert "kill switch" in said
        s.fake.answer_rest()


@pytest.mark.parametrize("outage", ["cut", "hang"])
async def test_the_pending_cancel_resolves_by_itself_once_rest_answers_again(
    outage: str,
) -> None:
    async with cancelled_unanswered(outage) as (s, _):
        # The quick asks give up while REST is out.
        await until(
            lambda: s.broker.health_state.errors["cancel_unresolved"] >= 1,
            10.0,
            "the quick asks to give up",
        )
        asked = s.fake.requests.count(QUERY)

        s.fake.answer_rest()
        await until(lambda: s.broker._orders["o1"].status is S.NEW, 6.0, "o1 working again")
        assert s.fake.requests.count(QUERY) > asked  # asked of Binance once it answered
        status, reason = (await updates(s))[-1]
        assert status is S.NEW
        assert "still working, cancel it again" in reason
        assert s.broker.state is ConnectionState.LIVE
        assert s.fake.order_by_client_id("o1").status == "NEW"

        # Cancelled again, it goes.
        await s.broker.cancel("o1")
        assert s.fake.order_by_client_id("o1").status == "CANCELED"
        await until(lambda: s.broker._orders["o1"].status is S.CANCELED, 3.0, "CANCELED")
