"""A commission report after its fill: the fee correction reaches the order, the
position and the desk's log once, through the real engine (issue 12)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import FeeCorrection, OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, replay_stream
from silvertine_tui.events import EventBase, FeeCorrectionEvent, describe
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, new_bus, statuses
from tests.unit.test_ib_cancel_everything import engine_for, sync
from tests.unit.test_ib_execution_correction import engine_desk, other_program_buys


async def test_a_late_fee_is_applied_once_by_oms_and_portfolio() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, commission_wait_s=0.05) as d:
            engine = TradingEngine(bus, [d.broker], RiskConfig())
            await engine.load_instruments()
            coid = await d.broker.place(d.request(qty="400"))
            [order] = fake.orders
            fake.hold_next_commissions()
            await fake.fill(order.order_id)
            await d.wait_journal(lambda ev: OrderStatus.FILLED in statuses(ev, coid), "FILLED")
            await fake.release_commissions()
            events = await d.wait_journal(
                lambda ev: any(isinstance(e, FeeCorrectionEvent) for e in ev), "the fee"
            )
            await replay_stream(engine, d.stream)
            await replay_stream(engine, d.stream)  # a replay applies nothing twice
            view = engine.oms.get(coid)
            assert view is not None
            assert view.order.fees == {"USD": D(2)}  # 0.005 x 400
            [state] = engine.portfolio.positions.values()
            assert state.fees == {"USD": D(2)}
            assert state.quantity == 400
            [correction] = [e for e in events if isinstance(e, FeeCorrectionEvent)]
            text = describe(correction)
            assert text.startswith("FEE AAPL.SMART 2")
            assert "USD" in text
        await bus.close()


def test_a_correction_replaces_the_fee_the_fill_carried() -> None:
    correction = FeeCorrection(
        exec_id="e1", client_order_id="c1", broker="ib", account="DU1",
        instrument="AAPL.SMART", fee=D("1.25"), fee_currency="USD",
        previous_fee=D("1.00"), previous_currency="USD",
    )  # fmt: skip
    assert correction.changes == {"USD": D("0.25")}
    other = correction.model_copy(update={"fee_currency": "EUR", "fee": D("1.10")})
    assert other.changes == {"USD": D("-1.00"), "EUR": D("1.10")}


def fee_corrections(events: list[EventBase]) -> list[FeeCorrection]:
    return [e.payload for e in events if isinstance(e, FeeCorrectionEvent)]


async def test_a_fee_tws_reports_after_a_restart_reaches_a_fill_journaled_without_it() -> None:
    """The desk journals a fill without its fee (the commission report is late) and
    stops before the report comes; TWS lists it with the execution to the restarted
    desk: journaled as the fill's fee correction (before, the fill kept no fee for
    good: the restarted adapter no longer waited for it)."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, commission_wait_s=0.05) as d:
            coid = await d.broker.place(d.request(qty="400"))
            [order] = fake.orders
            fake.hold_next_commissions()
            execution = await fake.fill(order.order_id)
            await d.wait_journal(lambda ev: OrderStatus.FILLED in statuses(ev, coid), "FILLED")
            [fill] = fills(await d.events())
            assert (fill.fee, fill.fee_currency) == (0, "")
        await fake.release_commissions()  # to no one: the desk is down
        async with desk(fake, bus) as d:
            await d.broker.settle()
            events = await d.wait_journal(lambda ev: bool(fee_corrections(ev)), "the fee")
            [correction] = fee_corrections(events)
            assert correction.exec_id == execution.exec_id
            assert (correction.fee, correction.fee_currency) == (D(2), "USD")
            engine = TradingEngine(bus, [d.broker], RiskConfig())
            await engine.load_instruments()
            await replay_stream(engine, d.stream)
            [state] = engine.portfolio.positions.values()
            assert state.fees == {"USD": D(2)}
        async with desk(fake, bus) as d:  # and once only
            await d.broker.settle()
            assert len(fee_corrections(await d.events())) == 1
        await bus.close()


async def test_a_reconcile_s_fill_journaled_without_its_fee_gets_it_later() -> None:
    """Another program's fill, journaled by the engine from a reconcile before TWS had
    worked its commission out: a later reconcile that lists the commission journals
    it as the fill's fee correction (before, that fill never got a fee)."""
    async with FakeTws() as fake, engine_desk(fake) as (d, bus):
        engine = await engine_for(d)
        fake.hold_next_commissions()
        execution = await other_program_buys(fake)
        await reconcile_broker(engine, d.broker)
        await sync(engine, bus)
        [fill] = fills(await d.events())
        assert (fill.exec_id, fill.fee_currency) == (execution.exec_id, "")
        await fake.release_commissions()  # to the other program, long gone
        await reconcile_broker(engine, d.broker)
        await d.broker.settle()
        await sync(engine, bus)
        [correction] = fee_corrections(await d.events())
        assert (correction.exec_id, correction.client_order_id) == (
            execution.exec_id,
            "other-program",
        )
        state = engine.portfolio.positions[("ib", fake.account, "AAPL.SMART")]
        assert (state.quantity, state.fees) == (5, {"USD": correction.fee})
        assert correction.fee > 0
