"""An owed (429-held) cancel that cannot be sent when its Retry-After ends (a ban the
adapter knows by then) says the order "is still working", and its row says so too: it
stayed PENDING_CANCEL, as the held cancel journaled it, until a reconcile after the
ban (found by review)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from silvertine_tui.brokers import RateLimited
from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import ended, req, wait_for

S = OrderStatus
RETRY_AFTER = 2.0


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


async def test_an_owed_cancel_a_ban_stops_shows_the_order_working(s: Session) -> None:
    coid = await s.broker.place(req(s, qty="0.5"))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.throttle(requests=1, retry_after=RETRY_AFTER, ban=30)
    with pytest.raises(RateLimited, match="goes out by itself"):
        await s.broker.cancel(coid)
    # During the Retry-After another request of this IP met a 418: the adapter knows it.
    s.fake.ban(30)
    s.broker.rest.usage.banned_for(30)
    await asyncio.sleep(RETRY_AFTER + 1.5)  # the owed cancel's turn came and went
    assert s.fake.order_by_client_id(coid).status == "NEW"  # nothing was sent
    last = [
        e.payload.status
        for e in await s.events()
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ][-1]
    # The Log told the trader "is still working: cancel it again"; the order reads:
    assert last is S.NEW, f"row left {last} while nothing is owed or sent"
