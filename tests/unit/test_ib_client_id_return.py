"""After TWS answered 326 (client id in use) the IB adapter does not stay on the
fallback id for the rest of the process: every reconnect tries the id that holds the
desk's working orders (the configured `client_id` when none work) first, and once
connected on another id it moves back as soon as TWS frees that one, unless an order
of ours works under the id it is on. Meanwhile a cancel or modify of an order placed
under another of our ids is refused before anything is sent, saying why and what to do
(IB lets only the placing client change an order), and the kill switch still reaches
it (IB's global cancel). The fake TWS answers a cancel or modify of another client's
order id with an error, as TWS does, never by acting on it. Against the fake TWS with
the real ib_async client."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from ib_async import LimitOrder, Stock

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import ConnectionState
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.client import ib_client, round_trip, until
from tests.support.ib import Desk, desk

L = ConnectionState


async def on_client(d: Desk, client_id: int) -> None:
    """The desk is LIVE on `client_id`, and TWS has that one session of it."""
    await d.wait(
        lambda: (
            d.fake.client_ids() == [client_id]
            and d.broker.client_id == client_id
            and d.broker.state is L.LIVE
        ),
        f"LIVE on client id {client_id}",
    )


async def dropped_while_tws_holds_the_id(d: Desk, client_id: int) -> None:
    """The socket drops hard and TWS has not yet released the dead socket's id."""
    d.fake.reserve_client_id(client_id)
    await d.fake.drop_connections()


async def test_a_reconnect_tries_the_configured_client_id_first() -> None:
    async with FakeTws() as fake:
        fake.reserve_client_id(1)
        async with desk(fake, client_id_fallbacks=[2, 3]) as d:
            await on_client(d, 2)
            fake.release_client_id(1)
            fake.reserve_client_id(2)  # the probe back cannot tell: the drop decides
            await fake.drop_connections()
            await on_client(d, 1)


async def test_after_a_drop_the_desk_goes_back_to_its_id_once_tws_frees_it() -> None:
    """The typical 326: TWS still holds the dropped socket's id. The desk works on the
    fallback meanwhile (its order under client id 1 refused a cancel, saying why), and
    is back on client id 1, where that order can be cancelled, once TWS frees it."""
    async with FakeTws() as fake, desk(fake, client_id_fallbacks=[2]) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        [order] = fake.orders
        await dropped_while_tws_holds_the_id(d, 1)
        await on_client(d, 2)
        detail = d.broker.health_state.links["api"].detail
        assert "client id 1 is in use at TWS" in detail, detail
        with pytest.raises(OrderRejected) as refused:
            await d.broker.cancel(coid)
        said = str(refused.value)
        assert "under client id 1" in said, said
        assert "on client id 2" in said, said
        assert "326" in said, said
        assert "moves back to client id 1" in said, said
        assert "kill switch" in said, said
        assert fake.requests_of(m.CANCEL_ORDER) == []
        with pytest.raises(OrderRejected, match="back to client id 1"):
            await d.broker.modify(coid, limit_price=Decimal("148.50"))
        assert len(fake.requests_of(m.PLACE_ORDER)) == 1  # the modify was not sent
        assert order.working
        fake.release_client_id(1)
        await on_client(d, 1)
        await d.broker.cancel(coid)
        assert not order.working
        assert order.status == "Cancelled"


async def test_the_desk_stays_on_the_fallback_while_an_order_of_its_own_works_there() -> None:
    """Moving back would leave the order placed on the fallback out of reach: the desk
    stays (the health pane says why) until no order of its own works there, then goes."""
    async with FakeTws() as fake, desk(fake, client_id_fallbacks=[2]) as d:
        await d.broker.place(d.request(limit="149.00"))
        await dropped_while_tws_holds_the_id(d, 1)
        await on_client(d, 2)
        second = await d.broker.place(d.request(limit="148.00"))
        fake.release_client_id(1)
        connects = fake.connects
        await asyncio.sleep(0.5)  # rounds of `_go_home` (every 0.05 to 0.2 s here)
        assert fake.connects == connects  # not even asked: it would not move
        assert d.broker.client_id == 2
        assert fake.client_ids() == [2]
        detail = d.broker.health_state.links["api"].detail
        assert "works under client id 2" in detail, detail
        await d.broker.cancel(second)
        await on_client(d, 1)


async def test_a_reconnect_goes_to_the_id_its_working_orders_are_under() -> None:
    """Orders of the desk work only under its fallback id (the configured one is held
    by another program): a reconnect goes back to the fallback, not to an id under
    which it could change none of them."""
    async with FakeTws() as fake:
        fake.reserve_client_id(1)
        async with desk(fake, client_id_fallbacks=[2]) as d:
            await on_client(d, 2)
            coid = await d.broker.place(d.request(limit="149.00"))
            fake.release_client_id(1)
            connects = fake.connects
            await fake.drop_connections()
            await d.wait(lambda: fake.connects > connects, "a reconnect")
            await on_client(d, 2)
            assert fake.connects == connects + 1  # client id 2 at once: 1 was not tried
            await d.broker.cancel(coid)
            assert fake.orders[0].status == "Cancelled"


async def test_the_kill_switch_cancels_the_orders_left_under_the_other_id() -> None:
    async with FakeTws() as fake, desk(fake, client_id_fallbacks=[2]) as d:
        first = await d.broker.place(d.request(limit="149.00"))
        await dropped_while_tws_holds_the_id(d, 1)
        await on_client(d, 2)
        cancelled = await d.broker.cancel_all()
        assert cancelled == [first]
        assert [o.working for o in fake.orders] == [False]
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        assert fake.requests_of(m.CANCEL_ORDER) == []


async def test_fake_tws_answers_a_change_of_another_clients_order_with_an_error() -> None:
    """TWS lets only the placing client (or client 0 for TWS's own orders) cancel or
    modify an order: another client's cancelOrder of its id is 10147 (not found), and
    a placeOrder with its id is 103 (duplicate order id); neither acts on the order."""
    async with FakeTws() as fake, ib_client(fake, client_id=1) as placer:
        [aapl] = await placer.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = placer.placeOrder(aapl, LimitOrder("BUY", 5, 149.0, account="DU123456"))
        await until(placer, lambda: trade.orderStatus.status == "Submitted")
        order_id = trade.order.orderId
        async with ib_client(fake, client_id=2) as other:
            errors: list[tuple[int, int]] = []
            other.errorEvent += lambda req, code, *_: errors.append((req, code))
            other.client.cancelOrder(order_id, "")
            changed = LimitOrder("BUY", 5, 148.0, account="DU123456")
            changed.orderId = order_id
            other.client.placeOrder(order_id, aapl, changed)
            await until(other, lambda: len(errors) >= 2)
            await round_trip(other)
            assert errors == [(order_id, 10147), (order_id, 103)]
        [only] = fake.orders
        assert only.working
        assert only.client_id == 1
        assert only.ticket.limit_price == Decimal("149.0")
        assert fake.rejected[-1][:3] == (2, order_id, 103)
