"""An order of the desk's that a cancelReplace the journal never saw moved to another
venue order under the same client order id while the desk was down (another program
on the account, or the desk's own modify whose answer was lost when it stopped), and
whose replacement ENDED (filled, cancelled) before the desk came back: Binance's open
listing no longer holds it.

Found by a trader's review: BUY 1 ETHUSDT @ 3,194.17 (venue order 8), the desk killed,
another client's cancelReplace (STOP_ON_FAILURE, the same client order id) placed
venue order 9 @ 3,197.17, which filled at once. The restarted desk read `BUY 1
3,194.17 FILLED 1 3,196.67`: a buy filled above its limit, under venue order 8 (the
cancelled one); the replacement was said nowhere. The money was right (the fills are
Binance's); the terms and the history were not.

Now the reconcile asks Binance for each working order of the journal its listing no
longer holds: an ended venue order under an id the journal does not know is the
replacement, whose terms the order takes before its fills (the history says what
changed: "changed at Binance, not by this desk ... limit A -> B", or the lost modify),
and an end its fills do not make (a cancel) is taken as Binance's.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import pytest

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import Order, OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream, write_snapshot
from silvertine_tui.events import FillEvent, OrderUpdateEvent, ReconcileKind
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_replaced import restart, venue_orders, whole_order, working
from tests.support.binance_stream import journaled
from tests.support.waiting import until

ETH = "ETHUSDT.BINANCE"
ASK = D("3196.67")
CHANGED = "changed at Binance, not by this desk"
CR = ("POST", "/api/v3/order/cancelReplace")


async def placed(s: Session, quantity: str = "1") -> TradingEngine:
    """BUY `quantity` ETHUSDT @ 3,194.17 (o1), working on the desk."""
    await s.fake.set_book("ETHUSDT", [("3190", "50")], [(str(ASK), "50")])
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    await s.broker.place(
        OrderRequest(
            client_order_id="o1",
            broker="binance",
            account="spot",
            instrument=ETH,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=D(quantity),
            limit_price=D("3194.17"),
        )
    )
    await journaled(
        s,
        engine,
        lambda: (
            "o1" in engine.oms.orders and engine.oms.orders["o1"].order.venue_order_id is not None
        ),
    )
    return engine


async def replace_elsewhere(s: Session, quantity: str, price: str) -> None:
    """Another client on the account cancel-replaces o1 under the same client order id."""
    async with binance_client(s.fake) as other:
        await other.cancel_replace_order(
            symbol="ETHUSDT",
            side="BUY",
            type="LIMIT",
            timeInForce="GTC",
            quantity=quantity,
            price=price,
            cancelReplaceMode="STOP_ON_FAILURE",
            cancelOrigClientOrderId="o1",
            newClientOrderId="o1",
        )


async def cancel_elsewhere(s: Session) -> None:
    async with binance_client(s.fake) as other:
        await other.cancel_order(symbol="ETHUSDT", origClientOrderId="o1")


async def reconciled(s: Session) -> tuple[TradingEngine, Order, list[ReconcileKind], list[str]]:
    """The desk restarted (from the snapshot, if one was written) and reconciled: o1,
    the reconcile's kinds, and o1's reasons in its history."""
    engine, again = await restart(s)
    try:
        found = await reconcile_broker(engine, again)
        await replay_stream(engine, s.bus.layout.exec("binance", "spot"))
        view = engine.oms.orders["o1"]
        reasons = [
            e.payload.reason
            for e in view.history
            if isinstance(e, OrderUpdateEvent) and e.payload.reason
        ]
        assert not engine.anomalies.total
        assert again.health_state.errors["replaced_unseen"] == 0
        return engine, view.order, [r.kind for r in found], reasons
    finally:
        await again.close()


def one_said(reasons: list[str], *parts: str) -> str:
    [said] = [r for r in reasons if all(p in r for p in parts)]
    return said


@pytest.mark.parametrize("snapshot", [False, True], ids=["journal", "snapshot"])
async def test_a_replacement_filled_while_down_gives_the_order_its_terms(snapshot: bool) -> None:
    """The review's: the replacement, above the ask, filled at once."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        engine = await placed(s)
        if snapshot:
            await write_snapshot(engine, "binance", "spot")
        old = working(s, "o1").order_id
        await s.broker.close()  # the desk is down
        await replace_elsewhere(s, "1", str(ASK + D("0.5")))
        new = working(s, "o1")
        assert new.order_id != old
        assert new.status == "FILLED"

        engine, order, kinds, reasons = await reconciled(s)
        assert kinds == [ReconcileKind.MISSED_FILL]
        assert order.status is OrderStatus.FILLED
        assert order.venue_order_id == str(new.order_id)
        assert str(old) in order.retired_venue_ids
        assert order.limit_price == D("3197.17")
        assert (order.quantity, order.filled_qty, order.avg_price) == (D("1"), D("1"), ASK)
        assert order.avg_price is not None
        assert order.limit_price is not None
        assert order.avg_price <= order.limit_price, "no buy filled above its limit"
        said = one_said(reasons, CHANGED)
        assert f"venue order {old} -> {new.order_id}" in said
        assert "limit 3194.17 -> 3197.17" in said
        assert "FILLED" in said
        position = next(iter(engine.portfolio.positions.values()))
        assert position.quantity == D("1") == s.fake.balances["ETH"][0]


