"""What Binance says that the adapter cannot read: an executionReport, a new-order,
cancel or cancelReplace reply (here a status value Binance added to its enum: the fake's
`report_unknown_status`).
Nothing of it is lost in silence: it is counted in the broker's health (`bad_report`,
`bad_reply`), and what it carried is asked of Binance. The real python-binance client
runs against the fake."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.widgets.health import Metrics, errors_text
from tests.contract.test_broker_contract import fills, replay_orders, statuses, updates
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import (
    ended,
    once_each,
    req,
    settled,
    wait_for,
)

S = OrderStatus
D = Decimal


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield session


async def health_metrics(s: Session) -> Metrics:
    await s.broker.publish_health()
    entries = await s.bus.read(s.bus.layout.health)
    return dict(entries[-1].event.payload.metrics)  # type: ignore[union-attr]


async def test_an_unreadable_trade_report_is_counted_and_its_fill_and_status_recovered(
    s: Session,
) -> None:
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    s.fake.report_unknown_status("FILLED_NEW_SPELLING", reports=1)
    await s.fake.fill(order_id, D("0.5"))  # its one TRADE report is unreadable

    events = await wait_for(s, ended(coid, S.FILLED), "FILLED, asked of Binance")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")]
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.FILLED]
    once_each(events, coid)
    assert s.broker.health_state.errors["bad_report"] == 1
    assert "bad_report 1" in errors_text(await health_metrics(s))
    assert s.broker.health_state.links["user"].state.name == "LIVE"


async def test_a_recovery_whose_trades_query_fails_asks_again_before_the_status(
    s: Session,
) -> None:
    """The trades query failed (503 on every attempt): FILLED went out with no fill
    (the position unmoved) and the recovery took it as done. The status waits for its
    fills: the recovery asks again, and both go, the fill first."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    # Three 503s: every attempt of one ask (the REST layer's retries) fails.
    s.fake.fail_next_requests(3, path="/api/v3/myTrades", after_processing=False)
    s.fake.report_unknown_status("FILLED_NEW_SPELLING", reports=1)
    await s.fake.fill(order_id, D("0.5"))

    events = await wait_for(s, ended(coid, S.FILLED), "FILLED, asked of Binance")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")]
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.FILLED]
    kinds = [type(e).__name__ for e in events if getattr(e.payload, "client_order_id", "") == coid]
    assert kinds.index("FillEvent") < len(kinds) - 1  # the fill before the FILLED
    assert s.fake.requests.count(("GET", "/api/v3/myTrades")) >= 4
    once_each(events, coid)


async def test_the_reports_after_an_unreadable_one_go_on(s: Session) -> None:
    coid = await s.broker.place(req(s, qty="1", limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    s.fake.report_unknown_status(reports=1)
    await s.fake.fill(order_id, D("0.4"))  # unreadable
    await s.fake.fill(order_id, D("0.6"))  # readable: FILLED

    events = await wait_for(s, ended(coid, S.FILLED), "FILLED")
    await asyncio.sleep(0.3)  # the recovery of the first report, if it comes late
    events = await s.events()
    assert sorted(f.quantity for f in fills(events, coid)) == [D("0.4"), D("0.6")]
    once_each(events, coid)
    assert s.broker.health_state.errors["bad_report"] == 1


async def test_an_unreadable_report_of_an_order_not_followed_asks_for_a_reconcile(
    s: Session,
) -> None:
    asked: list[bool] = []

    async def reconcile() -> None:
        asked.append(True)

    s.broker.on_reconnect(reconcile)
    # An order placed elsewhere (another program on the account): not followed here.
    order, _ = s.fake.exchange.place(
        {
            "symbol": "ETHUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.5",
            "price": "1990",
            "newClientOrderId": "elsewhere-1",
        }
    )
    s.fake.exchange.take_user_events()
    s.fake.report_unknown_status(reports=1)
    await s.fake.fill(order.order_id, D("0.5"))
    await s.driver.settle()
    for _ in range(100):
        if asked:
            break
        await asyncio.sleep(0.02)
    assert asked, "the session was never asked to reconcile the account"
    assert s.broker.health_state.errors["bad_report"] == 1


async def test_an_unreadable_order_reply_is_an_unknown_outcome(s: Session) -> None:
    s.fake.report_unknown_status("NEW_SPELLING", replies=1)
    request = req(s, limit_price=D("1990"))
    with pytest.raises(BrokerTimeout, match="do not send it again"):
        await s.broker.place(request)
    coid = request.client_order_id
    # The order works at Binance: the background resolve finds it and says so.
    events = await wait_for(s, ended(coid, S.NEW), "NEW, asked of Binance")
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW]
    assert s.fake.order_by_client_id(coid).status == "NEW"
    errors = s.broker.health_state.errors
    assert errors["bad_reply"] == 1
    assert "bad_reply 1" in errors_text(await health_metrics(s))


async def test_an_unreadable_reply_of_an_order_that_traded_keeps_its_fills(s: Session) -> None:
    s.fake.report_unknown_status(replies=1)
    request = req(s, limit_price=D("2001"))  # takes the ask at once
    with pytest.raises(BrokerTimeout):
        await s.broker.place(request)
    coid = request.client_order_id
    events = await wait_for(s, ended(coid, S.FILLED), "FILLED")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")]
    once_each(events, coid)


async def test_an_unreadable_modify_reply_is_an_unknown_outcome_settled_from_binance(
    s: Session,
) -> None:
    """Binance replaced the order and answered with a status this adapter cannot read:
    as a modify whose answer was lost (a timeout, not a bare ValueError with the
    order's terms half-taken), the change is asked of Binance and shown."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    events = await wait_for(s, ended(coid, S.NEW), "NEW")
    old_id = updates(events, coid)[-1].venue_order_id
    s.fake.report_unknown_status("NEW_SPELLING", replaces=1)
    with pytest.raises(BrokerTimeout, match=r"could not be read.*do not send it again"):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await wait_for(s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "NEW, asked")
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_REPLACE, S.NEW]
    answer = updates(events, coid)[-1]
    assert answer.venue_order_id != old_id
    assert (answer.quantity, answer.limit_price) == (D("0.5"), D(1985))
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].limit_price) == (S.NEW, D(1985))
    assert s.broker.health_state.errors["bad_reply"] == 1
    assert "bad_reply 1" in errors_text(await health_metrics(s))
    # Settled: the order can be changed again, then cancelled.
    await s.broker.modify(coid, limit_price=D("1980"))
    await settled(s)
    await s.broker.cancel(coid)
    venue = [(o.status, o.price) for o in s.fake.orders.values() if o.client_order_id == coid]
    assert venue == [("CANCELED", D(1990)), ("CANCELED", D(1985)), ("CANCELED", D(1980))]
    events = await settled(s)
    assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    once_each(events, coid)


async def test_an_unreadable_modify_reply_of_an_order_that_traded_keeps_its_fills(
    s: Session,
) -> None:
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.report_unknown_status(replaces=1)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("2001"))  # takes the ask at once
    events = await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")]
    once_each(events, coid)
    orders, _ = replay_orders(events)
    assert (orders[coid].status, orders[coid].filled_qty) == (S.FILLED, D("0.5"))
    assert s.broker.health_state.errors["bad_reply"] == 1


async def test_an_unreadable_cancel_reply_is_settled_from_binance(s: Session) -> None:
    """Binance cancelled the order and answered with a status this adapter cannot
    read: Binance, asked, holds it CANCELED, and the cancel is done."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.report_unknown_status("CANCELED_NEW_SPELLING", cancels=1)
    await s.broker.cancel(coid)
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
    assert s.fake.order_by_client_id(coid).status == "CANCELED"
    assert s.broker.health_state.errors["bad_reply"] == 1
    assert "bad_reply 1" in errors_text(await health_metrics(s))


async def test_an_unreadable_cancel_reply_binance_cannot_confirm_is_not_said_done(
    s: Session,
) -> None:
    """The answer unreadable and the query after it unanswered: the cancel's outcome is
    unknown, said so (a timeout, never "cancelled"); the order settles from Binance."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.report_unknown_status(cancels=1)
    s.fake.slow_replies("GET", "/api/v3/order", 5.0)
    try:
        with pytest.raises(BrokerTimeout, match=r"could not be read.*is not known") as raised:
            await s.broker.cancel(coid)
    finally:
        s.fake.slow_replies("GET", "/api/v3/order", None)
    assert "cancelled." not in str(raised.value)
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
    events = await settled(s)
    assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.CANCELED]
    assert s.broker.health_state.errors["bad_reply"] == 1


async def test_an_unreadable_answer_in_a_cancel_all_is_asked_of_binance(s: Session) -> None:
    """One order's answer in a DELETE openOrders said a status the adapter cannot read:
    the whole cancel-all (the kill switch's too) raised a bare ValueError, the other
    orders' cancels unjournaled. It is counted and that order asked of Binance."""
    ids = [await s.broker.place(req(s, limit_price=D(1970 + i))) for i in range(3)]
    for coid in ids:
        await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.report_unknown_status("CANCELED_NEW_SPELLING", cancels=1)
    await s.broker.cancel_all(reason="kill switch")
    events = await settled(s)
    for coid in ids:
        assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED], coid
        once_each(events, coid)
    assert s.broker.health_state.errors["bad_reply"] == 1
