"""The desk's own modify that TWS confirms after `order_timeout_s` reads as the desk's
modify accepted late, not as a change someone made in TWS's own window; the timeout
itself says that the modify's outcome is not known and what the trader does meanwhile.
Against the fake TWS (`delay_next_modify`: an exchange slow to confirm a replace)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, updates

S = OrderStatus


async def test_a_modify_tws_confirms_after_the_wait_reads_as_ours_accepted_late() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        fake.delay_next_modify(0.6)
        with pytest.raises(BrokerTimeout):
            await d.broker.modify(coid, quantity=Decimal(5), limit_price=Decimal("149.00"))
        await fake.wait_for(lambda: order.ticket.limit_price == Decimal("149.00"), 2.0)
        events = await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].quantity == 5, "TWS's confirmation"
        )
        late = updates(events, coid)[-1]
        assert late.reason.startswith("modify accepted late"), late.reason
        assert (late.quantity, late.limit_price) == (5, Decimal("149.00"))
        # A change made in TWS's own window afterwards still reads as TWS's.
        await fake.modify_in_tws(order.order_id, quantity="7")
        events = await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].quantity == 7, "the change made in TWS"
        )
        assert updates(events, coid)[-1].reason.startswith("changed at TWS: quantity 5 -> 7")


async def test_the_timeout_says_the_outcome_is_not_known_and_what_to_do() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        fake.delay_next_modify(0.6)
        with pytest.raises(BrokerTimeout) as refused:
            await d.broker.modify(coid, quantity=Decimal(5), limit_price=Decimal("149.00"))
        said = str(refused.value)
        assert "not known" in said, said
        assert "Check the order" in said, said
        assert "when it comes" in said, said
        # Meanwhile TWS is asked: the old terms still work, and the journal says the
        # modify may still be taken (not that it was refused).
        back = await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].status is S.NEW, "the order's status again"
        )
        reason = updates(back, coid)[-1].reason
        assert "may still take" in reason, reason
