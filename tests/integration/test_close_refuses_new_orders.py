"""A desk that is closing sends no new order.

`Session.close` cancels every working order first (`engine.cancel_on_exit`), then stops
its tasks, snapshots and closes its brokers: awaits, during which the desk is still on
screen. Before, the close marked the session not ready without telling the engine, so
`engine.not_ready` stayed "" and an order placed meanwhile (a key the UI still took, a
command) went to the venue after the cancel had listed what to cancel: it stayed
working at the venue once the desk was gone, although the config said cancel on exit.
Now the close refuses new orders and changes at once (`desk_closing`, said in words);
cancels still go.
"""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.risk import RiskRejected
from silvertine_tui.engine.session import DESK_CLOSING
from tests.support.paper_session import paper_broker, paper_session, resting_buy
from tests.support.waiting import until


@pytest.mark.asyncio
async def test_an_order_placed_while_the_desk_closes_is_refused_and_nothing_stays_working() -> None:
    bus = MemoryBus()
    async with paper_session(bus, ack_s=0.01, engine={"cancel_on_exit": True}) as session:
        engine = session.engine
        first = await engine.submit(resting_buy(session))
        await until(lambda: engine.oms.orders[first].order.status is OrderStatus.NEW)
        venue = paper_broker(session).venue
        closing = asyncio.create_task(session.close())
        await asyncio.sleep(0)  # the close has begun: it is cancelling
        assert not closing.done()
        assert engine.not_ready_rule == DESK_CLOSING
        assert "closing" in engine.not_ready
        with pytest.raises(RiskRejected) as refused:
            await engine.submit(resting_buy(session))
        assert [v.rule for v in refused.value.violations] == [DESK_CLOSING]
        assert "nothing was sent" in str(refused.value)
        await closing
        assert engine.oms.orders[first].order.status is OrderStatus.CANCELED
        assert [o for o in venue.open_orders()] == []
