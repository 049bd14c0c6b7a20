"""An order the venue took whose answer could not be journaled (Redis refused the
write) is said as sent, never as not placed: told "REJECTED / Order not placed" while it
worked at the venue, a trader sent it again. The paper venue's answer is kept and
written again (`KeptReports`: counted, `unjournaled` in health) until the bus takes it;
the order then reads NEW on the desk."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from silvertine_tui.bus import BusError, MemoryBus
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.commands import Accepted, PlaceOrder
from silvertine_tui.events import EventBase
from tests.support.paper_session import paper_broker, paper_session, resting_buy


class AnswerRefusingBus(MemoryBus):
    """A memory bus that refuses the next write carrying an order update (a Redis
    refusing it: READONLY, OOM)."""

    refuse_next_update = False

    async def publish_many(self, events: Iterable[EventBase]) -> None:
        batch = list(events)
        if self.refuse_next_update and any(e.type == "order.update" for e in batch):
            self.refuse_next_update = False
            raise BusError("Redis refused the write: it was not journaled")
        await super().publish_many(batch)


async def test_an_order_taken_whose_answer_was_not_journaled_is_said_sent() -> None:
    bus = AnswerRefusingBus()
    async with paper_session(bus, ack_s=0.005) as session:
        broker = paper_broker(session)
        request = resting_buy(session)
        bus.refuse_next_update = True
        outcome = await session.command_gateway().send(PlaceOrder(request=request))
        assert isinstance(outcome, Accepted), outcome
        assert broker.health_state.errors["publish"] == 1  # the refusal, counted
        coid = request.client_order_id
        assert coid in [o.client_order_id for o in await broker.open_orders()]
        for _ in range(100):  # asked of the venue, then journaled
            view = session.engine.oms.get(coid)
            if view is not None and view.order.status is OrderStatus.NEW:
                break
            await asyncio.sleep(0.02)
        view = session.engine.oms.get(coid)
        assert view is not None
        assert view.order.status is OrderStatus.NEW
