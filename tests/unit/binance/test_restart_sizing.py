"""A modify (cancelReplace) racing a fill, and the desk stops before its answer is read.

Binance filled more of the old venue order than the adapter had heard (the fill's
report on its way) and sized the replacement from the stale count: the order can fill
more than the trader asked. The running adapter catches it whichever path takes the
replacement (`_check_sized`, from the modify's sizing record `TrackedOrder.sizing`),
but that record lived in memory only: a new adapter on the same journal met the
replacement in Binance's listing, took it as a replace it never saw (or, nothing
filled before, as the order itself), and left it working too big (0.7 filled and 0.6
working: 1.3 could fill of 1.0 asked).

The record survives in the journal: the modify's request (`order.modify`: the quantity
asked) and the venue order it retired (the journal's venue id). What the replacement
was sized from follows from Binance's replacement (the adapter sends what was asked
less what had filled). The adoption path (a reconcile's listing) rebuilds the sizing
of the modify the journal left unanswered and runs the same check: an oversized
replacement is cancelled, counted and said; a right-sized one works on, carried.

Invariant (hypothesis): for any split of fills heard before the modify and on their
way when it goes, the fill's report heard before the stop or lost with it, a modify of
the price or the quantity, and a restart from the journal or from a snapshot: once the
new adapter has reconciled, what can fill at Binance never exceeds what the trader
asked (or what had filled there already), the journal's fills are Binance's, and the
check fires exactly when a fill was on its way.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, write_snapshot
from silvertine_tui.events import HealthEvent
from tests.fakes.binance.client import binance_client
from tests.fakes.binance.exchange import Order
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_replaced import restart
from tests.support.binance_stream import journaled, o1
from tests.support.waiting import until

CR = ("POST", "/api/v3/order/cancelReplace")
STEP = D("0.1")
ASKED = D("1.0")
ZERO = D(0)


def venue_orders(s: Session, coid: str) -> list[Order]:
    return [o for o in s.fake.orders.values() if o.client_order_id == coid]


def venue_filled(s: Session, coid: str) -> D:
    return sum((o.executed_qty for o in venue_orders(s, coid)), ZERO)


def venue_working(s: Session, coid: str) -> D:
    return sum((o.remaining for o in venue_orders(s, coid) if o.is_open), ZERO)


async def said(s: Session, broker: BinanceBroker) -> list[str]:
    return [
        e.event.payload.message
        for e in await s.bus.read(s.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == broker.component
    ]


@dataclass(frozen=True)
class Case:
    heard: int  # tenths filled and heard before the modify
    on_way: int  # tenths filled whose report is on its way when the modify goes
    new_quantity: int | None  # the modify's quantity in tenths (None: price only)
    heard_before_stop: bool  # the racing fill's report reaches the desk before it stops
    snapshot: bool  # the restart loads a snapshot written at the stop


async def stopped_mid_modify(s: Session, case: Case) -> tuple[int, D]:
    """o1 (BUY 1.0 @ 1,990) filled `heard` with the desk up, `on_way` more whose report
    is late, then a modify whose cancelReplace Binance acts on and whose answer the
    desk never reads: it stops (the modify's task cut, the adapter closed) first.
    Returns the old venue order's id and the quantity asked."""
    await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    await s.broker.place(o1())
    await journaled(
        s,
        engine,
        lambda: (
            "o1" in engine.oms.orders and engine.oms.orders["o1"].order.status is OrderStatus.NEW
        ),
    )
    first = s.fake.order_by_client_id("o1").order_id
    if case.heard:
        await s.fake.fill(first, qty=case.heard * STEP)
        await journaled(
            s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == case.heard * STEP
        )
    s.fake.reorder_next_reports(1000)  # every report from here on is late
    if case.on_way:
        await s.fake.fill(first, qty=case.on_way * STEP)
    asked = ASKED if case.new_quantity is None else case.new_quantity * STEP
    s.fake.slow_replies(*CR, 30.0)  # acted on at once, answered after the stop
    modify = asyncio.ensure_future(
        s.broker.modify(
            "o1",
            limit_price=D("1991"),
            quantity=None if case.new_quantity is None else asked,
        )
    )
    await until(lambda: len(venue_orders(s, "o1")) == 2, 5.0, "Binance to place the replacement")
    replacement = max(venue_orders(s, "o1"), key=lambda o: o.order_id)
    assert replacement.orig_qty == asked - case.heard * STEP  # sized from the stale count
    if case.heard_before_stop and case.on_way:
        # The old venue order's reports reach the desk (its fill journaled); the
        # replacement's are lost with the desk.
        s.fake.lose_held_reports(lambda event: event.get("i") != first)
        await s.fake.release_held_reports()
        await journaled(
            s,
            engine,
            lambda: engine.oms.orders["o1"].order.filled_qty == (case.heard + case.on_way) * STEP,
        )
    modify.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await modify
    await s.broker.close()
    s.fake.flush_held_reports()  # lost with the desk
    s.fake.faults.reorder_reports = 0
    s.fake.slow_replies(*CR, None)
    if case.snapshot:
        await journaled(s, engine, lambda: True)
        await write_snapshot(engine, "binance", "spot")
    return first, asked


async def race_and_restart(case: Case) -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        _, asked = await stopped_mid_modify(s, case)
        engine, again = await restart(s)
        try:
            await reconcile_broker(engine, again)
            bound = max(asked, (case.heard + case.on_way) * STEP)
            await until(
                lambda: venue_filled(s, "o1") + venue_working(s, "o1") <= bound,
                8.0,
                f"no more than {bound} can fill at Binance",
            )
            filled = venue_filled(s, "o1")
            working = venue_working(s, "o1")
            assert filled == (case.heard + case.on_way) * STEP
            oversized = case.on_way > 0
            assert working == (ZERO if oversized else asked - filled)
            order = engine.oms.orders["o1"].order
            await asyncio.sleep(0.4)  # a held status goes after its account wait
            await journaled(
                s,
                engine,
                lambda: (
                    order.filled_qty == filled
                    and (order.status.is_terminal or order.quantity - order.filled_qty == working)
                    and (working > 0 or order.status.is_terminal)
                ),
            )
            assert again.health_state.errors["replace_oversized"] == (1 if oversized else 0)
            assert again.health_state.errors["replaced_unseen"] == 0
        finally:
            await again.close()


@pytest.mark.parametrize("heard", [0, 4])
async def test_a_restart_catches_the_oversized_replacement_of_a_modify_left_unanswered(
    heard: int,
) -> None:
    await race_and_restart(Case(heard, 3, None, heard_before_stop=False, snapshot=False))


@pytest.mark.parametrize(
    "case",
    [
        Case(4, 3, None, heard_before_stop=True, snapshot=False),
        Case(4, 3, 5, heard_before_stop=False, snapshot=True),
        Case(2, 0, 8, heard_before_stop=False, snapshot=False),
        Case(0, 0, None, heard_before_stop=False, snapshot=True),
    ],
    ids=["fill-heard-before-stop", "quantity-cut-snapshot", "right-sized", "nothing-filled"],
)
async def test_a_restart_takes_the_replacement_of_a_modify_left_unanswered(case: Case) -> None:
    await race_and_restart(case)


async def test_the_trader_is_told_of_the_oversized_replacement_after_the_restart() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        first, _ = await stopped_mid_modify(s, Case(4, 3, None, False, False))
        engine, again = await restart(s)
        try:
            await reconcile_broker(engine, again)
            await until(lambda: venue_working(s, "o1") == ZERO, 8.0, "the replacement cancelled")
            messages = " | ".join(await said(s, again))
            assert (
                "order o1: Binance had filled 0.3 more of it than this desk had heard when "
                "the modify went, so the changed order it placed (0.6) lets 1.3 fill of the "
                "1.0 asked: it is being cancelled"
            ) in messages
            assert "the changed order Binance placed too big is cancelled; 0.7 filled" in messages
            assert "was replaced at Binance where this desk did not see it" not in messages
            order = engine.oms.orders["o1"].order
            await journaled(s, engine, lambda: order.status is OrderStatus.CANCELED)
            assert order.filled_qty == D("0.7")
            assert str(first) in order.retired_venue_ids
        finally:
            await again.close()


@st.composite
def cases(draw: st.DrawFn) -> Case:
    heard = draw(st.integers(0, 8))
    on_way = draw(st.integers(0, 9 - heard))
    new_quantity = draw(st.one_of(st.none(), st.integers(heard + 1, 10)))
    return Case(heard, on_way, new_quantity, draw(st.booleans()), draw(st.booleans()))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_no_restart_lets_more_fill_than_asked(case: Case) -> None:
    asyncio.run(race_and_restart(case))


async def test_another_programs_replace_after_an_answered_modify_is_not_taken_for_it() -> None:
    """The journal's last modify was answered (its replacement journaled); while the desk
    is away another program replaces the order again: the restart does not take that for
    the modify's (nothing of the journal says what it was sized from): said unseen."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(s, engine, lambda: "o1" in engine.oms.orders)
        await s.fake.fill(s.fake.order_by_client_id("o1").order_id, qty=D("0.4"))
        order = engine.oms.orders["o1"].order
        await journaled(s, engine, lambda: order.filled_qty == D("0.4"))
        await s.broker.modify("o1", limit_price=D("1991"))
        await journaled(s, engine, lambda: order.limit_price == D("1991"))
        await s.broker.close()
        async with binance_client(s.fake) as other:
            await other.cancel_replace_order(
                symbol="ETHUSDT",
                cancelReplaceMode="STOP_ON_FAILURE",
                cancelOrigClientOrderId="o1",
                newClientOrderId="o1",
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="0.6",
                price="1991",
            )
        engine, again = await restart(s)
        try:
            await reconcile_broker(engine, again)
            assert again.health_state.errors["replaced_unseen"] == 1
            assert again.health_state.errors["replace_oversized"] == 0
            assert venue_working(s, "o1") == D("0.6")
            assert any(
                m.startswith("order o1 was replaced at Binance") for m in await said(s, again)
            )
        finally:
            await again.close()
