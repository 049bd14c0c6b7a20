"""An execution at price 0 (IB's for an option expiring worthless) is a fill: it was
lost (a Fill's price had to be above zero), its job failed with only a Python log, and
every later reconcile raised. An execution the desk cannot take at all is now counted
and said, live and on reconcile, and a reconcile skips it rather than failing whole.
The real ib_async client against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, statuses

S = OrderStatus


async def test_a_fill_at_price_zero_is_journaled_and_reconciled() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id, price="0")
        events = await d.wait_journal(lambda ev: bool(fills(ev, coid)), "the fill")
        [fill] = fills(events, coid)
        assert (fill.quantity, fill.price) == (Decimal(3), Decimal(0))
        await d.broker.settle()
        assert S.FILLED in statuses(await d.events(), coid)
        assert d.broker.health_state.errors["job_failed"] == 0
        report = await d.broker.reconcile()
        assert [f.exec_id for f in report.fills] == [fill.exec_id]
        assert report.fills[0].price == 0


async def test_an_execution_that_is_no_fill_is_said_and_skipped_by_reconcile() -> None:
    """A negative price (no Fill takes it): live, its job failed with a Python log
    only; a reconcile raised pydantic's ValidationError every time."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        other = await d.broker.place(d.request(qty="2", limit="149.00"))
        first, second = fake.orders
        await fake.fill(first.order_id, price="-1")
        await fake.fill(second.order_id)
        await d.wait_journal(lambda ev: bool(fills(ev, other)), "the other fill")
        await d.broker.settle()
        assert d.broker.health_state.errors["job_failed"] == 1
        errors = await d.said_in_log(LogLevel.ERROR)
        assert any("not journaled" in said for said in errors), errors
        report = await d.broker.reconcile()
        assert [f.client_order_id for f in report.fills] == [other]
        assert d.broker.health_state.errors["execution_not_taken"] == 1
        errors = await d.said_in_log(LogLevel.ERROR)
        assert any(coid[-8:] in said and "cannot be journaled" in said for said in errors), errors
