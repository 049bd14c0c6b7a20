"""A modify (cancelReplace) racing a fill of the old venue order: Binance fills more of
it than the adapter has heard (the fill's executionReport still on its way), then the
trader moves the price. The adapter sizes the replacement from its stale count, and
Binance cancels the old order having filled more: the replacement is too big by the
difference, and the order could fill more than the trader asked.

The cancelReplace reply's `cancelResponse.executedQty` is the truth of what the old
order filled: the adapter journals the terms Binance holds (never a quantity below
what can fill), cancels the oversized replacement at once and says so to the trader.

Invariant (hypothesis): for any split of fills heard before the modify, on their way
when it goes, and of the replacement afterwards, and a modify of the price or the
quantity, what can fill at Binance never exceeds the order's quantity, and the desk's
leaves equal what Binance works.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import HealthEvent, OrderUpdateEvent
from tests.fakes.binance.exchange import Order
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import health_metrics, journaled, o1
from tests.support.waiting import until

ASKED = D("1.0")
STEP = D("0.1")


def venue_orders(s: Session, coid: str) -> list[Order]:
    return [o for o in s.fake.orders.values() if o.client_order_id == coid]


def newest(s: Session, coid: str) -> Order:
    return max(venue_orders(s, coid), key=lambda o: o.order_id)


def venue_filled(s: Session, coid: str) -> D:
    return sum((o.executed_qty for o in venue_orders(s, coid)), D(0))


def venue_working(s: Session, coid: str) -> D:
    return sum((o.remaining for o in venue_orders(s, coid) if o.is_open), D(0))


async def health_messages(s: Session) -> list[str]:
    """What the broker said in its health events (the broker's message line, the Log)."""
    return [
        e.event.payload.message
        for e in await s.bus.read(s.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == s.broker.component
    ]


@dataclass(frozen=True)
class Case:
    heard: int  # tenths filled and heard before the modify
    on_way: int  # tenths filled whose report is on its way when the modify goes
    after: int  # tenths of the replacement filled after the modify's answer
    new_quantity: int | None  # the modify's quantity in tenths (None: price only)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    heard = draw(st.integers(0, 8))
    on_way = draw(st.integers(0, 9 - heard))
    new_quantity = draw(st.one_of(st.none(), st.integers(heard + 1, 10)))
    after = draw(st.integers(0, 3))
    return Case(heard, on_way, after, new_quantity)


async def race(case: Case) -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())  # BUY 1.0 @ 1990
        await journaled(
            s,
            engine,
            lambda: (
                "o1" in engine.oms.orders
                and engine.oms.orders["o1"].order.status is OrderStatus.NEW
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
        await s.broker.modify(
            "o1",
            limit_price=D("1991"),
            quantity=None if case.new_quantity is None else asked,
        )
        # The trader asked for `asked` in all: never more can fill at Binance (than
        # what had filled there already when the modify went: a quantity cut below it
        # cannot undo it).
        bound = max(asked, (case.heard + case.on_way) * STEP)
        assert venue_filled(s, "o1") + venue_working(s, "o1") <= bound
        replacement = newest(s, "o1")
        if case.after and replacement.is_open:
            take = min(case.after * STEP, replacement.remaining)
            await s.fake.fill(replacement.order_id, qty=take)
        await s.fake.release_held_reports()
        await s.driver.settle()
        filled = venue_filled(s, "o1")
        working = venue_working(s, "o1")
        assert filled + working <= bound
        # The desk: every fill once, and the order's leaves what Binance works.
        await asyncio.sleep(0.4)  # a held status goes after its account wait
        order = engine.oms.orders["o1"].order
        await journaled(
            s,
            engine,
            lambda: (
                order.filled_qty == filled
                and (order.status.is_terminal or order.quantity - order.filled_qty == working)
                and (working > 0 or order.status.is_terminal)
            ),
        )
        assert order.quantity >= order.filled_qty


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(case=cases())
def test_any_fill_racing_a_modify_never_lets_more_than_the_order_fill(case: Case) -> None:
    asyncio.run(race(case))


async def test_the_oversized_replacement_is_cancelled_and_said() -> None:
    """The reviewer's case: 0.4 filled and journaled, 0.3 more on its way, the price
    moved. Binance places 0.6 where 0.3 may work: the journal carries 1.3 (what can
    fill) until the replacement is cancelled, and the trader is told."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(
            s,
            engine,
            lambda: (
                "o1" in engine.oms.orders
                and engine.oms.orders["o1"].order.status is OrderStatus.NEW
            ),
        )
        first = s.fake.order_by_client_id("o1").order_id
        await s.fake.fill(first, qty=D("0.4"))
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
        s.fake.reorder_next_reports(1000)
        await s.fake.fill(first, qty=D("0.3"))
        await s.broker.modify("o1", limit_price=D("1991"))

        replacement = newest(s, "o1")
        assert replacement.order_id != first
        assert replacement.orig_qty == D("0.6")  # sized from the stale count
        assert replacement.status == "CANCELED"  # mended at once
        assert replacement.executed_qty == 0

        # What the journal said meanwhile: the replacement's terms as Binance held them.
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        updates = [
            e.event.payload
            for e in await s.bus.read(s.bus.layout.exec("binance", "spot"))
            if isinstance(e.event, OrderUpdateEvent)
        ]
        new_terms = [u for u in updates if u.venue_order_id == str(replacement.order_id)]
        assert new_terms[0].quantity == D("1.3")

        await s.fake.release_held_reports()
        await s.driver.settle()
        order = engine.oms.orders["o1"].order
        await journaled(
            s,
            engine,
            lambda: order.filled_qty == D("0.7") and order.status is OrderStatus.CANCELED,
        )
        metrics = await health_metrics(s)
        assert metrics["error:replace_oversized"] == 1
        said = " | ".join(await health_messages(s))
        assert "lets 1.3 fill of the 1.0 asked" in said
        assert "0.7 filled of the 1.0 asked, nothing of it works now" in said


async def test_a_modify_with_every_fill_heard_keeps_its_replacement() -> None:
    """The same modify with the fill heard first: nothing is oversized, nothing said."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        await s.broker.place(o1())
        first = s.fake.order_by_client_id("o1").order_id
        await s.fake.fill(first, qty=D("0.7"))
        await until(lambda: s.broker._orders["o1"].filled == D("0.7"), 3.0, "0.7 heard")
        await s.broker.modify("o1", limit_price=D("1991"))
        replacement = newest(s, "o1")
        assert replacement.orig_qty == D("0.3")
        assert replacement.status == "NEW"
        metrics = await health_metrics(s)
        assert "error:replace_oversized" not in metrics
