"""An order the engine's reconcile ends (TWS no longer lists it: a DAY order IB expired
while the desk was down) ends in the IB adapter too. The adapter kept only its own
updates and what it read of the journal at start: the order stayed working there, TWS
was polled for it all day (three requests every `other_clients_poll_s`), and every
global cancel (the kill switch, cancel all) journaled PENDING_CANCEL after its CANCELED
and failed "no confirmation yet". The real ib_async client against the fake TWS."""

from __future__ import annotations

import asyncio

from silvertine_tui.domain import OrderStatus, TimeInForce
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk, new_bus, statuses

from .test_ib_cancel_everything import engine_for, sync

S = OrderStatus


async def test_an_order_the_reconcile_ends_is_no_longer_working_in_the_adapter() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as before:
            coid = await before.broker.place(before.request(tif=TimeInForce.DAY))
        await fake.new_trading_day()  # IB ends the DAY order while the desk is down
        async with desk(fake, bus, other_clients_poll_s=0.1) as d:
            assert d.broker.knows_order(coid)  # (the journal says it works)
            engine = await engine_for(d)  # the start's reconcile
            view = engine.oms.get(coid)
            assert view is not None
            assert view.order.status is S.CANCELED
            assert not d.broker.knows_order(coid)
            asked = len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS))
            await asyncio.sleep(0.5)
            assert len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS)) == asked  # nothing to follow
            assert await d.broker.cancel_all() == []
            await sync(engine, d.bus)
            assert statuses(await d.events(), coid) == [S.PENDING_NEW, S.NEW, S.CANCELED]
