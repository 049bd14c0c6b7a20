"""While TWS is cut off from IB (1100) new orders and modifies are refused, nothing
journaled, and cancels still go to TWS (the `ib` link is one a cancel goes through while
DEGRADED: `IBBroker.cancel_through_degraded`). docs/operations.md said cancels were
refused too; this pins what the code does, which the docs now say. The real ib_async
client against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState, OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses

S = OrderStatus
L = ConnectionState


async def test_during_1100_a_cancel_goes_to_tws_and_new_orders_and_modifies_are_refused() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="10", limit="148.00"))
        other = await d.broker.place(d.request(qty="5", limit="147.00"))
        await d.broker.settle()
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
        journaled = len(await d.events())
        with pytest.raises(NotConnected, match="1100"):
            await d.broker.place(d.request())
        with pytest.raises(NotConnected, match="1100"):
            await d.broker.modify(coid, limit_price=Decimal("147.90"))
        assert len(await d.events()) == journaled  # nothing journaled, nothing held
        assert len(fake.orders) == 2
        assert fake.orders[0].ticket.limit_price == Decimal("148.00")
        await d.broker.cancel(coid)
        events = await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
        assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
        assert fake.orders[0].status == "Cancelled"
        # Cancel all of every instrument (IB's global cancel, as the kill switch's) too.
        assert await d.broker.cancel_all() == [other]
        await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, other), "CANCELED")
        assert fake.orders[1].status == "Cancelled"
