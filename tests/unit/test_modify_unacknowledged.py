"""A change of an order the venue has not acknowledged yet (PENDING_NEW) is refused by
the engine, nothing journaled or sent: no venue changes an order it does not hold (at
IB a modify is a placeOrder under the order's id, which TWS took as a new order when
the place had been lost). The paper venue said "has no order", which read as if the
order were gone. A cancel still goes."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.commands import (
    Accepted,
    CancelOrder,
    EngineGateway,
    ModifyOrder,
    PlaceOrder,
    Refused,
)
from silvertine_tui.events import ModifyRequestEvent
from tests.support.paper_session import paper_broker, paper_session, resting_buy
from tests.support.waiting import until


async def test_a_change_of_an_order_not_acknowledged_yet_is_refused_and_nothing_sent() -> None:
    async with paper_session(MemoryBus(), ack_s=0.5) as session:
        engine = session.engine
        gateway = EngineGateway(engine)
        request = resting_buy(session)
        cid = request.client_order_id
        placing = asyncio.create_task(gateway.send(PlaceOrder(request=request)))
        await until(lambda: engine.oms.get(cid) is not None, 5, "the order journaled")
        view = engine.oms.get(cid)
        assert view is not None
        assert view.order.status is OrderStatus.PENDING_NEW

        lower = request.limit_price - Decimal("1")  # type: ignore[operator]
        outcome = await gateway.send(ModifyOrder(client_order_id=cid, limit_price=lower))
        assert isinstance(outcome, Refused), outcome
        assert outcome.source == "order"
        [problem] = outcome.problems
        assert problem.rule == "not_acknowledged"
        assert problem.message == (
            f"order {cid} is not acknowledged by the venue yet (PENDING_NEW): nothing was "
            "sent; change it once it is working (a cancel still goes)"
        )
        assert isinstance(await placing, Accepted)
        await until(lambda: engine.oms.get(cid).order.status is OrderStatus.NEW, 5, "NEW")  # type: ignore[union-attr]
        view = engine.oms.get(cid)
        assert view is not None
        assert not [e for e in view.history if isinstance(e, ModifyRequestEvent)]
        assert view.order.limit_price == request.limit_price
        [working] = paper_broker(session).venue.open_orders(None)
        assert working.limit_price == request.limit_price

        # Working now: the same change goes, and a cancel goes.
        changed = await gateway.send(ModifyOrder(client_order_id=cid, limit_price=lower))
        assert isinstance(changed, Accepted), changed
        await until(lambda: engine.oms.get(cid).order.limit_price == lower, 5, "changed")  # type: ignore[union-attr]
        assert isinstance(await gateway.send(CancelOrder(client_order_id=cid)), Accepted)
