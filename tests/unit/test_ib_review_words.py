"""The IB adapter says and journals prices on the instrument's tick places. TWS's terms
come as floats: a change made in TWS's window was journaled at 147.7 and said
`changed at TWS: quantity 10 -> 15, limit 147.8 -> 147.7` (the docs show `149.50 ->
149.00`), and the modify dialog, which shows the order's limit as the journal holds it,
read `Price 147.7` while the Orders row read 147.70. The desk's own modify TWS confirmed
was journaled at 148.1 alike, and an execution IB corrected was said `0 @ 149.5`. The
real ib_async client against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import LogLevel
from silvertine_tui.ui.screens.modify import _text as dialog_text
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, shown, updates

S = OrderStatus


async def test_a_change_in_tws_is_journaled_and_said_on_the_tick() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="10", limit="147.80"))
        await d.broker.settle()
        [order] = fake.orders
        # First only the size (the limit journaled as TWS sends it back), then the price.
        await fake.modify_in_tws(order.order_id, quantity="12")
        await d.broker.settle()
        await fake.modify_in_tws(order.order_id, quantity="15", limit="147.70")
        await d.broker.settle()
        events = await d.events()
        first, second = [u for u in updates(events, coid) if u.reason.startswith("changed")]
        assert first.reason == "changed at TWS: quantity 10 -> 12", first.reason
        assert str(first.limit_price) == "147.80", first
        assert second.reason == "changed at TWS: quantity 12 -> 15, limit 147.80 -> 147.70", (
            second.reason
        )
        assert str(second.limit_price) == "147.70", second
        order_now = shown(events, coid)
        assert (order_now.quantity, order_now.limit_price) == (15, Decimal("147.70"))
        # The modify dialog's Price field shows the order's limit as the journal has it.
        assert dialog_text(order_now.limit_price) == "147.70"


async def test_the_desk_s_own_modify_is_journaled_on_the_tick() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        await d.broker.settle()
        await d.broker.modify(coid, limit_price=Decimal("148.10"))
        await d.broker.settle()
        last = updates(await d.events(), coid)[-1]
        assert (last.status, last.reason) == (S.NEW, "modify accepted"), last
        assert str(last.limit_price) == "148.10", last
        assert dialog_text(shown(await d.events(), coid).limit_price) == "148.10"


async def test_a_correction_the_desk_cannot_take_says_the_price_on_the_tick() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        execution = await fake.fill(order.order_id, "1")
        await d.broker.settle()
        await fake.correct_execution(execution, shares="0")  # to no shares: not taken
        await d.broker.settle()
        [said] = await d.said_in_log(LogLevel.ERROR)
        assert coid[-8:] in said
        assert ": 0 @ 149.50) and the desk cannot take the correction" in said, said
