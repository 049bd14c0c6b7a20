"""A partly filled Binance order never replaced, the desk restarts (from the journal
alone or from a snapshot), then a modify: the journal takes the modify's answer.

The modify is a cancelReplace: the venue order the fills were made under is retired and
a new one works what is left. The restarted adapter met the order only in Binance's
listing (its executed quantity, none of its fills): the fills made under the retired
venue order were not counted as that venue order's, so the replacement's answer (the
order's totals: what filled under the retired venue orders plus the new one's) read
0 filled where the order had 0.4, was taken for an older report and never journaled.
Binance got the right quantity (1.1 where 1.5 was typed and 0.4 had filled), the
journal kept 2 @ 1,990, and the order ended FILLED at 2 with 1.5 filled. Likewise an
order adopted with fills from before the journal began (its first modify, in the same
run or after a restart).

Invariant (hypothesis): for any fills before a restart (some while the desk was away),
with or without a snapshot, and an order adopted with fills or placed here, a modify
after the restart sends Binance the typed total less what filled, the journal's order
takes the typed total, and once the rest fills Binance has bought it and the journal
says so: FILLED at the typed quantity, all of it filled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.errors import BrokerError
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import (
    reconcile_broker,
    replay_stream,
    write_snapshot,
)
from silvertine_tui.events import OrderUpdateEvent, ReconcileKind
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_replaced import fill, restart, whole_order, working
from tests.support.binance_stream import journaled
from tests.support.waiting import until

ETH = "ETHUSDT.BINANCE"
TENTH = D("0.1")
ORDERED = D("2")


@dataclass(frozen=True)
class Case:
    before: int  # tenths filled with the desk up (before the restart)
    away: int  # tenths filled while the desk was away
    snapshot: bool  # the restart loads a snapshot written at the close
    adopted: int = 0  # tenths filled before the journal began (the order adopted)
    more: int = 1  # the modify after the restart: what filled plus this (tenths)


async def placed_or_adopted(s: Session, adopted: D) -> TradingEngine:
    """A buy of 2 @ 1,990 (o1): placed by the desk, or, `adopted` > 0, placed before
    the journal began and filled `adopted` then, found and adopted by the first
    reconcile. The engine over the journal; the adapter connected."""
    await s.fake.set_book("ETHUSDT", [("1989", "50")], [("2001", "50")])
    if adopted:
        venue, _ = s.fake.exchange.place(
            {
                "symbol": "ETHUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": str(ORDERED),
                "price": "1990",
                "newClientOrderId": "o1",
            }
        )
        s.fake.exchange.fill(venue.order_id, adopted, None)
        s.fake.exchange.take_user_events()  # (before this desk: no one heard them)
        s.fake.exchange.take_market_events()
    await s.broker.connect()
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    if adopted:
        found = await reconcile_broker(engine, s.broker)
        assert ReconcileKind.VENUE_ORDER_UNKNOWN in [r.kind for r in found]
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        assert engine.oms.orders["o1"].order.filled_qty == adopted
        return engine
    await s.broker.place(
        OrderRequest(
            client_order_id="o1",
            broker="binance",
            account="spot",
            instrument=ETH,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=ORDERED,
            limit_price=D("1990"),
        )
    )
    await journaled(s, engine, lambda: engine.oms.orders["o1"].order.venue_order_id is not None)
    return engine


async def until_away(s: Session, case: Case) -> None:
    """The order fills `case.before` with the desk up, the desk closes (a snapshot if
    `case` says) and the order fills `case.away` while the desk is away."""
    engine = await placed_or_adopted(s, case.adopted * TENTH)
    await fill(s, engine, case.before * TENTH)
    await s.broker.close()
    if case.snapshot:
        await write_snapshot(engine, "binance", "spot")
    if case.away:
        await s.fake.fill(working(s, "o1").order_id, qty=case.away * TENTH)


async def modify_journaled_then_filled(
    s: Session,
    engine: TradingEngine,
    broker: BinanceBroker,
    typed: D,
    price: D | None = None,
) -> None:
    """A modify to `typed` in all (and to `price`): Binance gets `typed` less what it
    has filled, the journal takes the answer (the typed total at the new venue order,
    the new price), and once the rest fills the journal's order is FILLED at `typed`,
    all of it filled, as Binance has bought."""
    order = engine.oms.orders["o1"].order
    before = order.venue_order_id
    filled = whole_order(s, "o1")[1]
    assert order.filled_qty == filled, "the journal holds what Binance filled"
    await broker.modify("o1", quantity=typed, limit_price=price)
    replacement = working(s, "o1")
    assert str(replacement.order_id) != before, "a new Binance order"
    assert replacement.orig_qty == typed - filled, "the typed total less what filled"
    await journaled(s, engine, lambda: order.venue_order_id == str(replacement.order_id))
    assert order.quantity == typed, "the journal took the modify's answer"
    assert order.status is OrderStatus.PARTIALLY_FILLED
    if price is not None:
        assert order.limit_price == price
    await s.fake.fill(replacement.order_id)
    await journaled(s, engine, lambda: order.status is OrderStatus.FILLED)
    assert (order.quantity, order.filled_qty) == (typed, typed)
    assert s.fake.balances["ETH"] == (typed, 0), "Binance bought what was typed"
    assert not engine.anomalies.total


async def restarted(case: Case, price: D | None = None) -> None:
    """Run `case`: after the restart's reconcile, a modify's answer is journaled and
    the order ends where Binance does."""
    async with binance_session(balances={"USDT": "100000"}, connect=False) as s:
        await until_away(s, case)
        engine, again = await restart(s)
        try:
            found = await reconcile_broker(engine, again)
            await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
            assert [r.kind for r in found] == [ReconcileKind.MISSED_FILL] * bool(case.away)
            order = engine.oms.orders["o1"].order
            assert (order.quantity, order.filled_qty) == whole_order(s, "o1")
            typed = order.filled_qty + case.more * TENTH
            await modify_journaled_then_filled(s, engine, again, typed, price)
        finally:
            await again.close()


@pytest.mark.parametrize(
    "case",
    [
        # The review's: 0.4 filled, a restart, a modify to 1.5 in all.
        Case(before=4, away=0, snapshot=False, more=11),
        Case(before=4, away=0, snapshot=True, more=11),
        # 0.1 more filled while the desk was away (the reconcile journals it).
        Case(before=4, away=1, snapshot=False, more=10),
        Case(before=4, away=1, snapshot=True, more=10),
        # Nothing filled with the desk up: all of it while away.
        Case(before=0, away=3, snapshot=True, more=2),
        # Adopted with 0.3 filled before the journal began, 0.2 filled since.
        Case(adopted=3, before=2, away=1, snapshot=False, more=4),
        Case(adopted=3, before=2, away=0, snapshot=True, more=4),
    ],
    ids=str,
)
async def test_a_modify_after_a_restart_is_journaled(case: Case) -> None:
    await restarted(case)


async def test_a_modify_of_price_and_quantity_after_a_restart_is_journaled() -> None:
    await restarted(Case(before=4, away=1, snapshot=True, more=3), price=D("1995"))


async def test_the_first_modify_of_an_adopted_order_is_journaled() -> None:
    """An order placed before the journal began, 0.3 filled then, adopted by the first
    reconcile: its first modify, in the same run, is journaled at the new terms (the
    answer read 0 filled where the order had 0.3 and was dropped: the journal kept 2 @
    1,990 and PENDING_REPLACE), and after a restart the next one is too."""
    async with binance_session(balances={"USDT": "100000"}, connect=False) as s:
        engine = await placed_or_adopted(s, D("0.3"))
        await modify_journaled_then_filled(s, engine, s.broker, D("1.5"), D("1995"))


@pytest.mark.parametrize("snapshot", [False, True], ids=["journal", "snapshot"])
async def test_adopted_modified_then_restarted_holds_binances_whole_order(
    snapshot: bool,
) -> None:
    """Adopted with 0.3 filled, modified by the desk to 1.5 @ 1,995, 0.2 filled, the
    desk restarts (0.1 filled while away): the journal holds Binance's whole order and
    a modify to 1.0 in all sends 0.4."""
    async with binance_session(balances={"USDT": "100000"}, connect=False) as s:
        engine = await placed_or_adopted(s, D("0.3"))
        await s.broker.modify("o1", quantity=D("1.5"), limit_price=D("1995"))
        order = engine.oms.orders["o1"].order
        await journaled(s, engine, lambda: order.limit_price == D("1995"))
        await fill(s, engine, D("0.2"))
        await s.broker.close()
        if snapshot:
            await write_snapshot(engine, "binance", "spot")
        await s.fake.fill(working(s, "o1").order_id, qty=D("0.1"))
        engine, again = await restart(s)
        try:
            found = await reconcile_broker(engine, again)
            assert [r.kind for r in found] == [ReconcileKind.MISSED_FILL]
            await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
            order = engine.oms.orders["o1"].order
            assert (order.quantity, order.filled_qty) == whole_order(s, "o1")
            assert (order.quantity, order.filled_qty) == (D("1.5"), D("0.6"))
            await modify_journaled_then_filled(s, engine, again, D("1.0"))
        finally:
            await again.close()


async def test_a_modify_before_the_restarts_fills_are_journaled_sends_nothing() -> None:
    """The restart's reconcile read Binance's listing (0.5 filled), then failed before
    journaling the 0.1 filled while the desk was away. A modify now would retire the
    venue order with 0.4 of it counted: its answer read as an older report, dropped.
    It is refused, nothing sent, the order back at its status with the reason; once
    the reconcile has journaled the fill it goes, and is journaled."""
    async with binance_session(balances={"USDT": "100000"}, connect=False) as s:
        await until_away(s, Case(before=4, away=1, snapshot=False))
        engine, again = await restart(s)
        order = engine.oms.orders["o1"].order
        placed = len(s.fake.exchange.orders)
        try:
            s.fake.fail_next_requests(1000, path="/api/v3/myTrades")
            with pytest.raises(BrokerError):
                await reconcile_broker(engine, again)
            s.fake.faults.failed_requests = 0
            await until(lambda: not again.order_path_down(), 5.0, "orders may go out")
            with pytest.raises(
                BrokerError, match=r"Binance has 0\.1 of o1 filled that .*nothing was sent"
            ):
                await again.modify("o1", quantity=D("1.5"))
            assert len(s.fake.exchange.orders) == placed, "nothing was sent"
            updates = [e.payload for e in await s.events() if isinstance(e, OrderUpdateEvent)]
            *_, pending, restored = updates
            assert pending.status is OrderStatus.PENDING_REPLACE
            assert restored.status is OrderStatus.PARTIALLY_FILLED
            assert restored.reason.startswith("modify refused: ")
            await journaled(s, engine, lambda: order.status is OrderStatus.PARTIALLY_FILLED)
            assert (order.quantity, order.filled_qty) == (ORDERED, D("0.4"))

            found = await reconcile_broker(engine, again)
            assert [r.kind for r in found] == [ReconcileKind.MISSED_FILL]
            await modify_journaled_then_filled(s, engine, again, D("1.5"))
        finally:
            await again.close()


@st.composite
def cases(draw: st.DrawFn) -> Case:
    left = int(ORDERED / TENTH)
    adopted = draw(st.integers(0, 5))
    left -= adopted
    before = draw(st.integers(0, left - 1))
    left -= before
    away = draw(st.integers(0 if adopted + before else 1, left - 1))
    return Case(
        before=before,
        away=away,
        snapshot=draw(st.booleans()),
        adopted=adopted,
        more=draw(st.integers(1, 25)),
    )


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_any_fills_before_a_restart_a_modify_after_it_is_journaled(case: Case) -> None:
    asyncio.run(restarted(case))
