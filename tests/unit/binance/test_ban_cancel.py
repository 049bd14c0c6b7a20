"""A cancel, a cancel all and the kill switch during Binance's 418 ban (this IP banned
for too many requests: minutes to days).

Binance does nothing with a request it answers 418, and the adapter sends nothing
until the ban ends. The engine's report read a ban as it reads a 429's Retry-After
(`RateLimited`, not retryable: "the rate limit holds its cancel: it goes out by itself
in N s"), and the adapter said the order "may still be working" and left it
PENDING_CANCEL until Binance answered: neither is what happens. The cancel was NOT
sent and nothing sends it when the ban ends (a cancel going out by itself hours later
would surprise): the trader reads that, that the order works, until when the ban
runs, and what to do (cancel again then, or in Binance's web site or app); the order
shows working at once, and nothing is sent after the ban.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.brokers import NotConnected, RateLimited
from silvertine_tui.brokers.binance.errors import Banned
from silvertine_tui.brokers.binance.rest import CancelHeld
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import cancels
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

S = OrderStatus
CANCEL = ("DELETE", "/api/v3/order")
SWEEP = ("DELETE", "/api/v3/openOrders")
BAN_S = 2.5
UNTIL = re.compile(r"until \d\d:\d\d:\d\d UTC \(\d+ s more\)")


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "100000"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield session


async def updates(s: Session, coid: str) -> list[tuple[OrderStatus, str]]:
    return [
        (e.payload.status, e.payload.reason)
        for e in await s.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


async def working_o1(s: Session) -> TradingEngine:
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    await s.broker.place(o1())
    await journaled(
        s,
        engine,
        lambda: "o1" in engine.oms.orders and engine.oms.orders["o1"].order.status is S.NEW,
    )
    return engine


async def nothing_sent_after_the_ban(s: Session) -> None:
    """The ban runs out; no cancel goes out by itself then: o1 works at Binance."""
    sent = len(s.fake.requests)
    await asyncio.sleep(BAN_S + 1.0)
    after = s.fake.requests[sent:]
    assert CANCEL not in after
    assert SWEEP not in after
    assert s.fake.order_by_client_id("o1").status == "NEW"


async def test_a_cancel_met_by_a_ban_says_not_sent_the_order_works_until_when_and_what_to_do(
    s: Session,
) -> None:
    engine = await working_o1(s)
    s.fake.ban(BAN_S)  # another program on this IP got it banned
    with pytest.raises(Banned) as caught:
        await s.broker.cancel("o1")
    said = str(caught.value)
    assert said.startswith("cancel of o1 at binance/spot was NOT sent: Binance has banned this IP")
    assert UNTIL.search(said), said
    assert "the order is still working" in said
    assert "nothing is sent by itself after" in said
    assert "cancel it again after" in said
    assert "Binance's web site or app" in said
    assert "goes out by itself" not in said
    assert "may still be working" not in said
    assert not caught.value.retryable
    assert not caught.value.owed
    # Shown working at once, not PENDING_CANCEL until Binance answers.
    status, reason = (await updates(s, "o1"))[-1]
    assert status is S.NEW
    assert reason.startswith("cancel not sent: ")
    await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
    # The "rest" link says the ban now; a second cancel is refused before it is journaled.
    rest = s.broker.health_state.links["rest"]
    assert "banned this IP" in rest.detail
    assert "none is sent by itself after" in rest.detail
    journal = len(await s.events())
    with pytest.raises(NotConnected, match="nothing is kept to send later"):
        await s.broker.cancel("o1")
    assert len(await s.events()) == journal
    await nothing_sent_after_the_ban(s)
    # Once the ban is over a cancel goes as ever.
    await until(lambda: s.broker.rest.usage.banned_s() == 0, 2.0, "the ban over")
    await s.broker.publish_health()
    await s.broker.cancel("o1")
    assert s.fake.order_by_client_id("o1").status == "CANCELED"


async def test_the_cancel_all_met_by_a_ban_says_so_and_restores_its_orders(s: Session) -> None:
    await working_o1(s)
    s.fake.ban(BAN_S)
    with pytest.raises(Banned) as caught:
        await s.broker.cancel_all()
    said = str(caught.value)
    assert "NOT sent: Binance has banned this IP" in said
    assert UNTIL.search(said), said
    assert "the cancel all of ETHUSDT was not sent and their orders are still working" in said
    assert "nothing is sent by itself" in said
    assert "Binance's web site or app" in said
    assert "goes out by itself" not in said
    assert (await updates(s, "o1"))[-1][0] is S.NEW
    await nothing_sent_after_the_ban(s)


@pytest.mark.parametrize("how", ["kill", "cancel_all", "one_instrument"])
async def test_the_kill_switch_met_by_a_ban_reports_at_once_that_nothing_goes_by_itself(
    s: Session, how: str
) -> None:
    engine = await working_o1(s)
    s.fake.ban(BAN_S)
    sent = len(s.fake.requests)
    started = time.monotonic()
    if how == "kill":
        report = (await engine.kill("drill")).cancels
    elif how == "cancel_all":
        report = await engine.cancel_all()
    else:
        report = await engine.cancel_all(instrument="ETHUSDT.BINANCE")
    assert time.monotonic() - started < 1.5, "the report was retried or waited"
    assert not report.ok
    assert not report.held
    why = report.still_working["o1"]
    assert "goes out by itself" not in why
    assert "NOT sent" in why
    assert UNTIL.search(why), why
    assert "nothing is sent by itself after" in why
    assert "cancel it again after" in why
    assert "web site or app" in why
    assert "goes out by itself" not in report.summary()
    # Nothing was retried against the ban: one request met it, the rest were refused here.
    assert s.fake.requests[sent:].count(CANCEL) + s.fake.requests[sent:].count(SWEEP) <= 1
    await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
    await nothing_sent_after_the_ban(s)


def test_a_ban_is_not_a_held_cancel_to_the_engine() -> None:
    """The engine's words follow the error's kind: a ban's `Banned` is neither retried
    nor owed; a 429's `CancelHeld` is owed; a plain `RateLimited` is retried."""
    ban = Banned("banned", retry_after=120)
    held = CancelHeld("held", retry_after=3)
    plain = RateLimited("pacing", retry_after=1)
    assert (cancels._held(ban), cancels._barred(ban), cancels._final(ban)) == (None, 120, True)
    assert (cancels._held(held), cancels._barred(held), cancels._final(held)) == (3, None, True)
    assert (cancels._held(plain), cancels._barred(plain), cancels._final(plain)) == (
        None,
        None,
        False,
    )
