"""The kill switch and cancel all reach every IB order, and never call one gone that
TWS still works.

IB lets only the client id that placed an order cancel it one by one: this desk's own
orders from before a fallback to another client id, and orders adopted on reconcile
(placed by another program or desk), are out of reach of a single cancel. The kill
switch and cancel all of every instrument use IB's global cancel (`reqGlobalCancel`);
a cancel all of one instrument stays per order and names each order it could not
cancel. Everything runs against the fake TWS with the real ib_async client.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ib_async import LimitOrder, Stock

from silvertine_tui.brokers import BrokerTimeout, OrderRejected
from silvertine_tui.bus import EventBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.cancels import CancelReport
from silvertine_tui.engine.commands import CancelOrder, EngineGateway, Failed
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.fakes.tws.client import ib_client, until
from tests.support.ib import Desk, desk, new_bus, statuses

NO_WAIT = (0.0, 0.0)


async def engine_for(d: Desk, retry_delays: tuple[float, ...] = NO_WAIT) -> TradingEngine:
    """An engine over this desk's broker that has read its journal and reconciled (so
    orders TWS lists that are not ours are adopted, as on a multi-broker desk)."""
    engine = TradingEngine(d.bus, [d.broker], RiskConfig(), retry_delays=retry_delays)
    await engine.load_instruments()
    await sync(engine, d.bus)
    await reconcile_broker(engine, d.broker)
    await sync(engine, d.bus)
    return engine


async def sync(engine: TradingEngine, bus: EventBus) -> None:
    for name, broker in engine.brokers.items():
        await replay_stream(engine, bus.layout.exec(name, broker.account))


async def place_elsewhere(fake: FakeTws, client_id: int, ref: str, price: float) -> int:
    """An order another program places (client id `client_id`): its permId."""
    async with ib_client(fake, client_id=client_id) as other:
        [aapl] = await other.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
        trade = other.placeOrder(
            aapl, LimitOrder("SELL", 5, price, orderRef=ref, account="DU123456")
        )
        await until(other, lambda: trade.orderStatus.status == "Submitted")
        return int(trade.order.permId)


def working_at_tws(fake: FakeTws) -> set[int]:
    return {o.perm_id for o in fake.orders if o.working}


async def test_the_kill_switch_cancels_orders_of_another_client_id_by_global_cancel() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as before:  # client id 1, before the fallback
            earlier = await before.broker.place(before.request(limit="149.00"))
        foreign_perm = await place_elsewhere(fake, 9, "other-program", 152.0)
        async with desk(fake, bus, client_id=11) as d:
            engine = await engine_for(d)
            assert {v.client_order_id for v in engine.oms.working()} == {
                earlier,
                "other-program",
            }
            now = await engine.submit(d.request(limit="148.00"))
            await sync(engine, bus)
            report = await engine.kill("drill")
            assert report.ok, report.summary()
            assert working_at_tws(fake) == set()
            assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
            assert {earlier, now} <= set(report.cancelled)
            assert "other-program" in {*report.cancelled, *report.cancels.gone}
            assert "still working" not in report.summary()
            assert foreign_perm not in working_at_tws(fake)
            # No adapter follows the adopted order: the venue's word ends it on screen.
            await sync(engine, bus)
            assert engine.oms.working() == []
        await bus.close()


async def test_cancel_all_of_every_instrument_is_a_global_cancel() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as before:
            earlier = await before.broker.place(before.request(limit="149.00"))
        async with desk(fake, bus, client_id=11) as d:
            engine = await engine_for(d)
            report = await engine.cancel_all()
            assert report.ok, report.summary()
            assert report.cancelled == (earlier,)
            assert working_at_tws(fake) == set()
            assert fake.requests_of(m.CANCEL_ORDER) == []
        await bus.close()


async def test_cancel_all_of_one_instrument_stays_per_order_and_names_what_is_left() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as before:
            earlier = await before.broker.place(before.request(limit="149.00"))
        async with desk(fake, bus, client_id=11) as d:
            engine = await engine_for(d)
            now = await engine.submit(d.request(limit="148.00"))
            await sync(engine, bus)
            report = await engine.cancel_all(instrument="AAPL.SMART")
            assert fake.requests_of(m.REQ_GLOBAL_CANCEL) == []
            assert report.cancelled == (now,)
            assert list(report.still_working) == [earlier]
            why = report.still_working[earlier]
            assert "client id 1" in why
            assert "kill switch" in why
            assert "no longer working" not in report.summary()
        await bus.close()


async def test_an_adopted_order_of_another_client_is_never_said_gone() -> None:
    """A multi-broker desk adopts an order another desk placed: a single cancel says who
    placed it (not "no order"), and a cancel all of its instrument reports it still
    working, not "no longer working at the venue"."""
    async with FakeTws() as fake:
        perm = await place_elsewhere(fake, 1, "stmx-other-desk", 152.0)
        async with desk(fake, client_id=7) as d:
            engine = await engine_for(d)
            assert [v.client_order_id for v in engine.oms.working()] == ["stmx-other-desk"]
            with pytest.raises(OrderRejected, match="placed by client id 1") as refused:
                await engine.cancel("stmx-other-desk")
            assert "nothing was sent" not in str(refused.value)
            assert "kill switch" in str(refused.value)
            with pytest.raises(OrderRejected, match="modify of stmx-other-desk not sent: placed"):
                await d.broker.modify("stmx-other-desk", limit_price=Decimal("153.00"))
            report = await engine.cancel_all(instrument="AAPL.SMART")
            assert report.gone == ()
            assert list(report.still_working) == ["stmx-other-desk"]
            assert "no longer working" not in report.summary()
            assert perm in working_at_tws(fake)


async def test_a_cancel_ib_refuses_is_said_at_once_and_the_order_is_as_tws_holds_it() -> None:
    """IB lets only the placing client cancel an order one by one, and no retry changes
    that: a cancel all of one instrument names those orders at once (not after its
    retries, 3.75 s by default), each with what reaches it, and the journal has the
    order back at the status TWS holds, once."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as before:  # client id 1, before the fallback
            earlier = await before.broker.place(before.request(limit="149.00"))
        await place_elsewhere(fake, 9, "other-program", 152.0)
        async with desk(fake, bus, client_id=11) as d:
            engine = await engine_for(d, retry_delays=(30.0,))
            async with asyncio.timeout(5):
                report = await engine.cancel_all(instrument="AAPL.SMART")
            assert set(report.still_working) == {earlier, "other-program"}
            assert "from client id 1," in report.still_working[earlier]
            assert "from client id 9," in report.still_working["other-program"]
            assert all("kill switch" in why for why in report.still_working.values())
            assert fake.requests_of(m.CANCEL_ORDER) == []
            events = await d.events()
            S = OrderStatus
            assert statuses(events, earlier) == [S.PENDING_NEW, S.NEW, S.PENDING_CANCEL, S.NEW]
            assert statuses(events, "other-program") == []  # nothing journaled for it
            await sync(engine, bus)
            assert {v.client_order_id: v.order.status for v in engine.oms.working()} == {
                earlier: S.NEW,
                "other-program": S.NEW,
            }
            # The desk's own cancel of one of them says it at once too.
            async with asyncio.timeout(5):
                outcome = await EngineGateway(engine).send(CancelOrder(client_order_id=earlier))
            assert isinstance(outcome, Failed)
            assert outcome.error_kind == "OrderRejected"
            assert "placed by client id 1" in outcome.error
            assert "cancel it in TWS or from client id 1" in outcome.error
        await bus.close()


