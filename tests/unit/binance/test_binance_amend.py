"""A smaller quantity alone, at Binance, is an order amend keepPriority: the order keeps
its venue id, its client order id and its place in the queue (the real python-binance
client against the fake Binance, on a symbol whose exchangeInfo says `amendAllowed`).

Before, every modify at Binance went as a cancelReplace: BUY 1.0 @ 1,990 cut to 0.6
was cancelled and placed again as a new venue order, behind every order already at
1,990 (a same-price order placed after it filled first), and a triggered stop's cut was
refused ("places the order anew") while the market was through its stop.

Now `BinanceBroker._amend` sends `PUT /api/v3/order/amend/keepPriority` (`newQty` the
venue order's own quantity, `newClientOrderId` ours): the journal gets the modify's
answer as the desk's other modifies ("modify accepted", the status back from
PENDING_REPLACE, the new quantity), and a refused amend leaves the order as it was,
said (`OrderRejected`). Anything else is still a cancelReplace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError, BrokerTimeout, OrderRejected
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.events import EventBase, HealthEvent, ModifyRequestEvent, OrderUpdateEvent
from tests.fakes.binance import SymbolSpec
from tests.fakes.binance.exchange import Order
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

S = OrderStatus
ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"
AMENDABLE = (SymbolSpec(ETH, "ETH", "USDT", amend_allowed=True),)
AMEND = ("PUT", "/api/v3/order/amend/keepPriority")
REPLACE = ("POST", "/api/v3/order/cancelReplace")
ACCEPTED = "modify accepted: amended in place at Binance (its place in the queue kept)"


def updates(events: list[EventBase], coid: str) -> list[OrderUpdate]:
    return [
        e.payload
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def venue(s: Session, coid: str) -> Order:
    """The newest venue order under `coid` (a replace's replacement)."""
    return max(
        (o for o in s.fake.orders.values() if o.client_order_id == coid), key=lambda o: o.order_id
    )


def buy(coid: str, quantity: str = "1.0", price: str = "1990") -> OrderRequest:
    return o1(price).model_copy(update={"client_order_id": coid, "quantity": D(quantity)})


@pytest.fixture
async def s() -> AsyncIterator[tuple[Session, TradingEngine]]:
    """10,000 USDT and 2 ETH; the book 1,980 / 2,001, the last trade 2,000."""
    async with binance_session(
        symbols=AMENDABLE, balances={"USDT": "10000", "ETH": "2"}
    ) as session:
        await session.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        await session.fake.trade(ETH, "2000", "0.1")
        engine = TradingEngine(session.bus, [session.broker], RiskConfig())
        await engine.load_instruments()
        yield session, engine


async def working(s: Session, engine: TradingEngine, coid: str) -> int:
    """Placed and NEW in the journal; its venue order id."""
    await journaled(
        s,
        engine,
        lambda: coid in engine.oms.orders and engine.oms.orders[coid].order.status is S.NEW,
    )
    return venue(s, coid).order_id


async def test_a_smaller_quantity_is_amended_in_place(
    s: tuple[Session, TradingEngine],
) -> None:
    """BUY 1.0 @ 1,990 cut to 0.6: one PUT amend, no cancelReplace; the same venue
    order (id, client order id) now 0.6, what it held beyond that freed; the journal
    PENDING_REPLACE, then NEW at 0.6 with the modify's answer."""
    session, engine = s
    await session.broker.place(buy("o1"))
    venue_id = await working(session, engine, "o1")
    assert session.fake.balances["USDT"] == (D("8010"), D("1990"))

    await session.broker.modify("o1", quantity=D("0.6"))
    await session.driver.settle()

    assert session.fake.requests.count(AMEND) == 1
    assert REPLACE not in session.fake.requests
    at_binance = venue(session, "o1")
    assert (at_binance.order_id, at_binance.orig_qty, at_binance.status) == (
        venue_id,
        D("0.6"),
        "NEW",
    )
    assert session.fake.balances["USDT"] == (D("8806"), D("1194"))
    events = await session.events()
    assert any(isinstance(e, ModifyRequestEvent) for e in events)
    said = [(u.status, u.quantity, u.venue_order_id, u.reason) for u in updates(events, "o1")]
    assert said[-2:] == [
        (S.PENDING_REPLACE, None, None, ""),
        (S.NEW, D("0.6"), str(venue_id), ACCEPTED),
    ]
    await journaled(session, engine, lambda: engine.oms.orders["o1"].order.quantity == D("0.6"))
    order = engine.oms.orders["o1"].order
    assert (order.status, order.venue_order_id, order.retired_venue_ids) == (
        S.NEW,
        str(venue_id),
        set(),
    )


async def test_the_amended_order_keeps_its_place_in_the_queue(
    s: tuple[Session, TradingEngine],
) -> None:
    """o1 BUY 1.0 @ 1,990, then o2 BUY 1.0 @ 1,990; o1 cut to 0.6. A sell of 0.6 at
    1,990 fills o1, ahead in the queue as before; o2 waits. (A cancelReplace put o1's
    replacement behind o2: o2 filled first.)"""
    session, engine = s
    await session.broker.place(buy("o1"))
    await working(session, engine, "o1")
    await session.broker.place(buy("o2"))
    await working(session, engine, "o2")

    await session.broker.modify("o1", quantity=D("0.6"))
    await session.fake.trade(ETH, "1990", "0.6")
    await session.driver.settle()

    first, second = venue(session, "o1"), venue(session, "o2")
    assert (first.status, first.executed_qty) == ("FILLED", D("0.6"))
    assert (second.status, second.executed_qty) == ("NEW", D(0))
    await journaled(
        session,
        engine,
        lambda: (
            engine.oms.orders["o1"].order.status is S.FILLED
            and engine.oms.orders["o1"].order.filled_qty == D("0.6")
        ),
    )


async def test_a_partly_filled_order_replaced_before_is_amended_to_its_total(
    s: tuple[Session, TradingEngine],
) -> None:
    """BUY 1.0: 0.4 fills, the price moves (a cancelReplace: 0.6 more under a new venue
    order), then the order is cut to 0.8 in all: the venue order goes to 0.4 (0.8 less
    the 0.4 filled under the one it replaced), the journal to 0.8, 0.4 of it working."""
    session, engine = s
    await session.broker.place(buy("o1"))
    first = await working(session, engine, "o1")
    await session.fake.fill(first, qty=D("0.4"))
    await journaled(session, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
    await session.broker.modify("o1", limit_price=D("1991"))
    second = venue(session, "o1").order_id
    assert second != first

    await session.broker.modify("o1", quantity=D("0.8"))
    await session.driver.settle()

    at_binance = venue(session, "o1")
    assert (at_binance.order_id, at_binance.orig_qty) == (second, D("0.4"))
    assert session.fake.requests.count(AMEND) == 1
    await journaled(
        session,
        engine,
        lambda: (
            engine.oms.orders["o1"].order.quantity == D("0.8")
            and engine.oms.orders["o1"].order.status is S.PARTIALLY_FILLED
        ),
    )
    assert updates(await session.events(), "o1")[-1].reason == ACCEPTED


async def test_a_refused_amend_leaves_the_order_working_and_says_why(
    s: tuple[Session, TradingEngine],
) -> None:
    """Binance refuses the amend (-2038): the order works at Binance as it was, the
    journal's status goes back from PENDING_REPLACE with the reason, and the modify
    raises `OrderRejected` saying so."""
    session, engine = s
    await session.broker.place(buy("o1"))
    venue_id = await working(session, engine, "o1")
    session.fake.reject_next_amend(-2038, "This action is disabled on this account.")

    with pytest.raises(OrderRejected) as refused:
        await session.broker.modify("o1", quantity=D("0.6"))
    await session.driver.settle()

    assert refused.value.code == -2038
    assert str(refused.value) == (
        "modify of o1 not done: amend ETHUSDT o1 to 0.6: Binance refused the amend (code "
        "-2038: This action is disabled on this account.); it changed nothing. The order "
        "works unchanged (quantity 1.0)."
    )
    at_binance = venue(session, "o1")
    assert (at_binance.order_id, at_binance.orig_qty, at_binance.status) == (
        venue_id,
        D("1.0"),
        "NEW",
    )
    last = updates(await session.events(), "o1")[-1]
    assert (last.status, last.quantity) == (S.NEW, None)
    assert last.reason.startswith("modify failed: amend ETHUSDT o1 to 0.6")
    await journaled(session, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
    assert engine.oms.orders["o1"].order.quantity == D("1.0")


async def test_a_fill_racing_the_amend_is_counted_and_can_end_the_order(
    s: tuple[Session, TradingEngine],
) -> None:
    """Binance fills more of the order just before the amend: 0.3 of BUY 1.0 cut to
    0.6, the amend caps it (0.3 left); 0.7 of o2 cut to 0.6, nothing is left: Binance
    ends it (EXPIRED), and the journal has its fills and its end. Never more than the
    quantity asked (or what had filled) can fill."""
    session, engine = s
    await session.broker.place(buy("o1"))
    await working(session, engine, "o1")
    session.fake.race_next_amend("0.3")
    await session.broker.modify("o1", quantity=D("0.6"))
    await session.driver.settle()
    first = venue(session, "o1")
    assert (first.orig_qty, first.executed_qty, first.status) == (
        D("0.6"),
        D("0.3"),
        "PARTIALLY_FILLED",
    )
    await journaled(
        session,
        engine,
        lambda: (
            (order := engine.oms.orders["o1"].order).quantity == D("0.6")
            and order.filled_qty == D("0.3")
            and order.status is S.PARTIALLY_FILLED
        ),
    )

    await session.broker.place(buy("o2"))
    await working(session, engine, "o2")
    session.fake.race_next_amend("0.7")
    await session.broker.modify("o2", quantity=D("0.6"))
    await session.driver.settle()
    second = venue(session, "o2")
    assert (second.executed_qty, second.status) == (D("0.7"), "EXPIRED")
    await journaled(
        session,
        engine,
        lambda: (
            (order := engine.oms.orders["o2"].order).status is S.EXPIRED
            and order.filled_qty == D("0.7")
        ),
    )


async def test_a_lost_answer_is_settled_by_the_report(s: tuple[Session, TradingEngine]) -> None:
    """The amend's connection is cut after Binance took it (and aiohttp's one silent
    re-send of the PUT too): `BrokerTimeout`, the order PENDING_REPLACE, then the
    executionReport (REPLACED) takes it: NEW at 0.6."""
    session, engine = s
    await session.broker.place(buy("o1"))
    venue_id = await working(session, engine, "o1")
    session.fake.reset_next_requests(2, path=AMEND[1])

    with pytest.raises(BrokerTimeout):
        await session.broker.modify("o1", quantity=D("0.6"))
    await session.driver.settle()
    await until(lambda: "o1" not in session.broker._replace_checks, 5.0, "the check to end")

    last = updates(await session.events(), "o1")[-1]
    assert (last.status, last.quantity, last.venue_order_id) == (S.NEW, D("0.6"), str(venue_id))
    assert venue(session, "o1").orig_qty == D("0.6")


async def test_a_lost_answer_binance_never_took_goes_back(
    s: tuple[Session, TradingEngine],
) -> None:
    """The amend's connection is cut before Binance acted on it: asked once the
    receive window is over, the order is at its old quantity; the journal goes back to
    NEW with why. Meanwhile a second change is refused, nothing sent."""
    session, engine = s
    session.broker.unknown_order_window_s = 1.5
    await session.broker.place(buy("o1"))
    await working(session, engine, "o1")
    session.fake.reset_next_requests(2, after_processing=False, path=AMEND[1])

    with pytest.raises(BrokerTimeout):
        await session.broker.modify("o1", quantity=D("0.6"))
    await until(lambda: session.broker.state is ConnectionState.LIVE, 5.0, "REST back")
    with pytest.raises(BrokerError, match="got no answer and Binance is being asked"):
        await session.broker.modify("o1", quantity=D("0.5"))
    await until(lambda: "o1" not in session.broker._replace_checks, 5.0, "the check to end")

    last = updates(await session.events(), "o1")[-1]
    assert last.status is S.NEW
    assert last.reason.endswith("Binance, asked, did not amend it: the order works unchanged")
    assert venue(session, "o1").orig_qty == D("1.0")
    assert session.fake.requests.count(AMEND) == 2  # (aiohttp's re-send)


async def test_a_cut_connection_resent_by_aiohttp_is_the_amend_taken(
    s: tuple[Session, TradingEngine],
) -> None:
    """The amend's connection is cut after Binance took it; aiohttp sends the PUT again
    (idempotent, it says), and Binance refuses that one: "would change no state". Read
    as what it is, the amend taken: no failure said, the journal NEW at 0.6."""
    session, engine = s
    await session.broker.place(buy("o1"))
    venue_id = await working(session, engine, "o1")
    session.fake.reset_next_requests(1, path=AMEND[1])

    await session.broker.modify("o1", quantity=D("0.6"))
    await session.driver.settle()

    assert session.fake.requests.count(AMEND) == 2
    said = [(u.status, u.quantity, u.reason) for u in updates(await session.events(), "o1")]
    assert said[-1] == (S.NEW, D("0.6"), ACCEPTED)
    assert not [r for _, _, r in said if r.startswith("modify failed")]
    assert venue(session, "o1").order_id == venue_id


async def test_a_triggered_stop_is_cut_in_place_and_a_price_change_still_refused(
    s: tuple[Session, TradingEngine],
) -> None:
    """SELL STOP_LIMIT 0.5 stop 1,995 limit 1,990, triggered by a trade at 1,995 (the
    last trade through its stop). Its Price moved: refused, nothing sent (its
    replacement would be a new stop Binance refuses after cancelling it). Its Qty cut
    to 0.3: amended in place, still the triggered venue order."""
    session, engine = s
    request = OrderRequest(
        client_order_id="stp",
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        quantity=D("0.5"),
        stop_price=D(1995),
        limit_price=D(1990),
    )
    await session.broker.place(request)
    venue_id = await working(session, engine, "stp")
    await session.fake.trade(ETH, "1995", "0.1")
    await journaled(session, engine, lambda: engine.oms.orders["stp"].order.triggered)

    with pytest.raises(OrderRejected) as refused:
        await session.broker.modify("stp", limit_price=D("1985"))
    assert refused.value.code == "would_lose_order"
    assert str(refused.value).endswith(
        "to work at other terms, cancel it and place a LIMIT (or a stop past the last "
        "trade); a smaller quantity alone goes (amended)"
    )

    await session.broker.modify("stp", quantity=D("0.3"))
    await session.driver.settle()
    at_binance = venue(session, "stp")
    assert (at_binance.order_id, at_binance.orig_qty, at_binance.working) == (
        venue_id,
        D("0.3"),
        True,
    )
    assert REPLACE not in session.fake.requests
    await journaled(
        session,
        engine,
        lambda: (
            (order := engine.oms.orders["stp"].order).quantity == D("0.3")
            and order.triggered
            and order.status is S.NEW
        ),
    )


async def test_anything_else_is_still_a_cancel_replace(s: tuple[Session, TradingEngine]) -> None:
    """A larger quantity, a price, a smaller quantity with a price: cancelReplace."""
    session, engine = s
    await session.broker.place(buy("o1"))
    await working(session, engine, "o1")
    await session.broker.modify("o1", quantity=D("1.2"))
    await session.broker.modify("o1", limit_price=D("1989"))
    await session.broker.modify("o1", quantity=D("0.5"), limit_price=D("1988"))
    assert session.fake.requests.count(REPLACE) == 3
    assert AMEND not in session.fake.requests


async def test_a_symbol_without_amend_is_cancel_replaced() -> None:
    """exchangeInfo `amendAllowed` false: the smaller quantity goes as before."""
    async with binance_session(balances={"USDT": "10000"}) as session:
        await session.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        await session.broker.place(buy("o1"))
        await session.driver.settle()
        await session.broker.modify("o1", quantity=D("0.6"))
        assert session.fake.requests.count(REPLACE) == 1
        assert AMEND not in session.fake.requests


async def test_an_oversized_replacement_is_amended_to_the_quantity_asked() -> None:
    """A price change racing a fill (0.4 filled and heard, 0.3 more on its way): Binance
    places 0.6 where 0.3 is left of the 1.0 asked. Before, the replacement was
    cancelled, nothing left working; now it is amended to 0.3 and keeps working, in its
    place, and the trader is told."""
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "100000"}) as session:
        await session.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(session.bus, [session.broker], RiskConfig())
        await engine.load_instruments()
        await session.broker.place(o1())
        first = await working(session, engine, "o1")
        await session.fake.fill(first, qty=D("0.4"))
        await journaled(
            session, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4")
        )
        session.fake.reorder_next_reports(1000)
        await session.fake.fill(first, qty=D("0.3"))
        await session.broker.modify("o1", limit_price=D("1991"))

        replacement = venue(session, "o1")
        assert replacement.order_id != first
        assert (replacement.orig_qty, replacement.status) == (D("0.3"), "NEW")
        assert session.fake.requests.count(AMEND) == 1
        await session.fake.release_held_reports()
        await session.driver.settle()
        await asyncio.sleep(0.3)  # a held status goes after its account wait
        await journaled(
            session,
            engine,
            lambda: (
                (order := engine.oms.orders["o1"].order).quantity == D("1.0")
                and order.filled_qty == D("0.7")
                and order.status is S.PARTIALLY_FILLED
            ),
        )
        messages = [
            e.event.payload.message
            for e in await session.bus.read(session.bus.layout.health)
            if isinstance(e.event, HealthEvent)
            and e.event.payload.component == session.broker.component
        ]
        said = "\n".join(messages)
        assert "is amended to the 1.0 asked; the rest of it works" in said, said


@st.composite
def amend_races(draw: st.DrawFn) -> tuple[int, int, int, int]:
    """(tenths filled and heard, filled with its report on its way when the amend goes,
    the quantity asked, filled after the amend's answer) of BUY 1.0."""
    heard = draw(st.integers(0, 8))
    on_way = draw(st.integers(0, 9 - heard))
    asked = draw(st.integers(heard + 1, 9))
    after = draw(st.integers(0, 3))
    return heard, on_way, asked, after


async def amend_race(heard: int, on_way: int, asked_tenths: int, after: int) -> None:
    step = D("0.1")
    async with binance_session(symbols=AMENDABLE, balances={"USDT": "100000"}) as session:
        await session.fake.set_book(ETH, [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(session.bus, [session.broker], RiskConfig())
        await engine.load_instruments()
        await session.broker.place(o1())
        first = await working(session, engine, "o1")
        if heard:
            await session.fake.fill(first, qty=heard * step)
            await journaled(
                session, engine, lambda: engine.oms.orders["o1"].order.filled_qty == heard * step
            )
        session.fake.reorder_next_reports(1000)  # every report from here on is late
        if on_way:
            await session.fake.fill(first, qty=on_way * step)
        asked = asked_tenths * step
        await session.broker.modify("o1", quantity=asked)
        at_binance = venue(session, "o1")
        assert at_binance.order_id == first  # amended, never replaced
        if after and at_binance.is_open:
            await session.fake.fill(first, qty=min(after * step, at_binance.remaining))
        await session.fake.release_held_reports()
        await session.driver.settle()
        # Never more than asked can fill (or than had filled when the amend went).
        bound = max(asked, (heard + on_way) * step)
        filled, left = at_binance.executed_qty, at_binance.remaining if at_binance.is_open else 0
        assert filled + left <= bound
        await asyncio.sleep(0.3)  # a held status goes after its account wait
        order = engine.oms.orders["o1"].order
        await journaled(
            session,
            engine,
            lambda: (
                order.filled_qty == filled
                and (order.status.is_terminal or order.quantity - order.filled_qty == left)
            ),
        )


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=amend_races())
@example(case=(4, 3, 6, 0))  # 0.7 filled at Binance, 0.6 asked: it ends
@example(case=(4, 1, 6, 2))  # capped at 0.6: 0.1 more after, 0.1 still works
def test_a_fill_racing_an_amend_never_lets_more_than_asked_fill(
    case: tuple[int, int, int, int],
) -> None:
    asyncio.run(amend_race(*case))
