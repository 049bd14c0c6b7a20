"""Who changed the order, as its history says: the desk's own modify, answered by TWS,
reads as the desk's ("modify accepted"), not as a change made in TWS's own window; a
later change made in TWS's window still says so ("changed at TWS: ...")."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses, updates

S = OrderStatus


async def test_the_desk_s_own_modify_is_said_as_the_desk_s_and_tws_s_as_tws_s() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await d.broker.modify(coid, quantity=Decimal(5))
        await d.broker.settle()
        events = await d.events()
        assert statuses(events, coid)[-2:] == [S.PENDING_REPLACE, S.NEW]
        ours = updates(events, coid)[-1]
        assert ours.quantity == 5
        assert ours.reason == "modify accepted", (
            f"the desk's own modify reads {ours.reason!r}: as if changed in TWS"
        )
        # then the trader changes it in TWS's own window: that one says TWS
        await fake.modify_in_tws(order.order_id, quantity="7", limit="149.00")
        await d.broker.settle()
        await d.wait_journal(lambda ev: updates(ev, coid)[-1].quantity == 7, "TWS's terms")
        theirs = updates(await d.events(), coid)[-1]
        assert theirs.reason.startswith("changed at TWS: quantity 5 -> 7"), theirs.reason