async def test_a_partly_filled_order_replaced_and_filled_while_down_is_binances_whole() -> None:
    """0.4 of 1 filled with the desk up; away, the 0.6 left is replaced @ 3,197.17 and
    fills: the order is 1 with 1 filled, its average exact, at the replacement's limit."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        engine = await placed(s)
        old = working(s, "o1").order_id
        await s.fake.fill(old, qty=D("0.4"))
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
        await s.broker.close()
        await replace_elsewhere(s, "0.6", "3197.17")
        new = working(s, "o1")

        _, order, kinds, reasons = await reconciled(s)
        assert kinds == [ReconcileKind.MISSED_FILL]
        assert (order.quantity, order.filled_qty) == whole_order(s, "o1") == (D("1"), D("1"))
        assert order.avg_price == (D("0.4") * D("3194.17") + D("0.6") * ASK) / D("1")
        assert (order.status, order.venue_order_id) == (OrderStatus.FILLED, str(new.order_id))
        assert order.limit_price == D("3197.17")
        one_said(reasons, CHANGED, "limit 3194.17 -> 3197.17", "FILLED")


@pytest.mark.parametrize("away", ["0", "0.3"])
async def test_a_replacement_cancelled_while_down_ends_the_order_at_its_terms(away: str) -> None:
    """Replaced away @ 3,195 for 0.8 (a quantity and a price), `away` of it filled,
    then cancelled: the order ends CANCELED as Binance holds it, at the replacement's
    terms and venue order, with what filled."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await placed(s)
        old = working(s, "o1").order_id
        await s.broker.close()
        await replace_elsewhere(s, "0.8", "3195")
        new = working(s, "o1")
        if D(away):
            await s.fake.fill(new.order_id, qty=D(away))
        await cancel_elsewhere(s)

        _, order, kinds, reasons = await reconciled(s)
        assert kinds == [ReconcileKind.MISSED_FILL] * bool(D(away)) + [
            ReconcileKind.STATUS_MISMATCH
        ]
        assert order.status is OrderStatus.CANCELED
        assert order.venue_order_id == str(new.order_id)
        assert str(old) in order.retired_venue_ids
        assert (order.quantity, order.filled_qty) == whole_order(s, "o1") == (D("0.8"), D(away))
        assert order.limit_price == D("3195")
        said = one_said(reasons, CHANGED)
        assert "quantity 1 -> 0.8" in said
        assert "limit 3194.17 -> 3195" in said
        assert "CANCELED" in said
        assert reasons[-1] == "CANCELED at the venue (its ended orders, found on reconcile)"


async def test_an_order_cancelled_while_down_unreplaced_ends_as_binance_says() -> None:
    """No replace: Binance's newest venue order under o1 is the journal's, CANCELED;
    its terms stay, and the end Binance gave when asked is taken (a code review: it was
    asked and thrown away, the order ended "does not list how it ended ... check it at
    the venue")."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await placed(s)
        old = working(s, "o1").order_id
        await s.broker.close()
        await cancel_elsewhere(s)

        _, order, kinds, reasons = await reconciled(s)
        assert kinds == [ReconcileKind.STATUS_MISMATCH]
        assert (order.status, order.venue_order_id) == (OrderStatus.CANCELED, str(old))
        assert order.limit_price == D("3194.17")
        assert not [r for r in reasons if CHANGED in r]
        assert reasons[-1] == "CANCELED at the venue (its ended orders, found on reconcile)"


async def test_the_fills_of_the_replacement_come_after_its_terms() -> None:
    """In the journal, o1's terms move before the fill of the replacement is applied:
    never a fill against the old limit."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await placed(s)
        await s.broker.close()
        await replace_elsewhere(s, "1", "3197.17")
        new = working(s, "o1")
        await reconciled(s)
        entries = await s.bus.read(s.bus.layout.exec("binance", "spot"))
        events = [e.event for e in entries if e.ok]
        moved = [
            i
            for i, e in enumerate(events)
            if isinstance(e, OrderUpdateEvent) and e.payload.venue_order_id == str(new.order_id)
        ]
        filled = [i for i, e in enumerate(events) if isinstance(e, FillEvent)]
        assert moved, "the replacement's terms journaled"
        assert filled, "its fill journaled"
        assert moved[0] < filled[0]
        assert [o.status for o in venue_orders(s, "o1")] == ["CANCELED", "FILLED"]


async def test_a_lost_modifys_replacement_filled_while_down_is_said_as_the_modify() -> None:
    """The desk's own modify (to 3,197.17) whose answer was lost when it stopped:
    Binance placed the replacement, which filled while the desk was down. The order
    takes its terms, said as the modify's (not another program's)."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        engine = await placed(s)
        old = working(s, "o1").order_id
        s.fake.reorder_next_reports(1000)  # its reports held: lost with the desk
        s.fake.slow_replies(*CR, 30.0)  # acted on at once, answered after the stop
        modify = asyncio.ensure_future(s.broker.modify("o1", limit_price=D("3197.17")))
        await until(lambda: len(venue_orders(s, "o1")) == 2, 5.0, "the replacement placed")
        await journaled(
            s, engine, lambda: engine.oms.orders["o1"].order.status is OrderStatus.PENDING_REPLACE
        )
        modify.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await modify
        await s.broker.close()
        s.fake.flush_held_reports()
        s.fake.faults.reorder_reports = 0
        s.fake.slow_replies(*CR, None)
        new = working(s, "o1")
        assert new.status == "FILLED"

        _, order, kinds, reasons = await reconciled(s)
        assert kinds == [ReconcileKind.MISSED_FILL]
        assert (order.status, order.venue_order_id) == (OrderStatus.FILLED, str(new.order_id))
        assert order.limit_price == D("3197.17")
        assert (order.quantity, order.filled_qty, order.avg_price) == (D("1"), D("1"), ASK)
        said = one_said(reasons, "the modify's answer was lost")
        assert f"venue order {old} -> {new.order_id}" in said
        assert "FILLED" in said
        assert not [r for r in reasons if CHANGED in r]
