"""NOT SENT lists every rule broken, a field left empty beside them: a STOP_LIMIT with
Qty 1.5 on AAPL (a lot of 1) and no Stop read `NOT SENT: 1 problem / Stop: required`,
the lot said only once the Stop was filled in (a trader's review on the IB desk). The
grid rules of each field typed are listed with the empty field's (never a notional:
that needs the whole order)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderType, Side
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk


async def test_a_quantity_off_its_lot_is_said_beside_an_empty_field(make_desk) -> None:
    """(A stop-limit prefilled with one price: it goes into the Stop, the Price left
    empty.)"""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = desk.app.screen.query_one(Ticket)
        ticket.prefill(
            instrument="AAPL.PAPER",
            side=Side.BUY,
            price=Decimal("190.005"),  # off the tick of 0.01 too
            quantity=Decimal("1.5"),
            order_type=OrderType.STOP_LIMIT,
        )
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert not checked.ok
        rules = {(p.field, p.rule) for p in checked.problems}
        assert ("limit_price", "required") in rules
        assert ("quantity", "lot_size") in rules, checked.problems
        assert ("stop_price", "tick_size") in rules, checked.problems
        assert not [p for p in checked.problems if "notional" in p.rule]
        await desk.session.close()