async def test_a_cancel_tws_did_not_answer_is_tried_again() -> None:
    """What may pass is still retried: a cancel lost on its way to TWS."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        engine = await engine_for(d)
        coid = await engine.submit(d.request(limit="148.00"))
        await sync(engine, d.bus)
        fake.ignore_next("cancel_order")
        report = await engine.cancel_all(instrument="AAPL.SMART")
        assert report.cancelled == (coid,)
        assert report.ok, report.summary()
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 2
        assert working_at_tws(fake) == set()


@dataclass(frozen=True)
class Scenario:
    earlier: int  # orders this desk placed under client id 1, before the fallback
    adopted: int  # orders another program placed (client id 9), adopted on reconcile
    ours: int  # orders placed in this session (client id 11)
    one_instrument: bool  # cancel all of AAPL.SMART, else the kill switch


async def run_scenario(s: Scenario) -> tuple[CancelReport, dict[str, int], set[int]]:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        perms: dict[str, int] = {}
        try:
            async with desk(fake, bus) as before:
                for i in range(s.earlier):
                    coid = await before.broker.place(before.request(limit=f"14{i}.00"))
                    perms[coid] = fake.orders[-1].perm_id
            for i in range(s.adopted):
                ref = f"other-{i}"
                perms[ref] = await place_elsewhere(fake, 9, ref, 151.0 + i)
            async with desk(fake, bus, client_id=11) as d:
                engine = await engine_for(d)
                for i in range(s.ours):
                    coid = await engine.submit(d.request(limit=f"13{i}.00"))
                    perms[coid] = fake.orders[-1].perm_id
                await sync(engine, bus)
                if s.one_instrument:
                    report = await engine.cancel_all(instrument="AAPL.SMART")
                else:
                    report = (await engine.kill("drill")).cancels
                return report, perms, working_at_tws(fake)
        finally:
            await bus.close()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.builds(
        Scenario,
        earlier=st.integers(0, 2),
        adopted=st.integers(0, 2),
        ours=st.integers(0, 2),
        one_instrument=st.booleans(),
    )
)
def test_the_report_never_calls_an_order_gone_that_tws_still_works(s: Scenario) -> None:
    report, perms, working = asyncio.run(run_scenario(s))
    for coid, perm in perms.items():
        if perm in working:
            assert coid in report.still_working, (coid, report.summary())
        else:
            assert coid not in report.still_working, (coid, report.summary())
    said_done = {*report.cancelled, *report.gone}
    assert not {perms[c] for c in said_done if c in perms} & working
    if not s.one_instrument:
        assert working == set(), report.summary()  # the kill switch reaches every order


async def test_an_order_tws_has_not_acknowledged_yet_is_cancelled_on_its_own_too() -> None:
    """The kill's global cancel may go out before TWS has an order sent a moment ago:
    that order is cancelled on its own as well, not taken for ended because TWS did
    not list it."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=0.3) as d:
        engine = await engine_for(d)
        fake.ignore_next("place_order")  # no answer: the order's fate is unknown
        with pytest.raises(BrokerTimeout):
            await engine.submit(d.request(limit="148.00"))
        await sync(engine, d.bus)
        [pending] = [v.client_order_id for v in engine.oms.working()]
        report = await engine.kill("drill")
        assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
        assert len(fake.requests_of(m.CANCEL_ORDER)) == 1  # its own cancel went out
        # TWS never had it (10147): the venue's open orders confirm it is not working.
        assert report.cancels.gone == (pending,)
        assert report.ok, report.summary()
        assert working_at_tws(fake) == set()


