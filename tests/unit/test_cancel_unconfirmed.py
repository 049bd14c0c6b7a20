"""An account-wide cancel that went out with no confirmation is said as such, not as a
failure (an IB desk review): the kill switch whose global cancel TWS did not confirm
(and whose order's own cancel got no answer either) reported "ib/DU123456: its
account-wide cancel failed (BrokerTimeout: global cancel sent; no confirmation yet
...)". The cancel was sent, and TWS may still carry it out: it is said as sent and
unconfirmed, with what to do, while the headline stays "NOT everything cancelled" as
long as an order is still working. The real ib_async client against the fake TWS; the
engine and its kill switch are the real ones."""

from __future__ import annotations

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.domain import OrderStatus
from silvertine_tui.domain.ids import short_id
from silvertine_tui.engine.cancels import NOT_ALL_CANCELLED
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses

from .test_ib_cancel_everything import engine_for, sync

S = OrderStatus


async def test_a_global_cancel_tws_does_not_confirm_is_said_sent_not_failed() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d, retry_delays=())  # the kill tries each cancel once
        coid = await engine.submit(d.request(limit="149.00"))
        await sync(engine, d.bus)
        fake.ignore_next("global_cancel")
        fake.ignore_next("cancel_order")
        report = await engine.kill("drill")
        # Honest: the order still works at TWS, so not everything is cancelled.
        assert coid in report.cancels.still_working, report.summary()
        assert report.headline() == NOT_ALL_CANCELLED
        [problem] = [p for p in report.problems if "account-wide cancel" in p]
        assert problem.startswith(f"{d.broker.source}: its account-wide cancel was sent"), problem
        assert "failed" not in problem, problem
        assert "not confirmed" in problem, problem
        assert BrokerTimeout.__name__ not in problem, problem
        # TWS's own word, the order named by its short id as the desk names it elsewhere
        assert "no confirmation yet for " + short_id(coid) + ":" in problem, problem
        assert coid not in problem, problem
        # What to do: the Orders pane follows TWS's word; what still works is cancelled
        # at TWS or with cancel all again.
        assert "Orders pane" in problem, problem
        assert "cancel all again" in problem, problem
        summary = report.summary()
        assert "account-wide cancel failed" not in summary, summary
        assert summary.startswith("Trading HALTED; cancelled 0 order(s). 1 still working"), summary


async def test_an_unconfirmed_global_cancel_that_then_ends_the_orders_is_not_a_problem() -> None:
    """The global cancel unconfirmed, each order's own cancel went and was confirmed:
    nothing is left working, nothing is said of the sweep (as before)."""
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d, retry_delays=())
        coid = await engine.submit(d.request(limit="149.00"))
        await sync(engine, d.bus)
        fake.ignore_next("global_cancel")
        report = await engine.kill("drill")
        assert report.ok, report.summary()
        assert report.problems == ()
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED
