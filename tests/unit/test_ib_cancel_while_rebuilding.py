"""Cancels and the kill switch while the IB adapter rebuilds what TWS holds after its
socket (re)connects (`IBSession._after_connect`): after a drop and reconnect, and at
start. The socket is up and TWS takes cancels, yet the `api` link refused them for the
whole rebuild (RECONCILING: it still is, and says cancels go), so with TWS slow to
answer the rebuild's requests every cancel was refused ("send it again once ... is
LIVE") and the kill switch held, up to `request_timeout_s`. Cancels and the kill switch
go out at once now, each to an order whose id on this socket is certain; one whose ids
the rebuild has not re-learned yet is refused saying why (a cancel by a guessed id could
reach another order), and never sent under another client's order id. New orders and
modifies wait for LIVE, saying so. Against the fake TWS with the real ib_async client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.brokers import NotConnected, OrderRejected
from silvertine_tui.bus import EventBus
from silvertine_tui.domain import ConnectionState, OrderStatus
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, new_bus, statuses
from tests.unit.test_ib_cancel_everything import engine_for, sync
from tests.unit.test_ib_move_back_kill import (
    CONNECT_TIMEOUT_S,
    moving_back,
    on_fallback_with_orders_under_1,
)

L = ConnectionState
S = OrderStatus
TIMEOUT_S = 5.0  # request_timeout_s: what a slow TWS held everything back for


async def rebuild_waits_for_tws(fake: FakeTws, asked: int) -> None:
    """Returns once the rebuild's request for the executions is on its way, unanswered:
    the first of the two ignored is ib_async's own at the handshake (it gives up after
    `connect_timeout_s` and the connect goes on), the second the rebuild's."""
    await fake.wait_for(lambda: len(fake.requests_of(m.REQ_EXECUTIONS)) >= asked + 2, 5.0)


async def dropped_with_a_slow_rebuild(d: Desk) -> None:
    fake = d.fake
    asked = len(fake.requests_of(m.REQ_EXECUTIONS))
    fake.ignore_next("executions", times=2)  # TWS busy: the rebuild waits for it
    await fake.drop_connections()
    await rebuild_waits_for_tws(fake, asked)


def assert_rebuilding(d: Desk) -> None:
    link = d.broker.health_state.links["api"]
    assert link.state is L.RECONCILING, link  # coming up, not an outage
    assert "rebuilding what TWS holds" in link.detail, link.detail
    assert "cancels go" in link.detail, link.detail


async def test_a_cancel_goes_out_at_once_while_the_reconnect_rebuild_waits_for_tws() -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        [order] = fake.orders
        await dropped_with_a_slow_rebuild(d)
        assert_rebuilding(d)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await d.broker.cancel(coid)  # was refused: "api RECONCILING ... rebuilding"
        assert loop.time() - started < 1.0
        assert not order.working
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED


async def test_new_orders_and_modifies_wait_for_the_rebuild_and_say_why() -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        [order] = fake.orders
        await dropped_with_a_slow_rebuild(d)
        placed = len(fake.requests_of(m.PLACE_ORDER))
        journaled = len(await d.events())
        with pytest.raises(NotConnected, match="rebuilding what TWS holds") as refused:
            await d.broker.place(d.request(limit="148.00"))
        assert "new orders and changes wait until it is LIVE" in str(refused.value)
        with pytest.raises(NotConnected, match="rebuilding what TWS holds") as refused:
            await d.broker.modify(coid, limit_price=Decimal("148.50"))
        assert "new orders and changes wait until it is LIVE" in str(refused.value)
        assert len(fake.requests_of(m.PLACE_ORDER)) == placed  # nothing was sent
        assert len(await d.events()) == journaled  # nor journaled
        assert order.working
        assert order.ticket.limit_price == Decimal("149.00")


async def test_the_kill_switch_cancels_at_once_while_the_reconnect_rebuild_waits() -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        engine = await engine_for(d, retry_delays=(0.25, 0.5, 1.0, 2.0))
        coid = await d.broker.place(d.request(limit="149.00"))
        await sync(engine, d.bus)
        await dropped_with_a_slow_rebuild(d)
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = await engine.kill("drill")
        took = loop.time() - started
        assert not [o.perm_id for o in fake.orders if o.working], report.summary()
        assert report.ok, report.summary()
        assert report.cancels.cancelled == (coid,), report.summary()
        assert took < 1.5, f"the kill switch took {took:.1f} s"


@contextlib.asynccontextmanager
async def connecting_slowly(
    fake: FakeTws, bus: EventBus, client_id: int, *, before_listing: bool = False
) -> AsyncIterator[Desk]:
    """A desk starting on `bus` as `client_id`, its rebuild waiting for TWS: for the
    executions (after it listed TWS's orders), or `before_listing`, for its lookup of
    the configured contract (TWS answered it with a pacing error: asked again after
    `pacing_delay_s`), before it asked TWS for its orders."""
    async with desk(
        fake,
        bus,
        connect=False,
        client_id=client_id,
        request_timeout_s=TIMEOUT_S,
        pacing_delay_s=TIMEOUT_S if before_listing else 0.02,
    ) as d:
        asked = len(fake.requests_of(m.REQ_EXECUTIONS))
        looked_up = len(fake.requests_of(m.REQ_CONTRACT_DETAILS))
        if before_listing:
            fake.pace_next("contract_details")
        else:
            fake.ignore_next("executions", times=2)
        connecting = asyncio.create_task(d.broker.connect())
        try:
            if before_listing:
                await fake.wait_for(
                    lambda: len(fake.requests_of(m.REQ_CONTRACT_DETAILS)) > looked_up, 5.0
                )
            else:
                await rebuild_waits_for_tws(fake, asked)
            assert_rebuilding(d)
            yield d
        finally:
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connecting


