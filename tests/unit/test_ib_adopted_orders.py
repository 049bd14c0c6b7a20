"""Orders the desk adopted on reconcile (open at TWS, not in its journal: placed by
another client id, in TWS, or by an earlier run whose journal is gone) are followed
from then on: what TWS says of them is journaled under the adopted id.

TWS tells a client live of its own orders, and the master client (TWS's "Master API
client ID") of every order; of another client's orders it tells nobody else anything
after the reqAllOpenOrders snapshot. The adapter then asks TWS every
`other_clients_poll_s`, and only while such an order works. Everything runs against
the fake TWS with the real ib_async client.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.client import ib_client, until
from tests.support.ib import Desk, desk, fills, new_bus, statuses
from tests.unit.test_ib_cancel_everything import engine_for, place_elsewhere, sync

S = OrderStatus
NEVER = 3600.0  # a poll that never comes within a test


async def cancel_elsewhere(fake: FakeTws, client_id: int, perm_id: int) -> None:
    """The client that placed the order cancels it."""
    async with ib_client(fake, client_id=client_id) as other:
        [trade] = [t for t in other.openTrades() if t.order.permId == perm_id]
        other.cancelOrder(trade.order)
        await until(other, lambda: trade.orderStatus.status == "Cancelled")


def order_id_of(fake: FakeTws, perm_id: int) -> int:
    [order] = [o for o in fake.orders if o.perm_id == perm_id]
    return order.order_id


async def status_on_desk(engine: TradingEngine, d: Desk, coid: str, status: S) -> None:
    await d.wait_journal(lambda ev: status in statuses(ev, coid), f"{coid} {status}")
    await sync(engine, d.bus)
    view = engine.oms.get(coid)
    assert view is not None
    assert view.order.status is status


async def test_an_adopted_order_its_client_cancels_is_canceled_by_the_poll() -> None:
    async with FakeTws() as fake:
        perm = await place_elsewhere(fake, 9, "other-program", 152.0)
        async with desk(fake, client_id=7, other_clients_poll_s=0.05) as d:
            engine = await engine_for(d)
            assert [v.client_order_id for v in engine.oms.working()] == ["other-program"]
            await cancel_elsewhere(fake, 9, perm)
            await status_on_desk(engine, d, "other-program", S.CANCELED)
            assert engine.oms.working() == []
            # The poll stops once no adopted order of another client works.
            await d.broker.settle()
            asked = len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS))
            await asyncio.sleep(0.3)
            assert len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS)) == asked


async def test_an_adopted_order_placed_in_tws_and_cancelled_there_is_canceled() -> None:
    async with FakeTws() as fake:
        perm = await place_elsewhere(fake, 0, "by-hand", 153.0)  # client id 0: TWS
        async with desk(fake, client_id=7, other_clients_poll_s=0.05) as d:
            engine = await engine_for(d)
            await fake.cancel_by_venue(order_id_of(fake, perm), client_id=0)
            await status_on_desk(engine, d, "by-hand", S.CANCELED)


async def test_the_master_client_journals_an_adopted_orders_fill_and_cancel_at_once() -> None:
    """As master client, TWS reports the other client's order live: its fill and its
    cancel are journaled as TWS sends them, with no poll."""
    async with FakeTws(master_client_id=7) as fake:
        perm = await place_elsewhere(fake, 9, "other-program", 152.0)
        async with desk(fake, client_id=7, other_clients_poll_s=NEVER) as d:
            engine = await engine_for(d)
            asked = len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS))
            await fake.fill(order_id_of(fake, perm), "2", client_id=9)
            await status_on_desk(engine, d, "other-program", S.PARTIALLY_FILLED)
            await cancel_elsewhere(fake, 9, perm)
            await status_on_desk(engine, d, "other-program", S.CANCELED)
            assert len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS)) == asked  # nothing polled
            events = await d.events()
            [fill] = fills(events, "other-program")
            assert (fill.quantity, fill.fee) == (Decimal(2), Decimal(1))
            view = engine.oms.get("other-program")
            assert view is not None
            assert view.order.filled_qty == 2
            assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == -2


async def test_fills_from_before_the_adoption_are_not_journaled_again() -> None:
    """A fill the reconcile journaled (made while the desk was away) is in the adopted
    order; only the fills after the adoption are journaled by the adapter, each once."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, client_id=7):
            pass  # the journal begins
        perm = await place_elsewhere(fake, 9, "other-program", 152.0)
        await fake.fill(order_id_of(fake, perm), "1", client_id=9)
        async with desk(fake, bus, client_id=7, other_clients_poll_s=0.05) as d:
            engine = await engine_for(d)
            view = engine.oms.get("other-program")
            assert view is not None
            assert view.order.filled_qty == 1
            assert [f.quantity for f in fills(await d.events(), "other-program")] == [1]
            await fake.fill(order_id_of(fake, perm), "2", client_id=9)
            await d.wait_journal(lambda ev: len(fills(ev, "other-program")) == 2, "the fill")
            await asyncio.sleep(0.2)  # a few polls more
            await d.broker.settle()
            await sync(engine, d.bus)
            journaled = fills(await d.events(), "other-program")
            assert [f.quantity for f in journaled] == [1, 2]
            assert len({f.exec_id for f in journaled}) == 2
            assert view.order.filled_qty == 3
            assert view.order.status is S.PARTIALLY_FILLED
            assert engine.portfolio.position("ib", fake.account, "AAPL.SMART") == -3
            [venue] = fake.positions.values()
            assert venue.quantity == -3
        await bus.close()


async def test_orders_of_an_earlier_run_under_this_client_id_are_followed_live() -> None:
    """An earlier run under the same client id, whose journal is gone (a new bus): its
    orders are adopted, TWS reports them to this client live, and the desk can cancel
    them itself."""
    async with FakeTws() as fake:
        async with desk(fake, client_id=7) as before:
            first = await before.broker.place(before.request(limit="149.00"))
            second = await before.broker.place(before.request(limit="148.00"))
        bus = new_bus()  # the journal of that run is lost
        await bus.start()
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            engine = await engine_for(d)
            assert {v.client_order_id for v in engine.oms.working()} == {first, second}
            [at_tws] = [o for o in fake.orders if o.ticket.order_ref == first]
            await fake.cancel_by_venue(at_tws.order_id, client_id=7)
            await status_on_desk(engine, d, first, S.CANCELED)
            await engine.cancel(second)
            await status_on_desk(engine, d, second, S.CANCELED)
            assert statuses(await d.events(), second) == [S.PENDING_CANCEL, S.CANCELED]
            assert [o.status for o in fake.orders] == ["Cancelled", "Cancelled"]
        await bus.close()