async def test_the_global_cancel_goes_out_before_the_desk_catches_up_with_tws() -> None:
    """The global cancel is sent first, and TWS is asked for what the journal lacks
    (executions, open and completed orders) afterwards: asked first, a TWS slow to
    answer them held the kill switch's cancel back, and one that did not answer the
    executions request (here: ignored) kept it from going out at all."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus) as d:
            engine = await engine_for(d)
            coid = await engine.submit(d.request(limit="148.00"))
            await sync(engine, bus)
            fake.ignore_next("executions")
            report = await engine.kill("drill")
            assert len(fake.requests_of(m.REQ_GLOBAL_CANCEL)) == 1
            assert working_at_tws(fake) == set()
            assert report.ok, report.summary()
            assert report.cancelled == (coid,)
        await bus.close()


async def test_an_order_of_another_client_placed_after_the_reconcile_is_not_called_working() -> (
    None
):
    """The journal does not know it, the listing beside the global cancel names it,
    and IB's cancel-all names only the orders it tracks: it is asked of TWS once more
    (no longer listed: gone), never cancelled on its own (IB refuses that for another
    client id's order, and the report read "1 still working" for an order TWS had
    cancelled)."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, client_id=11) as d:
            engine = await engine_for(d)
            mine = await engine.submit(d.request(limit="148.00"))
            await sync(engine, bus)
            await place_elsewhere(fake, 9, "late-foreign", 152.0)
            report = await engine.kill("drill")
            assert report.ok, report.summary()
            assert report.cancelled == (mine,)
            assert report.cancels.gone == ("late-foreign",)
            assert working_at_tws(fake) == set()
            assert fake.requests_of(m.CANCEL_ORDER) == []
        await bus.close()
