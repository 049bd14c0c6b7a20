"""A modify TWS did not answer in time is named in the broker's health until TWS answers
it, and every desk built from the bus reads its outcome as not known meanwhile
(`DeskProjection.modify_unanswered`, which the Orders pane marks `NEW?`). Before, the
journal's "TWS may still take it" was words in a reason, and the desk read the order
plain NEW at its old terms. The real IB adapter through ib_async against the fake TWS
(`delay_next_modify`: an exchange slow to confirm a replace)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.brokers.ib import orders as ib_orders
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine import projection as desk_projection
from silvertine_tui.engine.projection import project
from silvertine_tui.events import HealthEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, updates

S = OrderStatus


def test_the_adapter_and_the_desk_name_the_metric_alike() -> None:
    assert ib_orders.MODIFY_UNANSWERED == desk_projection.MODIFY_UNANSWERED


async def last_health(d: Desk) -> Any:
    """The broker's newest health event on the bus."""
    found = [
        e.event
        for e in await d.bus.read(d.bus.layout.health)
        if isinstance(e.event, HealthEvent) and e.event.payload.component == d.broker.component
    ]
    return found[-1]


async def said_unanswered(d: Desk, coid: str) -> str:
    """What a desk built from the bus alone says of the order's modify."""
    view = await project(d.bus, [(d.broker.name, d.broker.account)], market_data=False)
    return view.modify_unanswered(d.broker.name, coid)


async def test_a_late_modify_is_not_known_until_tws_takes_it() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        assert await said_unanswered(d, coid) == ""
        fake.delay_next_modify(0.8)
        with pytest.raises(BrokerTimeout):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        health = await last_health(d)
        key = f"{ib_orders.MODIFY_UNANSWERED}{coid}"
        assert "may still take" in str(health.payload.metrics[key])
        assert health.payload.message == ""  # no Log line of its own
        # TWS, asked, reports the old terms: the journal says so, the desk reads the
        # outcome as not known.
        await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].status is S.NEW, "TWS's word after the wait"
        )
        said = await said_unanswered(d, coid)
        assert said.startswith("no answer to the modify in 0.3 s"), said
        # TWS takes it: the journal has the new terms, the health no longer names it.
        await fake.wait_for(lambda: order.ticket.limit_price == Decimal("149.00"), 2.0)
        await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].limit_price == Decimal("149.00"), "the late answer"
        )
        await d.broker.settle()
        assert key not in (await last_health(d)).payload.metrics
        assert await said_unanswered(d, coid) == ""


async def test_another_modify_answers_for_the_late_one() -> None:
    """A second modify of the order goes: its own answer stands for TWS's terms, the
    first is no longer waited for."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        fake.delay_next_modify(5.0)
        with pytest.raises(BrokerTimeout):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].status is S.NEW, "TWS's word after the wait"
        )
        assert await said_unanswered(d, coid) != ""
        await d.broker.modify(coid, quantity=Decimal(4))
        assert await said_unanswered(d, coid) == ""


async def test_the_orders_end_answers_a_late_modify() -> None:
    """The order fills while its modify is unanswered: nothing of it works any more."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        fake.delay_next_modify(5.0)
        with pytest.raises(BrokerTimeout):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        await d.wait_journal(
            lambda ev: updates(ev, coid)[-1].status is S.NEW, "TWS's word after the wait"
        )
        assert await said_unanswered(d, coid) != ""
        await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: updates(ev, coid)[-1].status is S.FILLED, "FILLED")
        await d.broker.settle()
        assert await said_unanswered(d, coid) == ""
