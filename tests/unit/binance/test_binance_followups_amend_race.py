"""Another program amends one of the desk's orders at Binance while the desk's own
modify of it (an order amend keepPriority) is in flight: the desk tells the two apart.

The wire allows it. Our amend sends `newClientOrderId` = our client order id and the
quantity we asked; its executionReport (`x` REPLACED) says `c` our id and `q` that
quantity. Another program's amend (a second python-binance client on the same key,
sending no `newClientOrderId`, as the Binance app does) says `c` the random id Binance
gave the order and `q` its own quantity. An amend only lowers a venue order's quantity,
so a REPLACED report above the quantity the desk already holds for that venue order is
older than what the desk knows (the stream late behind our amend's answer).

Before: the other program's report, read while our amend was in flight, was journaled
as ours ("modify accepted: amended in place at Binance" at ITS quantity), and ours
after it as theirs ("amended at Binance, not by this desk: quantity 0.8 -> 0.6"). With
our answer first, the other program's older report put the quantity back up (0.6 ->
0.8, "not by this desk") and left the desk cancelling under the id Binance no longer
used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError, BrokerTimeout
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import OrderUpdateEvent
from tests.fakes.binance import FakeBinance, SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"
AMENDABLE = (SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),)
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
ACCEPTED = "modify accepted: amended in place at Binance (its place in the queue kept)"
ELSEWHERE = "amended at Binance, not by this desk: quantity 1 -> 0.8"


@pytest.fixture
async def s() -> AsyncIterator[tuple[Session, TradingEngine]]:
    """o1 (BUY 1.0 @ 1,990) working at Binance and in the journal; ETHUSDT amendable."""
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "100000"}) as session:
        await session.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(session.bus, [session.broker], RiskConfig())
        await engine.load_instruments()
        await session.broker.place(o1())
        await journaled(
            session,
            engine,
            lambda: "o1" in engine.oms.orders and engine.oms.orders["o1"].order.status is S.NEW,
        )
        yield session, engine


async def amend_elsewhere(fake: FakeBinance, new_qty: str, name: str | None) -> dict[str, Any]:
    """Another program amends o1 down to `new_qty`, sending `name` as newClientOrderId
    (None: none, and Binance gives the order a random new id)."""
    params = {"symbol": ETH, "newQty": new_qty, "origClientOrderId": "o1"}
    if name is not None:
        params["newClientOrderId"] = name
    async with binance_client(fake) as other:
        answer: dict[str, Any] = await other._put(
            "order/amend/keepPriority", signed=True, data=params
        )
    return dict(answer["amendedOrder"])


async def said(session: Session) -> list[tuple[OrderStatus, D | None, str]]:
    return [
        (e.payload.status, e.payload.quantity, e.payload.reason)
        for e in await session.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
    ]


@pytest.mark.parametrize("name", [None, "o1"])
async def test_an_amend_elsewhere_during_ours_is_not_our_modify_accepted(
    s: tuple[Session, TradingEngine], name: str | None
) -> None:
    """The other program amends o1 to 0.8 (its report late on the stream; with no
    newClientOrderId, or naming it o1 again), then ours to 0.6 goes, its answer slow:
    the other program's report arrives while ours waits for its answer. It is
    journaled as the other program's (0.8, "not by this desk"), the modify still
    pending; the answer as our modify accepted at 0.6; our report after it adds
    nothing. o1 is cancelled under our id at the end."""
    session, engine = s
    fake = session.fake
    at_binance = fake.order_by_client_id("o1")
    fake.reorder_next_reports(1000)  # the stream late: every report held from here
    theirs = await amend_elsewhere(fake, "0.8", name)
    fake.delay_next_replies(0.5)  # our amend acted on at once, answered late (in time)
    ours = asyncio.create_task(session.broker.modify("o1", quantity=D("0.6")))
    await until(lambda: at_binance.orig_qty == D("0.6"), 5.0, "our amend acted")
    assert at_binance.client_order_id == "o1"  # (ours named it o1)
    assert await fake.release_held_reports() == 1  # theirs (ours goes after its answer)
    await until(lambda: session.broker.user.events >= len(fake.sent_user_events), 5.0, "read")
    await session.driver.settle()
    assert not ours.done()
    status, quantity, reason = (await said(session))[-1]
    assert (status, quantity) == (S.PENDING_REPLACE, D("0.8")), reason
    if name is None:
        assert reason.startswith(f"{ELSEWHERE}; client order id now {theirs['clientOrderId']}")
    else:
        assert reason == ELSEWHERE
    await ours
    await until(lambda: session.broker.user.events >= len(fake.sent_user_events), 5.0, "read")
    await session.driver.settle()
    await asyncio.sleep(0.2)

    updates = await said(session)
    assert [u for u in updates if u[2].startswith("modify accepted")] == [
        (S.NEW, D("0.6"), ACCEPTED)
    ]
    assert updates[-1] == (S.NEW, D("0.6"), ACCEPTED)
    assert not [u for u in updates if "not by this desk: quantity 0.8" in u[2]]
    assert fake.requests.count(AMEND) == 2  # theirs and ours, once
    await journaled(session, engine, lambda: engine.oms.orders["o1"].order.quantity == D("0.6"))
    await session.broker.cancel("o1")
    assert fake.order_by_client_id("o1").status == "CANCELED"


async def test_an_amend_elsewhere_heard_after_our_answer_is_older_and_changes_nothing(
    s: tuple[Session, TradingEngine],
) -> None:
    """The other program amends o1 to 0.8, then ours to 0.6 goes and is answered, both
    reports still on their way: the journal says our modify accepted at 0.6. The
    reports then come (theirs, then ours): theirs is older than what the desk holds (an
    amend only lowers), ours is what the answer said: nothing more is journaled, the
    quantity is never put back to 0.8, and o1 is cancelled under our id (Binance's
    name for it after our amend)."""
    session, engine = s
    fake = session.fake
    fake.reorder_next_reports(1000)
    await amend_elsewhere(fake, "0.8", None)
    await session.broker.modify("o1", quantity=D("0.6"))
    await session.driver.settle()
    answered = await said(session)
    assert answered[-1] == (S.NEW, D("0.6"), ACCEPTED)

    assert await fake.release_held_reports() == 2
    await until(lambda: session.broker.user.events >= len(fake.sent_user_events), 5.0, "read")
    await session.driver.settle()
    await asyncio.sleep(0.2)

    assert await said(session) == answered
    await journaled(session, engine, lambda: engine.oms.orders["o1"].order.quantity == D("0.6"))
    await session.broker.cancel("o1")
    assert fake.order_by_client_id("o1").status == "CANCELED"


async def amend_race(theirs: int, ours: int, during: bool) -> None:
    """o1 BUY 1.0: another program amends it to `theirs` tenths (its report late), then
    the desk's modify asks `ours` tenths; the late report comes while ours waits for its
    answer (`during`) or after it."""
    step = D("0.1")
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "100000"}) as session:
        await session.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(session.bus, [session.broker], RiskConfig())
        await engine.load_instruments()
        await session.broker.place(o1())
        await journaled(session, engine, lambda: "o1" in engine.oms.orders)
        fake = session.fake
        at_binance = fake.order_by_client_id("o1")
        fake.reorder_next_reports(1000)
        await amend_elsewhere(fake, str(theirs * step), None)
        if during:
            fake.delay_next_replies(0.5)
        modify = asyncio.create_task(session.broker.modify("o1", quantity=ours * step))
        if during:
            await until(lambda: fake.requests.count(AMEND) == 2, 5.0, "our amend at Binance")
            await fake.release_held_reports()
            await until(
                lambda: session.broker.user.events >= len(fake.sent_user_events), 5.0, "read"
            )
        if ours > theirs:  # an increase over theirs: Binance refuses it (-2038)
            with pytest.raises(BrokerError, match="modify of o1 not done"):
                await modify
        elif ours == theirs:
            # Theirs left it at the quantity asked, under an id Binance gave it that the
            # desk may not know yet: ours changes nothing, and is taken once Binance,
            # asked, shows the order so ("being checked" meanwhile).
            with contextlib.suppress(BrokerTimeout):
                await modify
        else:
            await modify
        await fake.release_held_reports()
        await until(lambda: session.broker.user.events >= len(fake.sent_user_events), 5.0, "read")
        await session.driver.settle()
        final = at_binance.orig_qty
        assert final == min(theirs, ours) * step
        await journaled(
            session,
            engine,
            lambda: (
                (order := engine.oms.orders["o1"].order).quantity == final and order.status is S.NEW
            ),
        )
        await asyncio.sleep(0.3)  # (nothing more comes)

        updates = await said(session)
        accepted = [q for _, q, r in updates if r.startswith("modify accepted")]
        elsewhere = [q for _, q, r in updates if "not by this desk" in r]
        # Ours is said accepted once, at the quantity asked, iff Binance holds it there;
        # what another program did is said at its quantity, never at ours.
        assert accepted == ([ours * step] if ours <= theirs else [])
        assert set(elsewhere) <= {theirs * step}
        if ours > theirs:
            assert elsewhere == [theirs * step]
        assert updates[-1][0] is S.NEW


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(theirs=st.integers(1, 9), ours=st.integers(1, 9), during=st.booleans())
@example(theirs=8, ours=6, during=True)
@example(theirs=6, ours=6, during=False)
@example(theirs=5, ours=6, during=True)
def test_our_amend_and_another_programs_are_told_apart(
    theirs: int, ours: int, during: bool
) -> None:
    asyncio.run(amend_race(theirs, ours, during))
