"""A status TWS reports whose journal write the bus refuses (Redis READONLY in a
failover, out of memory) is kept and written once the bus takes it. Before, the adapter
remembered the status before the write: the write failed inside its inbox (logged
`ib.job_failed` only), TWS's later reports of the same status read as duplicates, and
the order stayed working on the desk while the adapter refused to cancel it ("has no
order"). The real ib_async client against the fake TWS; the refusal is Redis's, put in
front of the memory bus."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.brokers.kept import RETRY_MAX_S
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses
from tests.support.refusing_bus import RefusedWrites

from .test_ib_cancel_everything import engine_for

S = OrderStatus


def status_of(event: EventBase) -> OrderStatus | None:
    return event.payload.status if isinstance(event, OrderUpdateEvent) else None


async def test_a_status_the_bus_refuses_is_written_once_it_takes_it() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        redis = RefusedWrites(d.bus, lambda event: status_of(event) is S.CANCELED)
        await fake.cancel_by_venue(order.order_id)  # IB ends the order itself
        await d.broker.settle()
        assert [e.payload.client_order_id for e in redis.refused] == [coid]
        assert statuses(await d.events(), coid)[-1] is S.NEW  # not journaled yet
        assert d.broker.unjournaled == 1
        assert d.broker.health_state.errors["journal"] == 1
        assert not d.broker.knows_order(coid)  # (the adapter knows it ended)
        redis.refusing = False  # the bus takes writes again
        await d.wait_journal(
            lambda ev: statuses(ev, coid)[-1] is S.CANCELED, "CANCELED", timeout=2 * RETRY_MAX_S
        )
        assert d.broker.unjournaled == 0
        assert statuses(await d.events(), coid).count(S.CANCELED) == 1


async def test_a_reconcile_writes_the_reports_waiting_before_it_compares() -> None:
    """The order fills while Redis refuses the fill and its FILLED (both kept); the bus
    takes writes again and a reconcile runs (a reconnect) before they are written
    again. The reconcile compared the journal without them: TWS no longer lists the
    order, so it was journaled CANCELED "no longer open at the venue", and the fill and
    FILLED landed after it. They are now written first."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        redis = RefusedWrites(
            d.bus, lambda event: event.type == "fill" or status_of(event) is S.FILLED
        )
        await fake.fill(order.order_id)
        await d.broker.settle()
        await asyncio.sleep(1.0)  # refused again meanwhile: the next try is a while off
        assert d.broker.unjournaled == 2
        redis.refusing = False
        engine = await engine_for(d)  # its reconcile, before the next try
        said = statuses(await d.events(), coid)
        assert S.CANCELED not in said, said
        assert said[-1] is S.FILLED
        view = engine.oms.get(coid)
        assert view is not None
        assert (view.order.status, view.order.filled_qty) == (S.FILLED, view.order.quantity)
        assert d.broker.unjournaled == 0


async def test_a_reconcile_refused_for_the_reports_waiting_runs_once_they_are_written() -> None:
    """The reconcile after a reconnect finds reports the bus still refuses: it cannot
    compare without them and says so (`BrokerError`). Nothing ran it again before the
    next reconnect, which may never come: what the venue did meanwhile stayed unknown.
    It is run again (as a reconnect is) once they are written."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request())
        [order] = fake.orders
        redis = RefusedWrites(d.bus, lambda event: event.type == "fill")
        engine = await engine_for(d)
        reconciled: list[str] = []

        async def on_reconnect() -> None:
            reconciled.append("again")

        d.broker.on_reconnect(on_reconnect)
        await fake.fill(order.order_id)
        await d.broker.settle()
        assert d.broker.unjournaled >= 1
        with pytest.raises(BrokerError, match="wait for the journal"):
            await reconcile_broker(engine, d.broker)
        assert reconciled == []
        redis.refusing = False
        for _ in range(int(4 * RETRY_MAX_S / 0.05)):
            if reconciled:
                break
            await asyncio.sleep(0.05)
        assert reconciled == ["again"]
        assert d.broker.unjournaled == 0
        assert S.FILLED in statuses(await d.events(), coid)
