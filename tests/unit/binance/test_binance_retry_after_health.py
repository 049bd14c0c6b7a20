"""A 429's Retry-After shows in the health as Binance's 418 ban does.

While a Retry-After held every order back (each F9 refused "orders can go again in 9
s"), the Health pane read the broker and its "rest" link LIVE, with only `RateLimited 4`
among the errors; a ban showed DEGRADED with its deadline. Now a Retry-After of
`HELD_SHOWN_S` (2 s) or more sets the "rest" link DEGRADED, saying until when
(`held by Binance's rate limit until HH:MM:SS UTC`) and what it holds (orders refused,
cancels held and sent by themselves after, queries wait), once; LIVE again when it
ends. A shorter one is not shown (no DEGRADED/LIVE flapping). Shown, the hold is still
the REST client's: an order is refused saying when orders can go again, and a cancel is
held and goes out by itself (owed), as before, not refused as "order path down".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.brokers import RateLimited
from silvertine_tui.brokers.binance.rest import CancelHeld
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderStatus
from silvertine_tui.events import HealthEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

LIVE, DEGRADED = ConnectionState.LIVE, ConnectionState.DEGRADED
UNTIL = re.compile(r"^held by Binance's rate limit until \d\d:\d\d:\d\d UTC \(HTTP 429")
CANCEL = ("DELETE", "/api/v3/order")


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "100000"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await session.broker.place(o1())
        await until(
            lambda: session.broker._orders["o1"].status is OrderStatus.NEW, 5.0, "o1 working"
        )
        yield session


def another(coid: str) -> OrderRequest:
    return o1().model_copy(update={"client_order_id": coid})


def rest(s: Session) -> tuple[ConnectionState, str]:
    link = s.broker.health_state.links["rest"]
    return link.state, link.detail


async def rest_said(s: Session, since: int) -> list[str]:
    """The broker's health messages about its "rest" link published after entry
    `since` of the health stream, each as the Log pane has it: once, when it changes."""
    said: list[str] = []
    for entry in (await s.bus.read(s.bus.layout.health))[since:]:
        event = entry.event
        if not isinstance(event, HealthEvent) or not event.payload.component.startswith("broker"):
            continue
        message = event.payload.message
        if message.startswith("rest:") and (not said or said[-1] != message):
            said.append(message)
    return said


async def held_by_a_429(s: Session, retry_after: float) -> None:
    """An order answered 429 with `retry_after`: refused, Binance's Retry-After runs."""
    s.fake.throttle(requests=1, retry_after=retry_after, ban=30)
    with pytest.raises(RateLimited):
        await s.broker.place(another("o2"))


async def test_a_long_retry_after_shows_degraded_until_when_then_live(s: Session) -> None:
    since = len(await s.bus.read(s.bus.layout.health))
    await held_by_a_429(s, 3.0)
    await s.broker.publish_health()  # (the health beat, a second at most)
    state, detail = rest(s)
    assert state is DEGRADED, detail
    assert UNTIL.match(detail), detail
    assert "new orders and changes are refused until then" in detail, detail
    assert "cancels are held and go out by themselves then" in detail, detail
    assert "s more" not in detail, detail
    assert s.broker.state is DEGRADED
    # The hold is the REST client's, as before: an order is refused saying when orders
    # can go again (not "order path down"), and a cancel is held and owed.
    with pytest.raises(RateLimited, match="orders can go again in"):
        await s.broker.place(another("o3"))
    with pytest.raises(CancelHeld, match="goes out by itself"):
        await s.broker.cancel("o1")
    assert s.fake.requests.count(CANCEL) == 0
    # Over: LIVE again (the health loop looks every second), and the owed cancel went.
    await until(lambda: rest(s)[0] is LIVE, 5.0, "rest LIVE after the Retry-After")
    await until(
        lambda: s.fake.order_by_client_id("o1").status == "CANCELED", 3.0, "the owed cancel"
    )
    assert s.broker.state is LIVE
    said = await rest_said(s, since)
    assert len(said) == 2, said  # held once, over once: no countdown
    assert said[0].startswith("rest: DEGRADED - held by Binance's rate limit until "), said
    assert said[1].startswith("rest: LIVE"), said


async def test_a_short_retry_after_does_not_flap_the_link(s: Session) -> None:
    """A Retry-After of 1 s (under `HELD_SHOWN_S`): the link stays LIVE throughout and
    nothing is said (a guard on the threshold: DEGRADED then LIVE within a second was
    two Log lines for nothing the trader can act on)."""
    since = len(await s.bus.read(s.bus.layout.health))
    started = time.monotonic()
    await held_by_a_429(s, 1.0)
    while time.monotonic() - started < 1.5:  # (the whole Retry-After, and after)
        await s.broker.publish_health()
        assert rest(s)[0] is LIVE, rest(s)
        await asyncio.sleep(0.1)
    assert s.broker.rest.usage.rate_limited == 1
    assert await rest_said(s, since) == []
