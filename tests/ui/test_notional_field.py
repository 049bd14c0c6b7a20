"""A notional over the limit is quantity times price: both count. The modify dialog
says it on the field the change touched (a new price alone broke it: it was blamed on
the quantity the trader never touched); the ticket says what it is made of."""

from __future__ import annotations

from textual.widgets import Input, Static

from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk, limit_buy
from .test_trading_keys import open_buy_ticket, type_into

BTC = "BTCUSDT.PAPER"
COID = "st000000000000000901"


async def modify_dialog(desk: Desk, pilot) -> ModifyScreen:
    """The modify dialog of a resting buy of 1.5 BTC at 63,000.00 (notional 94,500.00,
    under the desk's limit of 100,000.00)."""
    await desk.step(pilot, 1)
    await desk.session.engine.submit(limit_buy(COID, BTC, "1.5", "63000.00"))
    await desk.settle(pilot)
    await pilot.press("3", "home", "m")
    await pilot.pause()
    dialog = desk.app.screen
    assert isinstance(dialog, ModifyScreen)
    return dialog


def problems(dialog: ModifyScreen) -> str:
    return str(dialog.query_one("#m-problems", Static).render())


async def test_a_new_price_that_breaks_the_notional_is_said_on_the_price(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        dialog = await modify_dialog(desk, pilot)
        # 3% above the market: inside the collar, 1.5 x 67,000 = 100,500 over the limit.
        dialog.query_one("#m-limit_price", Input).value = "67000.00"
        await pilot.press("enter")
        await pilot.pause()
        assert desk.app.screen is dialog  # refused in the dialog, nothing sent
        assert problems(dialog) == (
            "Price: notional 100,500.00 USDT > max 100,000.00 (Qty x Price) [max_notional]"
        )
        assert desk.session.engine.oms.orders[COID].order.limit_price == 63000
        await desk.session.close()


async def test_a_new_quantity_that_breaks_the_notional_is_said_on_the_qty(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        dialog = await modify_dialog(desk, pilot)
        dialog.query_one("#m-quantity", Input).value = "1.6"
        await pilot.press("enter")
        await pilot.pause()
        assert problems(dialog) == (
            "Qty: notional 100,800.00 USDT > max 100,000.00 (Qty x Price) [max_notional]"
        )
        await desk.session.close()


async def test_the_ticket_says_the_notional_is_qty_times_price(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, BTC)
        await type_into(pilot, "1")
        ticket.query_one("#t-limit_price", Input).value = "200000.00"
        await pilot.pause()
        listed = ticket.query_one("#t-problems", TextBlock).text.plain.splitlines()
        assert (
            "Qty: notional 200,000.00 USDT > max 100,000.00 (Qty x Price) [max_notional]" in listed
        )
        await desk.session.close()
