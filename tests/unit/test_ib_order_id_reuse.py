"""An order whose placeOrder never reached TWS (lost on the way, then the socket
dropped) keeps the orderId it was sent with, and TWS's nextValidId after the reconnect
can start below it (TWS never saw it). That id is never given to a later order: the two
were taken for one another, and a cancel of the lost order (still PENDING_NEW on the
desk, being asked of TWS) cancelled the later one at IB."""

from __future__ import annotations

import pytest

from silvertine_tui.brokers import BrokerError, BrokerTimeout
from silvertine_tui.domain import ConnectionState, OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses

S = OrderStatus


async def test_a_lost_order_s_id_is_not_reused_and_its_cancel_touches_no_other_order() -> None:
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        await d.broker.place(d.request(limit="149.00"))
        for _ in range(6):  # the session's reconciles (reqExecutions) use request ids
            await d.broker.reconcile()
        fake.ignore_next("place_order")  # lost on its way to TWS
        lost = d.request(limit="148.00")
        with pytest.raises(BrokerTimeout):
            await d.broker.place(lost)
        lost_ids = d.broker.ids.get(lost.client_order_id)
        assert lost_ids is not None
        lost_id = lost_ids.order_id
        await fake.drop_connections()
        await d.wait(lambda: d.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
        await d.wait_live()
        later = [await d.broker.place(d.request(limit=f"14{i}.10")) for i in range(10)]
        given = {}
        for coid in later:
            ids = d.broker.ids.get(coid)
            assert ids is not None
            given[coid] = ids.order_id
        assert lost_id not in given.values(), f"orderId {lost_id} given again: {given}"
        # TWS's own ids after the reconnect did start at or below the lost one's
        assert min(given.values()) <= lost_id
        assert all(order.working for order in fake.orders)
        # the trader cancels the order that got no answer (still PENDING_NEW on the desk)
        assert statuses(await d.events(), lost.client_order_id)[-1] is S.PENDING_NEW
        with pytest.raises(BrokerError):
            await d.broker.cancel(lost.client_order_id)
        await d.broker.settle()
        assert all(order.working for order in fake.orders), [
            (o.order_id, o.ticket.order_ref, o.status) for o in fake.orders
        ]
