"""During Binance's ban, or a REST outage, the Log gets a line when the link changes,
not one a second.

Before (a chaos drill): the "rest" link's detail counted the ban down ("banned ... for
9 s more", "8 s more", ...), and each new detail was published with a message, so the
Log pane got a health line a second (18 for an 18 s ban), pushing the order and fill
lines off it. In a REST outage every failing call (the cancel's background asks and the
pings, alternating) named itself in the detail and made a line too.

Now the ban's detail says its deadline once (`until HH:MM:SS UTC`; the seconds left
are the `banned_s` metric), and a failure of the same outage met by another call moves
the link's detail quietly (the next heartbeat carries it, with no message): one line
when the ban or the outage begins, one when it ends.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import HealthEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import o1
from tests.support.waiting import until

LIVE, DEGRADED, DOWN = ConnectionState.LIVE, ConnectionState.DEGRADED, ConnectionState.DISCONNECTED
BAN_S = 3.5
UNTIL = re.compile(
    r"^rest: DEGRADED - Binance banned this IP \(HTTP 418\) until \d\d:\d\d:\d\d UTC"
)


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "100000"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await session.broker.place(o1())
        await until(
            lambda: session.broker._orders["o1"].status is OrderStatus.NEW, 5.0, "o1 working"
        )
        session.broker.recover_pause_s = (0.1, 0.2)  # (the cancel's asks: often)
        yield session


def rest(s: Session) -> ConnectionState:
    return s.broker.health_state.links["rest"].state


async def log_lines(s: Session, since: int) -> list[str]:
    """The broker's health lines the Log pane shows after entry `since` of the health
    stream: a health event makes one when its state or message differs from the last
    (`ui.model`'s heartbeat rule)."""
    lines: list[str] = []
    state, message = None, ""
    for entry in (await s.bus.read(s.bus.layout.health))[since:]:
        event = entry.event
        if not isinstance(event, HealthEvent) or not event.payload.component.startswith("broker"):
            continue
        health = event.payload
        if state is not None and health.state is state and health.message in ("", message):
            continue
        state, message = health.state, health.message or message
        lines.append(health.message)
    return lines


async def test_a_ban_is_said_once_with_its_deadline_then_its_end(s: Session) -> None:
    since = len(await s.bus.read(s.bus.layout.health))
    s.fake.ban(BAN_S)
    with pytest.raises(BrokerError, match="banned"):
        await s.broker.balances()
    await until(lambda: rest(s) is DEGRADED, 2.0, "the ban shown")
    await until(lambda: rest(s) is LIVE, BAN_S + 3.0, "the ban over")
    lines = [line for line in await log_lines(s, since) if line.startswith("rest:")]
    assert len(lines) == 2, lines
    assert UNTIL.match(lines[0]), lines[0]
    assert "s more" not in lines[0], lines[0]
    assert lines[1] == "rest: LIVE - the ban is over", lines
    # The seconds left are a metric, not words.
    assert "banned_s" in s.broker.health_state.extra


async def test_a_rest_outage_is_said_when_it_begins_and_when_it_ends(s: Session) -> None:
    since = len(await s.bus.read(s.bus.layout.health))
    s.fake.stop_answering_rest()
    with pytest.raises(BrokerError):
        await s.broker.cancel("o1")  # (asked again in the background, and pinged)
    pings = s.fake.requests.count(("GET", "/api/v3/ping"))
    asks = s.fake.requests.count(("GET", "/api/v3/order"))
    await until(
        lambda: (
            s.fake.requests.count(("GET", "/api/v3/ping")) >= pings + 2
            and s.fake.requests.count(("GET", "/api/v3/order")) >= asks + 2
        ),
        10.0,
        "pings and asks during the outage",
    )
    assert rest(s) is DOWN
    # The link says the last call that failed (the Health pane), quietly.
    detail = s.broker.health_state.links["rest"].detail
    assert "the connection to Binance broke" in detail, detail
    s.fake.answer_rest()
    await until(lambda: rest(s) is LIVE, 10.0, "rest back")
    lines = [line for line in await log_lines(s, since) if line.startswith("rest:")]
    assert len(lines) == 2, lines
    assert lines[0].startswith("rest: DISCONNECTED - cancel order ETHUSDT o1: "), lines
    assert lines[1] == "rest: LIVE - Binance answers again", lines
