"""Right after TWS is back on IB (1101/1102) the adapter catches up with TWS. The socket
is up and TWS takes cancels meanwhile, yet the `ib` link was RECONCILING, so a cancel
and the kill switch were refused ("nothing was sent ... once ib/... is LIVE"); and the
kill switch's listing of open orders waited behind the catch-up's request TWS had not
answered (one lock for every request): with TWS slow to answer, the kill took the whole
`request_timeout_s` (10 s) to cancel one order. Cancels and the kill switch go out at
once now; new orders wait for the catch-up, saying so."""

from __future__ import annotations

import asyncio

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.domain import ConnectionState, OrderStatus
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses
from tests.unit.test_ib_cancel_everything import engine_for, sync

L = ConnectionState
S = OrderStatus
TIMEOUT_S = 5.0  # request_timeout_s: what a slow TWS held everything back for


async def restored_with_a_slow_catch_up(d: Desk, *, data_lost: bool = False) -> None:
    """1100, then 1102 (or 1101) while TWS does not answer the catch-up's executions
    request; returns once that request is on its way."""
    fake = d.fake
    await fake.connectivity_lost()
    await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
    asked = len(fake.requests_of(m.REQ_EXECUTIONS))
    fake.ignore_next("executions")  # TWS busy right after its reconnection
    await fake.connectivity_restored(data_lost=data_lost)
    await fake.wait_for(lambda: len(fake.requests_of(m.REQ_EXECUTIONS)) > asked)


@pytest.mark.parametrize("data_lost", [False, True], ids=["1102", "1101"])
async def test_a_cancel_goes_out_while_the_catch_up_waits_for_tws(data_lost: bool) -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        [order] = fake.orders
        await restored_with_a_slow_catch_up(d, data_lost=data_lost)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await d.broker.cancel(coid)  # was refused: NotConnected, "nothing was sent"
        assert loop.time() - started < 1.0
        assert not order.working
        # the trader is told what goes on: the link is up for cancels, not for orders
        link = d.broker.health_state.links["ib"]
        assert link.state is L.DEGRADED, link
        assert "catching up" in link.detail, link.detail
        assert "cancels go" in link.detail, link.detail
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED


async def test_a_new_order_waits_for_the_catch_up_and_says_why() -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        await restored_with_a_slow_catch_up(d)
        placed = len(fake.requests_of(m.PLACE_ORDER))
        with pytest.raises(NotConnected, match="catching up with TWS") as refused:
            await d.broker.place(d.request(limit="149.00"))
        assert "new orders wait until it is LIVE" in str(refused.value)
        assert len(fake.requests_of(m.PLACE_ORDER)) == placed  # nothing was sent


async def test_the_kill_switch_cancels_at_once_while_the_catch_up_waits_for_tws() -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        engine = await engine_for(d, retry_delays=(0.25, 0.5, 1.0, 2.0))
        coid = await d.broker.place(d.request(limit="149.00"))
        await sync(engine, d.bus)
        await restored_with_a_slow_catch_up(d)
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = await engine.kill("drill")
        took = loop.time() - started
        assert not [o.perm_id for o in fake.orders if o.working], report.summary()
        assert report.ok, report.summary()
        assert report.cancels.cancelled == (coid,), report.summary()
        # not held behind the catch-up's unanswered request (was the whole timeout)
        assert took < 1.5, f"the kill switch took {took:.1f} s"


async def test_open_orders_are_listed_while_the_catch_up_s_executions_wait() -> None:
    """The listing (the kill switch's, a cancel all's) waits only for another listing
    of open orders (ib_async keeps one answer of that kind), not for the executions."""
    async with FakeTws() as fake, desk(fake, request_timeout_s=TIMEOUT_S) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        await restored_with_a_slow_catch_up(d)
        listed = await asyncio.wait_for(d.broker.open_orders(), 1.0)
        assert [o.client_order_id for o in listed] == [coid]
