"""An order cancelled while still PENDING_NEW, then found never to have reached the venue.

Binance: the connection broke before Binance took the new order (the place says "no
answer: it may be working" and asks Binance in the background). The trader cancels the
PENDING_NEW order the desk shows: the cancel is journaled (PENDING_CANCEL) and Binance
answers -2011 (it knows no such order). Once Binance's receive window has passed with
still no such order, the order is REJECTED ("it never reached the venue"). The state
machine had no PENDING_CANCEL -> REJECTED: the adapter dropped the REJECTED as no news,
the OMS would have taken it as stale, and the order stayed PENDING_CANCEL for good,
counted working (the gate's open orders, the kill switch's targets) though nothing
works anywhere."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError, BrokerTimeout
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.engine.oms import OMS
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.support.waiting import until

KEY = "ETHUSDT.BINANCE"


def statuses(events: Sequence[EventBase], cid: str) -> list[OrderStatus]:
    return [
        e.payload.status
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == cid
    ]


async def test_a_cancelled_order_that_never_reached_binance_ends_rejected() -> None:
    async with binance_session(balances={"USDT": "10000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        s.broker.unknown_order_window_s = 0.3  # (Binance's receive window, shortened)
        request = OrderRequest(
            broker=s.broker.name,
            account=s.broker.account,
            instrument=KEY,
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            quantity=D("0.5"),
            limit_price=D("1990"),
        )
        cid = request.client_order_id
        s.fake.reset_next_requests(1, after_processing=False, path="/api/v3/order")
        with pytest.raises(BrokerTimeout):
            await s.broker.place(request)
        await until(lambda: s.broker.sendable(cancel=True), within_s=5, what="REST back")
        with pytest.raises(BrokerError, match="could not be read back from Binance"):
            await s.broker.cancel(cid)
        assert statuses(await s.events(), cid) == [
            OrderStatus.PENDING_NEW,
            OrderStatus.PENDING_CANCEL,
        ]
        await until_ended(s, cid)
        events = await s.events()
        assert statuses(events, cid)[-1] is OrderStatus.REJECTED
        assert [o for o in s.fake.orders.values() if o.client_order_id == cid] == []
        oms = OMS()
        for event in events:
            oms.apply(event)
        view = oms.get(cid)
        assert view is not None
        assert view.order.status is OrderStatus.REJECTED
        assert "never reached the venue" in view.order.reason
        assert oms.open_count(s.broker.name) == 0


async def until_ended(s: Session, cid: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not (found := statuses(await s.events(), cid)) or not found[-1].is_terminal:
        assert loop.time() < deadline, f"the order never ended: {found}"
        await asyncio.sleep(0.02)
