"""This host's clock 30 s off Binance's, so far that Binance refuses every signed request
with -1021 even after the adapter re-syncs (the fake: `set_clock_skew` with
`report_wrong_time`, `/time` telling this host's own time: a re-sync from it cures
nothing). A chaos drill found every order, cancel, query and reconcile failing while
the health pane read `rest LIVE`, "ClockOutOfSync 1" among the errors all it said; a
cancel so refused left its order PENDING_CANCEL ~40 s under "Binance did not confirm
it ... may still be working", though -1021 means Binance did nothing.

Now: an order so refused is REJECTED, saying it was NOT placed; a cancel so refused
shows the order working again at once, saying how far off the clock is and to fix it
(chrony/NTP); the "rest" link is DEGRADED with those words while it lasts (orders and
cancels refused before they are sent), and LIVE again once a signed request passes.
How far off: by Binance's own clock as its stream events carry it (`E`)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers.binance.errors import ClockOutOfSync
from silvertine_tui.brokers.errors import NotConnected
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

ORDER = ("POST", "/api/v3/order")
CANCEL = ("DELETE", "/api/v3/order")
QUERY = ("GET", "/api/v3/order")
TIME = ("GET", "/api/v3/time")
AHEAD = -30_000  # Binance's clock 30 s behind this host's: this host is ahead
BEHIND = 30_000


@asynccontextmanager
async def desk() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        s.broker.clock_probe_s = (0.05, 0.1)
        yield s


async def clock_off(s: Session, skew_ms: int) -> None:
    """Binance's clock `skew_ms` off this host's, its `/time` telling this host's time
    (a re-sync from it cures nothing); a print on the tape brings Binance's clock to
    the adapter (its trade event's `E`)."""
    s.fake.set_clock_skew(skew_ms)
    s.fake.report_wrong_time(-skew_ms)
    market = s.broker.market
    assert market is not None
    for stream in market.streams:
        await s.fake.wait_for_stream(stream, timeout=2.0)
    await s.fake.trade("ETHUSDT", D("2005"), D("1"))
    await until(
        lambda: market.last_trade("ETHUSDT.BINANCE") == D("2005"),
        5.0,
        "the print (and Binance's clock with it) heard on the market stream",
    )


def clock_fixed(s: Session) -> None:
    s.fake.set_clock_skew(0)
    s.fake.report_wrong_time(0)


async def updates_of(s: Session, coid: str) -> list[OrderUpdateEvent]:
    return [
        e
        for e in await s.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def rest_link(s: Session) -> tuple[ConnectionState, str]:
    link = s.broker.health_state.links["rest"]
    return link.state, link.detail


@pytest.mark.parametrize(
    ("skew_ms", "said"),
    [(AHEAD, "30 s ahead of Binance's"), (BEHIND, "30 s behind Binance's")],
)
async def test_an_order_refused_for_the_clock_is_rejected_as_not_placed(
    skew_ms: int, said: str
) -> None:
    async with desk() as s:
        await clock_off(s, skew_ms)
        sent = len(s.fake.requests)
        with pytest.raises(ClockOutOfSync) as caught:
            await s.broker.place(o1())
        message = str(caught.value)
        assert "o1 was NOT placed" in message
        assert f"this host's clock is {said}" in message
        assert "Binance did nothing with it" in message
        assert "chrony/NTP" in message
        assert s.fake.requests[sent:] == [ORDER, TIME, ORDER]
        assert s.fake.orders == {}
        [*_, last] = await updates_of(s, "o1")
        assert last.payload.status is OrderStatus.REJECTED
        assert "NOT placed" in last.payload.reason
        # The link says it, with what to do: not LIVE while nothing signed passes.
        state, detail = rest_link(s)
        assert state is ConnectionState.DEGRADED
        assert s.broker.state is ConnectionState.DEGRADED
        assert "Binance refuses this host's signed requests" in detail
        assert said in detail
        assert "chrony/NTP" in detail
        assert s.broker.health_state.errors["clock"] == 1


async def test_a_cancel_refused_for_the_clock_shows_the_order_working_at_once() -> None:
    async with desk() as s:
        await s.broker.place(o1())
        await s.driver.settle()
        await clock_off(s, AHEAD)
        sent = len(s.fake.requests)
        with pytest.raises(ClockOutOfSync) as caught:
            await s.broker.cancel("o1")
        message = str(caught.value)
        assert "cancel of o1 at binance/spot was NOT done" in message
        assert "this host's clock is 30 s ahead of Binance's" in message
        assert "the order is still working" in message
        assert "may still be working" not in message
        # Working again at once, with why and what to do (it read PENDING_CANCEL ~40 s).
        [*_, pending, last] = await updates_of(s, "o1")
        assert pending.payload.status is OrderStatus.PENDING_CANCEL
        assert last.payload.status is OrderStatus.NEW
        assert last.payload.reason.startswith(
            "cancel not sent: this host's clock is 30 s ahead of Binance's"
        )
        assert "fix this host's clock (chrony/NTP" in last.payload.reason
        # Binance did nothing: nothing is asked of it about the order, now or later.
        assert s.fake.requests[sent:] == [CANCEL, TIME, CANCEL]
        assert s.fake.order_by_client_id("o1").status == "NEW"
        assert s.broker._cancel_checks == set()


async def test_a_cancel_all_refused_for_the_clock_shows_every_order_working() -> None:
    async with desk() as s:
        await s.broker.place(o1())
        await s.driver.settle()
        await clock_off(s, AHEAD)
        with pytest.raises(ClockOutOfSync) as caught:
            await s.broker.cancel_all(reason="kill switch")
        assert "NOT done: Binance refuses this host's requests (-1021)" in str(caught.value)
        assert "30 s ahead of Binance's" in str(caught.value)
        [*_, last] = await updates_of(s, "o1")
        assert last.payload.status is OrderStatus.NEW
        assert "cancel not sent: this host's clock is 30 s ahead" in last.payload.reason


async def test_while_refused_nothing_is_sent_and_a_passing_request_ends_it() -> None:
    async with desk() as s:
        await s.broker.place(o1())
        await s.driver.settle()
        await clock_off(s, AHEAD)
        with pytest.raises(ClockOutOfSync):
            await s.broker.cancel("o1")
        assert rest_link(s)[0] is ConnectionState.DEGRADED
        # Orders and cancels are refused before they are sent, saying why.
        sent = [r for r in s.fake.requests if r in (ORDER, CANCEL)]
        with pytest.raises(NotConnected) as refused:
            await s.broker.place(o1().model_copy(update={"client_order_id": "o2"}))
        assert "Binance refuses this host's signed requests" in str(refused.value)
        with pytest.raises(NotConnected):
            await s.broker.cancel("o1")
        assert [r for r in s.fake.requests if r in (ORDER, CANCEL)] == sent
        # The clock fixed: a signed request of the adapter's own finds it, LIVE again.
        clock_fixed(s)
        await until(
            lambda: rest_link(s)[0] is ConnectionState.LIVE, 5.0, "the rest link LIVE again"
        )
        assert rest_link(s)[1] == "Binance accepts this host's clock"
        assert s.broker.state is ConnectionState.LIVE
        await s.broker.cancel("o1")
        assert s.fake.order_by_client_id("o1").status == "CANCELED"


async def test_a_reconcile_refused_for_the_clock_is_asked_again_once_it_passes() -> None:
    async with desk() as s:
        asked: list[float] = []

        async def reconcile_asked() -> None:
            asked.append(time.monotonic())

        s.broker.on_reconnect(reconcile_asked)
        await clock_off(s, BEHIND)
        with pytest.raises(ClockOutOfSync) as caught:
            await s.broker.reconcile()
        assert "30 s behind Binance's" in str(caught.value)
        assert asked == []
        clock_fixed(s)
        await until(lambda: len(asked) == 1, 5.0, "the reconcile asked again")
        assert rest_link(s)[0] is ConnectionState.LIVE