async def test_at_start_a_cancel_of_an_order_of_the_journal_goes_out_at_once() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with desk(fake, bus) as before:
                coid = await before.broker.place(before.request(limit="149.00"))
            [order] = fake.orders
            assert order.working
            async with connecting_slowly(fake, bus, client_id=1) as d:
                loop = asyncio.get_running_loop()
                started = loop.time()
                await d.broker.cancel(coid)  # found by its permId, under this client id
                assert loop.time() - started < 1.0
                assert not order.working
                await d.broker.settle()
                assert statuses(await d.events(), coid)[-1] is S.CANCELED
        finally:
            await bus.close()


async def placed_under_client_2(fake: FakeTws, bus: EventBus) -> str:
    """An order of this desk placed under client id 2 (a run on its fallback id)."""
    async with desk(fake, bus, client_id=2) as before:
        return await before.broker.place(before.request(limit="149.00"))


async def test_a_cancel_of_an_order_whose_ids_are_not_relearned_waits_and_says_why() -> None:
    """Under client id 2, the order is not in ib_async's listing of client id 1's open
    orders: until the rebuild learns where it works, its cancel is refused with what
    reaches it now (nothing sent, nothing journaled), and the global cancel does."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            coid = await placed_under_client_2(fake, bus)
            [order] = fake.orders
            async with connecting_slowly(fake, bus, client_id=1, before_listing=True) as d:
                journaled = len(await d.events())
                with pytest.raises(NotConnected, match="re-learned") as refused:
                    await d.broker.cancel(coid)
                said = str(refused.value)
                assert "a cancel by a guessed id could reach another order" in said
                assert "kill switch" in said
                assert "once the api link is LIVE" in said
                assert not fake.requests_of(m.CANCEL_ORDER)
                assert len(await d.events()) == journaled
                assert order.working
                assert await d.broker.cancel_all() == [coid]  # IB's global cancel
                assert not order.working
                assert statuses(await d.events(), coid)[-1] is S.CANCELED
        finally:
            await bus.close()


async def test_a_cancel_never_goes_out_by_order_id_0_of_a_completed_listing() -> None:
    """The order of client id 2 filled while no desk heard it (the journal holds it
    working). At start, TWS's completed orders (of every client id, asked by ib_async
    at the handshake) hold it by its permId before the rebuild learns where it is, with
    neither its order id nor its client id (a completed order on the wire has none): a
    cancel by that listing went out as order id 0 of client id 1. It waits for the
    rebuild, saying why, and nothing is sent."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            coid = await placed_under_client_2(fake, bus)
            [order] = fake.orders
            await fake.fill(order.order_id, client_id=2)  # nobody hears it
            async with connecting_slowly(fake, bus, client_id=1, before_listing=True) as d:
                ids = d.broker.ids.get(coid)
                assert ids is not None
                assert ids.client_id < 0
                with pytest.raises(NotConnected, match="re-learned") as refused:
                    await d.broker.cancel(coid)
                assert "kill switch" in str(refused.value)
                assert not fake.requests_of(m.CANCEL_ORDER)  # nothing went out
        finally:
            await bus.close()


async def test_an_order_tws_lists_under_another_client_id_is_refused_saying_so() -> None:
    """The rebuild listed TWS's open orders (of every client id) before it learned the
    order's client id: the cancel says where it works, not one sent from client id 1
    by client id 2's order id."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        try:
            coid = await placed_under_client_2(fake, bus)
            [order] = fake.orders
            async with connecting_slowly(fake, bus, client_id=1) as d:
                with pytest.raises(OrderRejected, match="placed by client id 2") as refused:
                    await d.broker.cancel(coid)
                assert "kill switch" in str(refused.value)
                assert not fake.requests_of(m.CANCEL_ORDER)  # nothing went out
                assert order.working
                assert statuses(await d.events(), coid)[-1] is S.NEW  # as it was
        finally:
            await bus.close()


async def test_a_cancel_during_a_move_back_goes_on_its_socket_while_the_rebuild_waits() -> None:
    """A move back to the desk's own client id (`IBSession._move_back`) whose rebuild
    TWS is slow to answer (its listing of open orders never ends): the cancel that
    waits for the move goes out as soon as the new socket is up and the journal read,
    not once the rebuild is done (it waited `connect_timeout_s`, then was refused:
    "api RECONCILING")."""
    async with (
        FakeTws() as fake,
        desk(
            fake,
            client_id_fallbacks=[2],
            connect_timeout_s=CONNECT_TIMEOUT_S,
            request_timeout_s=TIMEOUT_S,
            other_clients_poll_s=60,  # no catch-up of its own meanwhile
        ) as d,
    ):
        [coid] = await on_fallback_with_orders_under_1(d, 1)
        listed = len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS))
        fake.omit_next_end("all_open_orders")  # the rebuild's listing never ends
        await moving_back(d)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await d.broker.cancel(coid)
        assert loop.time() - started < CONNECT_TIMEOUT_S - 0.5
        assert not [o for o in fake.orders if o.working]
        assert d.broker.client_id == 1
        assert len(fake.requests_of(m.REQ_ALL_OPEN_ORDERS)) == listed + 1  # unanswered
        assert_rebuilding(d)
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED
