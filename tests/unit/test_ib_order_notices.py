"""What TWS says about an order besides its statuses: warnings that leave it working
(2109, 399, 404: the order is taken), errors that end a working order by IB's own
hand (a 201 after it was accepted), and refusals of a modify after which the order
works on. Each reaches the trader as what it is, and the order's later end is
journaled. Against the fake TWS, with the real ib_async client.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import OrderStatus, TimeInForce
from silvertine_tui.events.payloads import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, statuses, updates

S = OrderStatus
OUTSIDE_RTH = (
    2109,
    "Order Event Warning:Attribute 'Outside Regular Trading Hours' is ignored based on the "
    "order type and destination. PlaceOrder is now being processed.",
)
NOT_UNTIL_OPEN = (
    399,
    "Order Message:\\nBUY 3 AAPL NASDAQ.NMS\\nWarning: your order will not be placed at the "
    "exchange until 2026-12-07 09:30:00 US/Eastern",
)


@pytest.mark.parametrize("warning", [OUTSIDE_RTH, NOT_UNTIL_OPEN], ids=["2109", "399"])
async def test_a_warning_before_the_order_s_first_status_is_no_refusal(
    warning: tuple[int, str],
) -> None:
    """Every error frame with the order's id was taken for the answer to the place: the
    order was journaled REJECTED while it worked at IB, and its fill was attached to a
    rejected order. A warning now leaves the place waiting for TWS's status, and is
    said in the Log."""
    code, text = warning
    async with FakeTws() as fake, desk(fake) as d:
        fake.warn_next_order(code, text)
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id)
        events = await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.FILLED]
        assert sum(f.quantity for f in fills(events, coid)) == 3
        notes = await d.said_in_log(LogLevel.WARNING)
        assert any(f"{code}:" in n and coid[-8:] in n for n in notes), notes


async def test_a_warning_before_a_modify_s_answer_is_no_refusal() -> None:
    """A 399 ahead of the modify's openOrder was taken for its refusal: the desk said
    "the order works on unchanged" and kept 149.50 while TWS had 149.20."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        fake.warn_next_order(*NOT_UNTIL_OPEN)
        await d.broker.modify(coid, limit_price=Decimal("149.20"))
        [order] = fake.orders
        assert order.ticket.limit_price == Decimal("149.20")
        events = await d.wait_journal(
            lambda ev: any(u.limit_price == Decimal("149.20") for u in updates(ev, coid)),
            "the new price",
        )
        assert statuses(events, coid)[-1] is S.NEW


@pytest.mark.parametrize("end", ["cancel", "new_day"])
async def test_the_end_of_an_order_whose_modify_was_refused_is_journaled(end: str) -> None:
    """After a refused modify ib_async holds the order Cancelled (its guess), and the
    guess was undone only before the next modify or cancel: IB's own cancel (or the
    DAY order's expiry) changed nothing for ib_async, so no status reached the desk,
    which showed the order working for ever."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50", tif=TimeInForce.DAY))
        [order] = fake.orders
        fake.reject_next_order(201, "Order rejected - reason:Modify not allowed now")
        with pytest.raises(OrderRejected):
            await d.broker.modify(coid, limit_price=Decimal("149.00"))
        assert d.broker.knows_order(coid)
        if end == "cancel":
            await fake.cancel_by_venue(order.order_id)
        else:
            await fake.new_trading_day()
        assert order.status == "Cancelled"
        events = await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
        assert statuses(events, coid)[-1] is S.CANCELED
        await d.wait(lambda: not d.broker.knows_order(coid), "the order ended")


async def test_an_error_that_ends_a_working_order_is_said_and_the_order_ends() -> None:
    """IB ended a working order with a 201 (not 202), then Cancelled: the error was
    only logged to the file, and the Cancelled after ib_async's own guess changed
    nothing, so the order showed NEW for ever. Now the error is said (an error line:
    a toast) and the order ends CANCELED."""
    reason = "Order rejected - reason:The contract is not available for short sale"
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        await fake.cancel_by_venue(order.order_id, code=201, reason=reason)
        events = await d.wait_journal(lambda ev: S.CANCELED in statuses(ev, coid), "CANCELED")
        assert statuses(events, coid) == [S.PENDING_NEW, S.NEW, S.CANCELED]
        errors = await d.said_in_log(LogLevel.ERROR)
        assert any("201" in e and "short sale" in e and coid[-8:] in e for e in errors), errors


async def test_a_fill_at_a_price_between_ticks_is_journaled_as_it_traded() -> None:
    """A price improvement (149.4951 on a 0.01 tick) was rounded to the tick: the fill
    said 149.50, the order's average 149.4951, and the P&L was off IB's statement."""
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="100", limit="149.50"))
        [order] = fake.orders
        await fake.fill(order.order_id, price="149.4951")
        events = await d.wait_journal(lambda ev: bool(fills(ev, coid)), "the fill")
        assert [f.price for f in fills(events, coid)] == [Decimal("149.4951")]


async def test_ib_s_reason_for_cancelling_an_order_itself_is_journaled() -> None:
    """TWS's 202 says why IB cancelled an order (`Order Canceled - reason:...`); the
    reason was dropped and the order read CANCELED as if the trader had cancelled it.
    A cancel we sent (an empty reason) says nothing more."""
    why = "Order cancelled by system due to insufficient margin"
    async with FakeTws() as fake, desk(fake) as d:
        theirs = await d.broker.place(d.request(qty="3", limit="149.50"))
        ours = await d.broker.place(d.request(qty="2", limit="149.40"))
        by_ib, by_us = fake.orders
        await fake.cancel_by_venue(by_ib.order_id, reason=f"Order Canceled - reason:{why}")
        await d.broker.cancel(ours)
        events = await d.wait_journal(
            lambda ev: S.CANCELED in statuses(ev, theirs) and S.CANCELED in statuses(ev, ours),
            "both CANCELED",
        )
        [cancelled] = [u for u in updates(events, theirs) if u.status is S.CANCELED]
        assert cancelled.reason == f"cancelled by IB: {why}"
        [mine] = [u for u in updates(events, ours) if u.status is S.CANCELED]
        assert mine.reason == ""
        assert by_us.status == "Cancelled"
