"""Four loose ends of the Binance adapter, each reproduced against the fake Binance
(the real python-binance client runs):

1. a modify Binance half-refused (-2021: the old order cancelled, the new one refused)
   whose `cancelResponse` the adapter cannot read;
2. a replacement (or the old order) found by the check of a lost modify, filled, whose
   trades query fails: its status waits for its fills;
3. the exec ids of fills the engine journaled itself (a reconcile's missed fills) and of
   orders the adapter met only through a reconcile: never published again by a
   reconnect's catch-up, and not kept for ever;
4. an unreadable new-order reply counted once (`bad_reply`), not also as a timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.binance.errors import CancelReplaceFailed
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState, OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import EventBase, FillEvent
from tests.contract.test_broker_contract import fills, replay_orders, statuses, updates
from tests.support.binance_broker import BinanceDriver, Session, binance_session, build_broker
from tests.support.binance_stream import journaled
from tests.unit.binance.test_binance_broker_orders import (
    ended,
    once_each,
    req,
    sendable,
    settled,
    wait_for,
)

S = OrderStatus
D = Decimal
ETH = "ETHUSDT.BINANCE"
TRADES = "/api/v3/myTrades"


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield session


def kinds_of(events: list[EventBase], coid: str) -> list[str]:
    """The order's events in journal order: its fills ("fill") and statuses."""
    found: list[str] = []
    for event in events:
        payload = event.payload
        if getattr(payload, "client_order_id", None) != coid:
            continue
        if isinstance(event, FillEvent):
            found.append("fill")
        elif hasattr(payload, "status"):
            found.append(str(payload.status))
    return found


# -- 1. a half-refused modify whose cancelResponse cannot be read ------------------------


@pytest.mark.parametrize("filled_before", ["0", "0.2"])
async def test_a_half_refused_modify_whose_cancel_part_is_unreadable_ends_cancelled(
    s: Session, filled_before: str
) -> None:
    """Binance cancelled the old order and refused the new one (-2021), and its
    `cancelResponse` says a status this adapter cannot read. A bare ValueError was
    raised (the trader never told Binance cancelled the order) and the order read
    PENDING_REPLACE for ever while nothing worked at Binance (the old venue order's
    CANCELED report was a retired order's). Counted, said, and settled from Binance."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    if filled_before != "0":
        await s.fake.fill(s.fake.order_by_client_id(coid).order_id, D(filled_before))
        await wait_for(s, ended(coid, S.PARTIALLY_FILLED), "PARTIALLY_FILLED")
    await settled(s)
    s.fake.reject_next_order()  # the new order is refused: the cancel stands (-2021)
    s.fake.report_unknown_status("CANCELED_NEW_SPELLING", replace_cancels=1)
    with pytest.raises(CancelReplaceFailed, match="cancelled the old order") as raised:
        await s.broker.modify(coid, limit_price=D("1985"))
    assert raised.value.code == -2021
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
    events = await settled(s)
    assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.CANCELED]
    last = updates(events, coid)[-1]
    assert "modify failed" in last.reason, last
    assert last.filled_qty == D(filled_before)
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.CANCELED, D(filled_before))
    once_each(events, coid)
    assert s.broker.health_state.errors["bad_reply"] == 1
    assert not s.fake.exchange.open_orders("ETHUSDT")


async def test_a_half_refused_modify_unreadable_and_unanswered_is_settled_later(
    s: Session,
) -> None:
    """As above, and the query after it fails too (three 503s: every attempt): the
    order is asked again in the background and ends CANCELED, never left PENDING_REPLACE."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.reject_next_order()
    s.fake.report_unknown_status("CANCELED_NEW_SPELLING", replace_cancels=1)
    s.fake.fail_next_requests(3, path="/api/v3/order", after_processing=False)
    with pytest.raises(CancelReplaceFailed, match="cancelled the old order"):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED, asked again")
    events = await settled(s)
    assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.CANCELED]
    once_each(events, coid)
    assert s.broker.health_state.errors["bad_reply"] == 1


