"""An order whose cancel is pending at IB still works there and can fill: it is never
said gone, and IB's own end of it after a refused cancel reaches the desk. The real
ib_async client against the fake TWS."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.domain import OrderStatus, TimeInForce
from silvertine_tui.engine.recovery import reconcile_broker
from tests.fakes.tws import FakeTws
from tests.fakes.tws.exchange import OrderNote
from tests.support.ib import desk, fills, statuses

from .test_ib_cancel_everything import engine_for, sync

S = OrderStatus


async def test_an_order_pending_cancel_at_ib_is_listed_open_and_never_said_gone() -> None:
    """A cancel sent from TWS's own window is pending at IB (the order still works). A
    reconcile then (after a 1102, a restart) journaled it CANCELED "no longer open at
    the venue": TWS's listing of open orders left PendingCancel out. The exchange then
    refuses the cancel and the order fills: the desk read CANCELED with 3 filled."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        engine = await engine_for(d)
        await fake.cancel_pending_elsewhere(order.order_id)
        await d.broker.settle()
        [listed] = await d.broker.open_orders()
        assert (listed.client_order_id, listed.status) == (coid, S.PENDING_CANCEL)
        found = await d.broker.query_order(coid)
        assert found is not None
        assert found.status is S.PENDING_CANCEL
        await reconcile_broker(engine, d.broker)
        await sync(engine, d.bus)
        view = engine.oms.get(coid)
        assert view is not None
        assert view.order.status is S.PENDING_CANCEL  # the cancel pending at IB, shown
        order.status = "Submitted"  # the exchange refuses that cancel: it trades
        fake._deliver([OrderNote.of(order)])
        await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: bool(fills(ev, coid)), "the fill")
        await d.broker.settle()
        await sync(engine, d.bus)
        said = statuses(await d.events(), coid)
        assert S.CANCELED not in said, said
        view = engine.oms.get(coid)
        assert view is not None
        assert (view.order.status, view.order.filled_qty) == (S.FILLED, 3)


@pytest.mark.parametrize("refusal", ["pacing", "161"])
async def test_ib_s_own_cancel_after_a_refused_cancel_reaches_the_desk(refusal: str) -> None:
    """TWS refuses a cancel (paced four times, or 161 not cancellable now): ib_async
    marks the order Cancelled by guess, and that guess was left on it (the status
    before it was ib_async's PendingCancel, not one TWS reported working). IB's own
    cancel of it later (a DAY order at the day's end) then matched the guess: no event,
    and the order read working on the desk for good, nothing said."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50", tif=TimeInForce.DAY))
        [order] = fake.orders
        if refusal == "pacing":
            fake.pace_next("cancel_order", code=100, times=4)
        else:
            fake.ignore_next("cancel_order")

            async def refuse() -> None:
                await asyncio.sleep(0.05)
                await fake.send_error(
                    161,
                    "Cancel attempted when order is not in a cancellable state.",
                    req_id=order.order_id,
                )

            refusing = asyncio.create_task(refuse())
        with pytest.raises(BrokerError):
            await d.broker.cancel(coid)
        if refusal == "161":
            await refusing
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.NEW  # the cancel was refused
        await fake.new_trading_day()  # IB ends the DAY order itself
        await d.wait_journal(
            lambda ev: statuses(ev, coid)[-1] is S.CANCELED, "IB's own cancel of the order"
        )
        assert not d.broker.knows_order(coid)


async def test_a_cancel_refusal_goes_to_the_cancel_while_a_modify_of_the_order_waits() -> None:
    """A modify of the order waits for the exchange's confirmation and the trader
    cancels meanwhile; TWS refuses the cancel (161). TWS names the order, not the
    request: the refusal went to the modify (said "modify refused", the order put back
    to NEW) and the cancel waited on to "no answer". Now the cancel is refused at once
    and the modify goes on to its confirmation."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=2) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        fake.delay_next_modify(0.5)
        modify = asyncio.create_task(d.broker.modify(coid, limit_price=Decimal("149.00")))
        await asyncio.sleep(0.1)  # the modify is at TWS, waiting for the exchange
        fake.ignore_next("cancel_order")
        cancel = asyncio.create_task(d.broker.cancel(coid))
        await asyncio.sleep(0.1)
        await fake.send_error(
            161, "Cancel attempted when order is not in a cancellable state.", req_id=order.order_id
        )
        with pytest.raises(BrokerError, match="161"):
            await asyncio.wait_for(cancel, 1.0)
        assert not modify.done()  # not answered by the cancel's refusal
        await asyncio.wait_for(modify, 2.0)
        await d.broker.settle()
        assert order.ticket.limit_price == Decimal("149.00")
        said = statuses(await d.events(), coid)
        assert said[-1] is S.NEW
