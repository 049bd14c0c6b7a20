"""A post-only order priced to take (the Binance drill): a post-only buy at the ask got
no word before Binance's -2010 "Order would immediately match and take.", and a working
post-only buy repriced to the ask was lost: Binance's cancelReplace cancelled it,
refused the replacement (-2021), and nothing was working.

Now the ticket warns (`[post_only_takes]`: the quote may move first, so it still
sends), the modify dialog refuses such a change on its Price before anything is sent,
and the adapter, the last line, asks Binance's book before a cancelReplace and refuses
it, the order working as it was. The real app, session and python-binance against the
fake Binance (book 1,999.5 / 2,000.5)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Input

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.conftest import state_home  # noqa: F401 (autouse)
from tests.ui.conftest import Desk, clock, make_desk, until  # noqa: F401
from tests.ui.test_modify_keeps_order_binance import (
    KEY,
    REPLACE,
    binance_desk,
    open_at_binance,
    open_modify,
    problems_of,
)
from tests.ui.test_ticket_capabilities import choice
from tests.ui.test_trading_keys import open_buy_ticket

CID = "stmxpo000000000001"


def post_only_buy(price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=CID,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.1"),
        limit_price=Decimal(price),
        tif=TimeInForce.GTC,
        post_only=True,
    )


async def test_the_ticket_warns_of_a_post_only_price_that_takes(make_desk) -> None:  # noqa: F811
    async with binance_desk(make_desk, {"USDT": "1000", "ETH": "1"}) as (desk, _fake, pilot):
        ticket: Ticket = await open_buy_ticket(desk, pilot, KEY)
        ticket.query_one("#t-quantity", Input).value = "0.1"
        choice(ticket, "post_only").value = "yes"
        prices = {"2000.5": "ask 2,000.50", "2001": "ask 2,000.50", "2000": None}
        for price, at in prices.items():
            ticket.query_one("#t-limit_price", Input).value = price
            await desk.settle(pilot)
            checked = ticket.run_check()
            assert checked.ok, checked.problems  # a warning: the ask may move first
            said = [str(w) for w in checked.warnings if w.rule == "post_only_takes"]
            if at is None:
                assert said == [], said
                continue
            shown = f"{Decimal(price):,.2f}"
            assert said == [
                f"Price: a post-only buy at {shown} takes at the {at} now: binance rejects "
                "it unless the ask moves first [post_only_takes]"
            ], said
        # A sell at the bid, likewise.
        choice(ticket, "side").value = "SELL"
        ticket.query_one("#t-limit_price", Input).value = "1999.5"
        await desk.settle(pilot)
        said = [str(w) for w in ticket.run_check().warnings if w.rule == "post_only_takes"]
        [sell] = said
        assert "post-only sell at 1,999.50 takes at the bid 1,999.50" in sell, sell
        # Sent as shown, Binance's answer is the reject the warning said.
        ticket.query_one("#t-limit_price", Input).value = "2000.5"
        choice(ticket, "side").value = "BUY"
        await desk.settle(pilot)
        await pilot.press("f9")
        oms = desk.session.engine.oms
        await until(pilot, "the reject", lambda: [v.order.status for v in oms.orders.values()]
                    == [OrderStatus.REJECTED])  # fmt: skip
        [view] = oms.orders.values()
        assert "immediately match" in view.order.reason, view.order.reason


async def test_a_post_only_order_repriced_to_take_is_refused_and_keeps_working(
    make_desk,  # noqa: F811
) -> None:
    async with binance_desk(make_desk, {"USDT": "1000"}) as (desk, fake, pilot):
        engine = desk.session.engine
        await engine.submit(post_only_buy("1990"))
        await until(pilot, "NEW", lambda: engine.oms.orders[CID].order.status
                    is OrderStatus.NEW)  # fmt: skip
        working = [("BUY", Decimal("0.1"), Decimal(1990), Decimal(0))]

        # The dialog refuses it on the Price, before anything is sent.
        screen = await open_modify(desk, pilot)
        screen.query_one("#m-limit_price", Input).value = "2001"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is screen
        assert problems_of(screen) == (
            "Price: a post-only buy at 2,001.00 takes at the ask 2,000.50 now: a change at "
            "binance cancels the order and places it anew, which binance would refuse, and "
            "nothing would be working; price it to rest, or cancel it and place a LIMIT "
            "without post-only [post_only_takes]"
        )
        assert REPLACE not in fake.requests
        await pilot.press("escape")
        await desk.settle(pilot)

        # The adapter, asked past the dialog, asks Binance's book and refuses it.
        with pytest.raises(OrderRejected) as refused:
            await engine.modify(CID, limit_price=Decimal("2001"))
        assert "post-only at 2,001.00 takes at Binance's ask 2,000.50" in str(refused.value)
        await desk.settle(pilot)
        assert REPLACE not in fake.requests
        assert open_at_binance(fake) == working
        assert engine.oms.orders[CID].order.status is OrderStatus.NEW

        # A price that rests goes.
        await engine.modify(CID, limit_price=Decimal("1995"))
        await until(pilot, "the change", lambda: open_at_binance(fake)
                    == [("BUY", Decimal("0.1"), Decimal(1995), Decimal(0))])  # fmt: skip
        assert fake.requests.count(REPLACE) == 1
