"""The kill switch, cancel all and a single cancel are not refused while the IB
adapter moves back to its own client id after a 326 (`IBSession._move_back`: a brief
reconnect and rebuild the desk does on its own). They wait for the move to finish,
at most `connect_timeout_s`, then go out on the socket it ends on. Before, they were
refused NotConnected for the whole move ("api CONNECTING: client id 1 is free at TWS
again: moving ..."), and the kill switch reported the desk's orders still working.

The fake TWS takes a while to start the API of client id 1 (`slow_start`), so the
move lasts long enough to press the kill switch in the middle of it. Against the fake
TWS with the real ib_async client."""

from __future__ import annotations

import asyncio
import time

import pytest

from silvertine_tui.brokers import NotConnected
from silvertine_tui.bus import EventBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import Desk, desk, statuses

L = ConnectionState
START_S = 0.3  # how long TWS takes to start client id 1's API, probe and move alike
# The move's handshake (START_S) and rebuild fit in it, with room on a loaded machine.
CONNECT_TIMEOUT_S = 2.0
NO_WAIT = (0.0, 0.0)  # the engine's retries of a refused cancel, without waiting


async def engine_for(d: Desk) -> TradingEngine:
    """An engine over this desk's broker that has read its journal and reconciled."""
    engine = TradingEngine(d.bus, [d.broker], RiskConfig(), retry_delays=NO_WAIT)
    await engine.load_instruments()
    await sync(engine, d.bus)
    await reconcile_broker(engine, d.broker)
    await sync(engine, d.bus)
    return engine


async def sync(engine: TradingEngine, bus: EventBus) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, bus.layout.exec(name, broker.account))


async def on_client(d: Desk, client_id: int) -> None:
    await d.wait(
        lambda: (
            d.fake.client_ids() == [client_id]
            and d.broker.client_id == client_id
            and d.broker.state is L.LIVE
        ),
        f"LIVE on client id {client_id}",
    )


async def on_fallback_with_orders_under_1(d: Desk, count: int) -> list[str]:
    """`count` orders placed under client id 1; the socket dropped while TWS held id 1
    (the usual 326), the desk LIVE on client id 2."""
    coids = [await d.broker.place(d.request(limit=f"14{i}.00")) for i in range(count)]
    d.fake.reserve_client_id(1)
    await d.fake.drop_connections()
    await on_client(d, 2)
    return coids


async def moving_back(d: Desk) -> None:
    """TWS frees client id 1, slow to start it: the desk asks (a probe), then moves;
    returns in the middle of the move (its socket closed, the new one starting)."""
    d.fake.slow_start(1, START_S)
    d.fake.release_client_id(1)

    def moving() -> bool:
        link = d.broker.health_state.links["api"]
        return link.state is L.CONNECTING and "moving from client id 2" in link.detail

    await d.wait(moving, "the move back to client id 1", timeout=4 * START_S + 2)
    assert not d.broker.sendable(cancel=True)  # the move is under way: nothing can go


def working_at_tws(fake: FakeTws) -> list[int]:
    return [o.perm_id for o in fake.orders if o.working]


async def test_the_kill_switch_during_a_move_back_cancels_every_order() -> None:
    async with (
        FakeTws() as fake,
        desk(fake, client_id_fallbacks=[2], connect_timeout_s=CONNECT_TIMEOUT_S) as d,
    ):
        coids = await on_fallback_with_orders_under_1(d, 3)
        engine = await engine_for(d)
        assert {v.client_order_id for v in engine.oms.working()} == set(coids)
        await moving_back(d)
        report = await engine.kill("drill")
        assert report.ok, report.summary()
        assert set(report.cancelled) == set(coids), report.summary()
        assert working_at_tws(fake) == []
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        await on_client(d, 1)  # the move went on to its end
        events = await d.events()
        for coid in coids:
            assert statuses(events, coid)[-1] is OrderStatus.CANCELED


async def test_a_cancel_and_a_cancel_all_during_a_move_back_wait_for_it() -> None:
    async with (
        FakeTws() as fake,
        desk(fake, client_id_fallbacks=[2], connect_timeout_s=CONNECT_TIMEOUT_S) as d,
    ):
        one, *others = await on_fallback_with_orders_under_1(d, 3)
        await moving_back(d)
        await d.broker.cancel(one)  # one by one: on client id 1, which placed it
        assert d.broker.client_id == 1
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1
        assert sorted(await d.broker.cancel_all()) == sorted(others)
        assert working_at_tws(fake) == []


async def test_the_kill_switch_during_a_move_that_falls_back_again_still_cancels_all() -> None:
    """TWS gives client id 1 to someone else between the desk's probe and its move:
    the move ends on client id 2 again (326), and the kill's global cancel, sent once
    it is LIVE there, reaches the orders under client id 1 all the same."""
    async with (
        FakeTws() as fake,
        desk(fake, client_id_fallbacks=[2], connect_timeout_s=CONNECT_TIMEOUT_S) as d,
    ):
        coids = await on_fallback_with_orders_under_1(d, 2)
        engine = await engine_for(d)
        await moving_back(d)
        fake.reserve_client_id(1)  # taken before TWS answers the move's start
        report = await engine.kill("drill")
        assert report.ok, report.summary()
        assert set(report.cancelled) == set(coids), report.summary()
        assert working_at_tws(fake) == []
        assert d.broker.client_id == 2


async def test_a_cancel_waits_no_longer_than_the_connect_timeout() -> None:
    """A move that does not end in time (TWS answers none of its executions requests:
    its start-up replay, then its catch-up) leaves the cancel refused once it waited
    `connect_timeout_s`, saying why; never held for good. Once the desk is back, the
    cancel goes."""
    timeout = 0.5
    async with (
        FakeTws() as fake,
        desk(
            fake,
            client_id_fallbacks=[2],
            connect_timeout_s=timeout,
            request_timeout_s=1.0,
            other_clients_poll_s=60,  # no catch-up of its own meanwhile
        ) as d,
    ):
        [coid] = await on_fallback_with_orders_under_1(d, 1)
        # The move's handshake outlasts the cancel's wait: ib_async's start-up listing
        # of open orders never ends (connect_timeout_s), nor do its executions (as
        # long again); its rebuild's executions get no answer either. (A cancel made
        # once the new socket rebuilds goes out: test_ib_cancel_while_rebuilding.py.)
        fake.omit_next_end("open_orders")
        fake.ignore_next("executions", 2)
        fake.release_client_id(1)
        await d.wait(
            lambda: "moving from client id 2" in d.broker.health_state.links["api"].detail,
            "the move back",
        )
        began = time.monotonic()
        with pytest.raises(NotConnected):
            await d.broker.cancel(coid)
        waited = time.monotonic() - began
        assert timeout - 0.05 < waited < timeout + 0.3, waited
        assert [o.working for o in fake.orders] == [True]
        await on_client(d, 1)
        await asyncio.wait_for(d.broker.cancel(coid), 5)
        assert working_at_tws(fake) == []