# -- 2. a take's fills not read: its status waits -----------------------------------------


async def test_a_lost_modify_s_filled_replacement_whose_trades_fail_waits_for_its_fills(
    s: Session,
) -> None:
    """The modify's answer was lost and the stream said nothing; the check found the
    replacement FILLED and its trades query failed (three 503s: every attempt): FILLED
    went out with no fill (the position unmoved). It waits for its fills, asked again."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.reorder_next_reports(1000)  # the stream says nothing of what follows
    s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order/cancelReplace")
    s.fake.fail_next_requests(3, path=TRADES, after_processing=False)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("2001"))  # takes the ask at once
    events = await wait_for(s, ended(coid, S.FILLED), "FILLED, asked of Binance")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")], kinds_of(events, coid)
    kinds = kinds_of(events, coid)
    assert kinds.index("fill") < kinds.index("FILLED"), kinds
    assert s.fake.requests.count(("GET", TRADES)) >= 4
    once_each(events, coid)
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.FILLED, D("0.5"))
    assert orders[coid].limit_price == D("2001")


async def test_a_lost_modify_s_filled_old_order_whose_trades_fail_waits_for_its_fills(
    s: Session,
) -> None:
    """The modify never reached Binance; the old order filled meanwhile and the stream
    said nothing. The check found it FILLED and its trades query failed: FILLED went out
    with no fill. It waits for its fills, asked again."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.reorder_next_reports(1000)  # the stream says nothing of what follows
    s.fake.reset_next_requests(1, after_processing=False, path="/api/v3/order/cancelReplace")
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    # (no await in between: the check's next query finds it filled, its trades fail)
    s.fake.exchange.fill(s.fake.order_by_client_id(coid).order_id)
    s.fake.fail_next_requests(3, path=TRADES, after_processing=False)
    events = await wait_for(s, ended(coid, S.FILLED), "FILLED, asked of Binance")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")], kinds_of(events, coid)
    kinds = kinds_of(events, coid)
    assert kinds.index("fill") < kinds.index("FILLED"), kinds
    once_each(events, coid)
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.FILLED, D("0.5"))


async def test_a_cancel_that_finds_a_lost_modify_s_replacement_waits_for_its_fills(
    s: Session,
) -> None:
    """A cancel while a lost modify is checked: its answer is the replacement's,
    partly filled, and the trades query fails. CANCELED (filled 0.3) went out before, or
    without, its fill; it waits for it."""
    coid = await s.broker.place(req(s, qty="1", limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.reorder_next_reports(1000)  # the stream says nothing of what follows
    s.fake.slow_replies("GET", "/api/v3/order", 0.9)  # the check's query: slow
    s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order/cancelReplace")
    try:
        with pytest.raises(BrokerTimeout):
            await s.broker.modify(coid, limit_price=D("1985"))
        [*_, replacement] = [o for o in s.fake.orders.values() if o.client_order_id == coid]
        assert replacement.price == D(1985)
        s.fake.exchange.fill(replacement.order_id, qty=D("0.3"))
        await sendable(s, cancel=True)
        s.fake.fail_next_requests(3, path=TRADES, after_processing=False)
        await s.broker.cancel(coid)
        events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED, asked of Binance")
    finally:
        s.fake.slow_replies("GET", "/api/v3/order", None)
    assert [f.quantity for f in fills(events, coid)] == [D("0.3")], kinds_of(events, coid)
    kinds = kinds_of(events, coid)
    assert kinds.index("fill") < kinds.index("CANCELED"), kinds
    once_each(events, coid)
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.CANCELED, D("0.3"))


# -- 3. exec ids of fills the adapter did not publish -------------------------------------


async def reconnected(s: Session, broker: BinanceBroker) -> None:
    driver = BinanceDriver(s.fake, broker, "ETHUSDT")
    await driver.drop_connection()
    for _ in range(300):
        if not broker.user.subscribed:
            break
        await asyncio.sleep(0.01)
    await driver.restore_connection()
    for _ in range(500):
        if broker.user.subscribed and broker.state is ConnectionState.LIVE:
            break
        await asyncio.sleep(0.01)
    assert broker.state is ConnectionState.LIVE
    await driver.settle()
    await asyncio.sleep(0.1)


async def test_a_reconnect_after_a_restart_publishes_no_journaled_fill_again() -> None:
    """After a restart the adapter follows o1 from Binance's listing; the reconcile
    journals the fill made while the desk was away. The user stream then drops: the
    catch-up asked the trades of the minute before the connect and published both fills
    again, the one the last run journaled and the one the reconcile did (the journal
    then held each twice)."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        request = OrderRequest(
            client_order_id="o1",
            broker="binance",
            account="spot",
            instrument=ETH,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=D("1.0"),
            limit_price=D("1990"),
        )
        await s.broker.place(request)
        order_id = s.fake.order_by_client_id("o1").order_id
        await s.fake.fill(order_id, qty="0.4")
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
        await s.broker.close()
        await s.fake.fill(order_id, qty="0.2")  # while the desk is away

        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        try:
            await again.connect()
            await engine.load_instruments()
            await reconcile_broker(engine, again)
            await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.6"))
            await reconnected(s, again)
            events = await s.events()
            counted = Counter(f.exec_id for f in fills(events, "o1"))
            assert len(counted) == 2
            assert all(n == 1 for n in counted.values()), counted
            await again.modify("o1", quantity=D("0.8"))  # 0.8 in all, 0.6 filled
            [*_, venue] = [o for o in s.fake.orders.values() if o.client_order_id == "o1"]
            assert venue.orig_qty == D("0.2")
        finally:
            await again.close()


async def test_orders_met_only_through_a_reconcile_are_not_followed_for_ever(
    s: Session,
) -> None:
    """Another program's orders, filled while the desk looked away (their reports not
    seen): the reconcile asks each of them by its Binance id to name its fills, and
    followed them from then on, for ever (never published, never let go)."""
    s.broker.finished_kept = 2
    start_ns = time.time_ns() - 1_000_000_000
    for i in range(5):
        s.fake.exchange.place(
            {
                "symbol": "ETHUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.1",
                "price": "2001",  # takes the ask at once
                "newClientOrderId": f"elsewhere-{i}",
            }
        )
    s.fake.exchange.take_user_events()  # their reports never reach the desk
    for _ in range(3):
        report = await s.broker.reconcile(since_ns=start_ns)
        assert sorted({f.client_order_id for f in report.fills}) == [
            f"elsewhere-{i}" for i in range(5)
        ]
    followed = [coid for coid in s.broker._orders if coid.startswith("elsewhere-")]
    assert len(followed) <= s.broker.finished_kept, followed


# -- 4. one fault, one count ----------------------------------------------------------------


async def test_an_unreadable_order_reply_is_counted_once(s: Session) -> None:
    """Counted as a `bad_reply` by the adapter and as a `timeout` by the place that
    raised it: the health pane showed two faults for one answer."""
    s.fake.report_unknown_status("NEW_SPELLING", replies=1)
    request = req(s, limit_price=D("1990"))
    with pytest.raises(BrokerTimeout, match="could not be read"):
        await s.broker.place(request)
    await wait_for(s, ended(request.client_order_id, S.NEW), "NEW, asked of Binance")
    errors = {kind: n for kind, n in s.broker.health_state.errors.items() if n}
    assert errors == {"bad_reply": 1}


async def test_a_timeout_is_still_counted_after_an_unreadable_reply(s: Session) -> None:
    """The unreadable reply's count does not swallow the next real timeout's."""
    s.fake.report_unknown_status("NEW_SPELLING", replies=1)
    first = req(s, limit_price=D("1990"))
    with pytest.raises(BrokerTimeout):
        await s.broker.place(first)
    await wait_for(s, ended(first.client_order_id, S.NEW), "NEW, asked of Binance")
    s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order")
    with pytest.raises(BrokerTimeout):
        await s.broker.place(req(s, limit_price=D("1989")))
    errors = s.broker.health_state.errors
    assert (errors["bad_reply"], errors["timeout"]) == (1, 1)
