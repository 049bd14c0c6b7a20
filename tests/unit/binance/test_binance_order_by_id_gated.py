"""Asking Binance for an order by its venue order id (the reconcile's word on a replaced
order's old terms, a trade's order) is a read as any other: through `BinanceRest`, its
weight counted and a ban held to. It asked python-binance's client directly, past both:
during a 418 ban it went out all the same (a code review)."""

from __future__ import annotations

import contextlib

from silvertine_tui.brokers import BrokerError
from tests.support.binance_broker import binance_session
from tests.support.binance_replaced import working
from tests.unit.binance.test_binance_replaced_while_down import placed


async def test_a_lookup_by_venue_id_during_a_ban_sends_nothing() -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await placed(s)
        venue_id = str(working(s, "o1").order_id)
        found = await s.broker._order_by_venue_id("ETHUSDT", venue_id)
        assert found is not None
        assert str(found["orderId"]) == venue_id

        s.fake.ban(5)
        with contextlib.suppress(BrokerError):
            await s.broker.balances()  # the 418 that tells the client of the ban
        assert s.broker.rest.usage.banned_s() > 0
        before = len(s.fake.requests)
        assert await s.broker._order_by_venue_id("ETHUSDT", venue_id) is None
        assert s.fake.requests[before:] == []
