"""Binance refusing this host's clock (-1021 after the re-sync): two follow-ups of a review.

A cancel (the kill switch's too) while the "rest" link read DEGRADED for the clock was
refused before it was sent until `_watch_clock`'s next ask, up to 10 s after the clock
was fixed, though Binance would have taken it. Now a cancel has Binance asked at once
(`_clock_asked`, one ask for all the cancels waiting): passed, the cancel goes; refused,
or no answer within `CLOCK_ASK_WAIT_S`, it is refused unsent, saying why.

A 418 ban (or a 429's Retry-After shown) that began while the clock was refused ended
with the link LIVE "the ban is over", orders going out to be refused -1021; now the
clock's words come back.

The watch's own asks are put off (`clock_probe_s` 30 s) so that what is seen is the
cancel's ask, not the watch's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError
from silvertine_tui.brokers.binance.broker import CLOCK_ASK_WAIT_S, CLOCK_DETAIL
from silvertine_tui.brokers.binance.errors import ClockOutOfSync
from silvertine_tui.brokers.errors import NotConnected
from silvertine_tui.domain import ConnectionState
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until
from tests.unit.binance.test_binance_clock import (
    AHEAD,
    CANCEL,
    ORDER,
    TIME,
    clock_fixed,
    clock_off,
    desk,
    rest_link,
)

LISTING = ("GET", "/api/v3/openOrders")
SWEEP = ("DELETE", "/api/v3/openOrders")
SLOW_WATCH = (30.0, 30.0)


def signed_since(s: Session, sent: int) -> list[tuple[str, str]]:
    """The requests this module looks at, sent since `sent` (others: tickers, pings)."""
    wanted = {LISTING, SWEEP, CANCEL, ORDER, TIME}
    return [r for r in s.fake.requests[sent:] if r in wanted]


async def refused_clock(s: Session) -> None:
    """o1 working, the clock off, a cancel of it refused -1021: the link says so."""
    s.broker.clock_probe_s = SLOW_WATCH
    await s.broker.place(o1())
    await s.driver.settle()
    await clock_off(s, AHEAD)
    with pytest.raises(ClockOutOfSync):
        await s.broker.cancel("o1")
    state, detail = rest_link(s)
    assert state is ConnectionState.DEGRADED
    assert detail.startswith(CLOCK_DETAIL)


async def test_a_cancel_goes_at_once_once_the_clock_is_fixed() -> None:
    async with desk() as s:
        await refused_clock(s)
        clock_fixed(s)  # chrony fixed it: the watch would ask in 30 s
        sent = len(s.fake.requests)
        await s.broker.cancel("o1")
        assert s.fake.order_by_client_id("o1").status == "CANCELED"
        # Asked once (the open orders of the first symbol), then the cancel itself.
        assert signed_since(s, sent) == [LISTING, CANCEL]
        assert rest_link(s) == (ConnectionState.LIVE, "Binance accepts this host's clock")
        assert not s.broker.clock_refused


async def test_the_kill_switch_cancel_all_goes_once_the_clock_is_fixed() -> None:
    async with desk() as s:
        await refused_clock(s)
        clock_fixed(s)
        cancelled = await s.broker.cancel_all(reason="kill switch")
        assert cancelled == ["o1"]
        assert s.fake.order_by_client_id("o1").status == "CANCELED"
        assert rest_link(s)[0] is ConnectionState.LIVE


async def test_a_cancel_still_refused_for_the_clock_is_not_sent_and_says_why() -> None:
    async with desk() as s:
        await refused_clock(s)
        sent = len(s.fake.requests)
        with pytest.raises(NotConnected) as refused:
            await s.broker.cancel("o1")
        assert "rest DEGRADED: Binance refuses this host's signed requests" in str(refused.value)
        assert "30 s ahead of Binance's" in str(refused.value)
        # Asked (refused, re-synced, refused again); the cancel itself never went.
        assert signed_since(s, sent) == [LISTING, TIME, LISTING]
        assert s.fake.order_by_client_id("o1").status == "NEW"
        state, detail = rest_link(s)
        assert state is ConnectionState.DEGRADED
        assert detail.startswith(CLOCK_DETAIL)
        assert "and at once by a cancel" in detail
        assert s.broker.health_state.errors["clock"] == 1  # (one spell)
        # The kill switch's cancel all: refused unsent as well, saying why.
        sent = len(s.fake.requests)
        with pytest.raises(NotConnected):
            await s.broker.cancel_all(reason="kill switch")
        assert SWEEP not in signed_since(s, sent)
        assert CANCEL not in signed_since(s, sent)


async def test_cancels_at_once_share_one_ask() -> None:
    async with desk() as s:
        s.broker.clock_probe_s = SLOW_WATCH
        for coid in ("o1", "o2", "o3"):
            await s.broker.place(o1().model_copy(update={"client_order_id": coid}))
        await s.driver.settle()
        await clock_off(s, AHEAD)
        with pytest.raises(ClockOutOfSync):
            await s.broker.cancel("o1")
        clock_fixed(s)
        sent = len(s.fake.requests)
        await asyncio.gather(*(s.broker.cancel(c) for c in ("o1", "o2", "o3")))
        assert [s.fake.order_by_client_id(c).status for c in ("o1", "o2", "o3")] == ["CANCELED"] * 3
        assert signed_since(s, sent) == [LISTING, CANCEL, CANCEL, CANCEL]


@asynccontextmanager
async def patient_desk() -> AsyncIterator[Session]:
    """`desk()`, the REST client waiting 10 s for an answer (not 1 s): the cancel's
    wait on its ask (`CLOCK_ASK_WAIT_S`) ends first."""
    async with binance_session(balances={"USDT": "100000"}, request_timeout_s=10.0) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield s


async def test_an_ask_not_answered_in_time_refuses_the_cancel_unsent() -> None:
    async with patient_desk() as s:
        await refused_clock(s)
        clock_fixed(s)
        # Binance slow to list (the ask): answered after the cancel stopped waiting.
        s.fake.slow_replies(*LISTING, CLOCK_ASK_WAIT_S + 2.0)
        sent = len(s.fake.requests)
        started = time.monotonic()
        with pytest.raises(NotConnected) as refused:
            await s.broker.cancel("o1")
        took = time.monotonic() - started
        assert "rest DEGRADED: Binance refuses this host's signed requests" in str(refused.value)
        assert CLOCK_ASK_WAIT_S - 0.1 <= took <= CLOCK_ASK_WAIT_S + 1.0
        assert signed_since(s, sent) == [LISTING]
        assert s.fake.order_by_client_id("o1").status == "NEW"
        # The ask goes on: its answer (passed) sets the link LIVE, and a cancel goes.
        s.fake.slow_replies(*LISTING, None)
        await until(lambda: rest_link(s)[0] is ConnectionState.LIVE, 5.0, "the late answer heard")
        assert rest_link(s)[1] == "Binance accepts this host's clock"
        await s.broker.cancel("o1")
        assert s.fake.order_by_client_id("o1").status == "CANCELED"


async def test_rest_back_while_the_clock_is_refused_says_the_clock_again() -> None:
    async with desk() as s:
        await refused_clock(s)
        s.fake.stop_answering_rest()
        with pytest.raises(BrokerError):
            await s.broker.balances()
        await until(lambda: s.broker.rest_down, 3.0, "rest DISCONNECTED")
        s.fake.answer_rest()  # (its pings find Binance again)
        await until(lambda: not s.broker.rest_down, 5.0, "rest back")
        state, detail = rest_link(s)
        assert state is ConnectionState.DEGRADED, detail
        assert detail.startswith(CLOCK_DETAIL)
        sent = len(s.fake.requests)
        with pytest.raises(NotConnected):
            await s.broker.place(o1().model_copy(update={"client_order_id": "o2"}))
        assert ORDER not in signed_since(s, sent)


async def test_a_ban_over_while_the_clock_is_refused_says_the_clock_again() -> None:
    async with desk() as s:
        s.broker.clock_probe_s = (5.0, 5.0)  # (no ask between the ban's end and the look)
        await clock_off(s, AHEAD)
        with pytest.raises(BrokerError):
            await s.broker.balances()  # signed: -1021 -> DEGRADED for the clock
        await until(lambda: s.broker.clock_refused, 2.0, "clock refused")
        s.fake.ban(1.0)
        with pytest.raises(BrokerError):
            await s.broker.balances()
        await until(lambda: "banned" in rest_link(s)[1], 3.0, "ban shown")
        await until(lambda: "banned" not in rest_link(s)[1], 4.0, "ban over")
        state, detail = rest_link(s)
        assert state is ConnectionState.DEGRADED, detail
        assert detail.startswith(CLOCK_DETAIL)
        assert "30 s ahead of Binance's" in detail
        # Orders are refused unsent as before the ban (it let them go to Binance).
        sent = len(s.fake.requests)
        with pytest.raises(NotConnected) as refused:
            await s.broker.place(o1())
        assert "Binance refuses this host's signed requests" in str(refused.value)
        assert ORDER not in signed_since(s, sent)
        # The clock fixed: a cancel all's ask (none working here) sets it LIVE.
        clock_fixed(s)
        assert await s.broker.cancel_all(reason="kill switch") == []
        assert rest_link(s) == (ConnectionState.LIVE, "Binance accepts this host's clock")


# -- the invariant: never LIVE while Binance is shown refusing this host's clock ---------

STEPS = (
    "clock_refused",
    "clock_accepted",
    "ban",
    "ban_over",
    "held",
    "held_over",
    "unreachable",
    "answered",
    "beat",
)


async def _step(s: Session, step: str) -> None:
    """One thing the REST client tells the adapter (its `watch`), or a health beat
    (`publish_health` looks at the 418/429 deadlines the client keeps)."""
    broker, usage = s.broker, s.broker.rest.usage
    now = time.time_ns()
    match step:
        case "clock_refused":
            refused = ClockOutOfSync(
                "signed: -1021", clock="this host's clock is 30 s ahead of Binance's"
            )
            await broker.rest_clock_refused(refused)
        case "clock_accepted":
            await broker.rest_clock_accepted()
        case "ban":
            usage.banned_until_ns = now + 60 * 1_000_000_000
            await broker.publish_health()
        case "ban_over":
            usage.banned_until_ns = 0
            await broker.publish_health()
        case "held":
            usage.retry_not_before_ns = now + 30 * 1_000_000_000
            await broker.publish_health()
        case "held_over":
            usage.retry_not_before_ns = 0
            await broker.publish_health()
        case "unreachable":
            await broker.rest_unreachable(NotConnected("open orders ETHUSDT: connection reset"))
        case "answered":
            await broker.rest_answered()
        case "beat":
            await broker.publish_health()


def _never_live_while_refused(s: Session, done: list[str]) -> None:
    state, detail = rest_link(s)
    if s.broker.clock_refused:
        assert state is not ConnectionState.LIVE, (done, detail)
    else:
        assert not detail.startswith(CLOCK_DETAIL), (done, detail)


async def _link_walk(steps: list[str]) -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        s.broker.clock_probe_s = SLOW_WATCH  # (the watch's asks would move it too)
        done: list[str] = []
        for step in steps:
            await _step(s, step)
            done.append(step)
            _never_live_while_refused(s, done)
        await asyncio.sleep(0.3)  # (a ping finding Binance after "unreachable")
        _never_live_while_refused(s, done)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(STEPS), min_size=1, max_size=8))
@example(["clock_refused", "ban", "ban_over"])  # (the review's item 5)
@example(["clock_refused", "ban", "held", "ban_over", "held_over"])
@example(["clock_refused", "unreachable", "answered"])
@example(["clock_refused", "ban", "clock_accepted", "ban_over"])
def test_the_rest_link_is_never_live_while_the_clock_is_refused(steps: list[str]) -> None:
    asyncio.run(_link_walk(steps))
