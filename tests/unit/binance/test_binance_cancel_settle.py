"""A cancel Binance failed (overloaded, rate-limited) is settled by asking Binance what
the order is. When that could not be read either (its fills' query failed too), the
order stayed PENDING_CANCEL on the desk while it worked at Binance, until some later
report or reconnect: it is asked again in the background and shown working again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.domain import OrderStatus
from tests.contract.test_broker_contract import fills, statuses
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import ended, once_each, req, wait_for

S = OrderStatus
D = Decimal


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield session


async def test_a_failed_cancel_whose_order_could_not_be_read_is_settled_later(
    s: Session,
) -> None:
    coid = await s.broker.place(req(s, qty="1", limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    await s.fake.fill(order_id, D("0.4"))
    await wait_for(s, ended(coid, S.PARTIALLY_FILLED), "PARTIALLY_FILLED")
    s.fake.fail_next_cancels(3)  # overloaded at every attempt: the cancel changes nothing
    # Every attempt of the settle's fills query fails as well (rate-limited with it).
    s.fake.fail_next_requests(3, path="/api/v3/myTrades", after_processing=False)
    with pytest.raises(BrokerError):
        await s.broker.cancel(coid)
    events = await wait_for(
        s,
        lambda ev: (
            statuses(ev, coid)[-1] is S.PARTIALLY_FILLED and S.PENDING_CANCEL in statuses(ev, coid)
        ),
        "shown working again, asked of Binance later",
    )
    assert s.fake.order_by_client_id(coid).status == "PARTIALLY_FILLED"
    assert [f.quantity for f in fills(events, coid)] == [D("0.4")]
    once_each(events, coid)
