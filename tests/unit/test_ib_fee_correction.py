"""A commission report after its fill: the fee correction reaches the order, the
position and the desk's log once, through the real engine (issue 12)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import FeeCorrection, OrderStatus
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import replay_stream
from silvertine_tui.events import FeeCorrectionEvent, describe
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, new_bus, statuses


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
