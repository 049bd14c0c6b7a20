"""A modify TWS does not take: refused with 2102 (in the range of notices, but a
refusal), or crossed by a fill (the order filled at its old terms the moment before
TWS took the modify, which it refuses with 104), or sent as the fill reaches the desk.
Each is said at once, for what it is."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers import ModifyTooLate, OrderRejected
from silvertine_tui.domain import OrderStatus
from silvertine_tui.events.payloads import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses, updates

S = OrderStatus
TEXT = "Unable to modify this order as it is still being processed."


async def test_a_2102_is_a_refused_modify_said_at_once() -> None:
    """It was taken for a notice ("the order goes on"): the modify waited for an answer
    that never came and read "no answer" after order_timeout_s."""
    async with FakeTws() as fake, desk(fake, order_timeout_s=1.5) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        fake.reject_next_order(2102, TEXT)  # TWS refuses the modify, the order works on
        started = time.monotonic()
        with pytest.raises(OrderRejected) as refused:
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        assert time.monotonic() - started < 1.0
        assert "modify refused, the order works on unchanged" in str(refused.value)
        assert "2102" in str(refused.value)
        assert "send the change again in a moment" in str(refused.value)
        await d.broker.settle()
        assert order.ticket.limit_price == Decimal("149.50")  # TWS did not take it
        assert order.working
        last = updates(await d.events(), coid)[-1]
        assert last.status is S.NEW
        assert "2102" in last.reason


async def test_a_modify_that_crossed_a_fill_came_too_late() -> None:
    """It returned as done (the order's FILLED answered its wait), and TWS's 104 after
    it was a red "TWS error 104" about an order the desk showed FILLED."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        fake.race_next_modify()
        with pytest.raises(ModifyTooLate) as late:
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        assert str(late.value) == (
            f"modify of {coid} came too late: the order was already FILLED at IB (3 "
            "filled; the fill stands); nothing was changed"
        )
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.FILLED
        assert await d.said_in_log(LogLevel.ERROR) == []
        assert d.broker.health_state.errors["tws_104"] == 0


async def test_a_modify_sent_after_ib_async_saw_the_fill_came_too_late() -> None:
    """The order's Filled status has reached ib_async (its Trade is Filled) but the
    adapter's queue is still on the fill (its commission report comes late, so the fill
    waits for it). The trader's modify passes the desk's checks and reaches
    `ib.placeOrder`, which sent the modify and then failed its own check with a bare
    AssertionError (the trader read "Modify failed: <id>: "). Nothing is sent now."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        outcome: list[BaseException | str] = []
        sent: list[asyncio.Future[None]] = []

        async def modify() -> None:
            try:
                await d.broker.modify(coid, limit_price=Decimal("149.00"))
                outcome.append("done")
            except BaseException as exc:
                outcome.append(exc)

        def filled(trade: Any) -> None:  # the trader presses modify as the fill comes in
            if trade.orderStatus.status == "Filled" and not outcome:
                outcome.append("sent")
                sent.append(asyncio.ensure_future(modify()))

        d.broker.ib.orderStatusEvent += filled
        fake.hold_next_commissions()  # the fill's commission report comes late
        await fake.fill(order.order_id)
        await d.wait(lambda: len(outcome) > 1, "the modify's outcome")
        await fake.release_commissions()
        await d.broker.settle()
        result = outcome[1]
        assert isinstance(result, ModifyTooLate), f"modify ended with {result!r}"
        assert statuses(await d.events(), coid)[-1] is S.FILLED


async def test_a_modify_of_an_order_the_adapter_saw_fill_came_too_late() -> None:
    """The fill has been journaled by the adapter, the desk has not applied it yet: as
    a cancel, the modify came too late (it read "ib has no order ...: nothing was sent",
    a red "Modify failed")."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        with pytest.raises(ModifyTooLate):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
