"""An order Binance refused at placement (-2010) is let go by the adapter as it is
journaled REJECTED. A trader's review found it stayed PENDING_NEW inside the adapter
(the base class journaled the refusal past the adapter's gate), so a later cancel all
or kill switch journaled a cancel of the REJECTED order (CANCEL requested and
PENDING_CANCEL after REJECTED) and asked Binance about it (GET /api/v3/order)."""

from __future__ import annotations

import pytest

from silvertine_tui.brokers import InsufficientFunds
from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import CancelRequestEvent
from tests.contract.test_broker_contract import statuses
from tests.support.binance_broker import Session
from tests.unit.binance.test_binance_broker_orders import ended, req, s, settled, wait_for  # noqa: F401

S = OrderStatus


async def test_cancel_all_leaves_a_rejected_order_alone(s: Session) -> None:  # noqa: F811
    s.fake.reject_next_order()
    rejected = req(s)
    with pytest.raises(InsufficientFunds):
        await s.broker.place(rejected)
    await wait_for(s, ended(rejected.client_order_id, S.REJECTED), "REJECTED")
    working = await s.broker.place(req(s))
    await wait_for(s, ended(working, S.NEW), "NEW")

    start = len(s.fake.requests)
    await s.broker.cancel_all(reason="kill switch")
    events = await settled(s)

    cancels = [e.payload.client_order_id for e in events if isinstance(e, CancelRequestEvent)]
    assert cancels == [working]  # (was [rejected, working])
    assert statuses(events, rejected.client_order_id) == [S.PENDING_NEW, S.REJECTED]
    assert ("GET", "/api/v3/order") not in s.fake.requests[start:]
