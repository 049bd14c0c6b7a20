"""The modify dialog names the order by the short id the blotter, the confirmation and
the Log use (`o7yorcu4`, not `stmxbmzzt25fo7yorcu4`), and says "enter asks first" only
of a change enter would ask about: a change the check refuses (a sell over the
position) says only why it is refused (the venue drive's p120_19, p80_20)."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input, Static

from silvertine_tui.domain import OrderRequest, OrderType, Side
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen

from .test_modify_sellable import SELL, open_modify, problems_text, two_held_one_selling

BUY = "st000000000000000501"


def said(screen: ModifyScreen, name: str) -> str:
    return str(screen.query_one(f"#{name}", Static).render())


async def test_the_title_names_the_order_by_its_short_id(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await two_held_one_selling(desk, pilot)
        screen = await open_modify(desk, pilot)
        title = said(screen, "dialog-title")
        assert title == f"Modify {short_id(SELL)}: SELL ETHUSDT.PAPER LIMIT"
        assert SELL not in title
        await desk.session.close()


async def test_a_refused_change_does_not_say_enter_asks_first(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await two_held_one_selling(desk, pilot)
        screen = await open_modify(desk, pilot)
        quantity = screen.query_one("#m-quantity", Input)
        quantity.value = "3"  # 3 times the order's 1, and over the position of 2
        await pilot.press("enter")
        await desk.settle(pilot)
        assert not isinstance(desk.app.screen, ConfirmScreen)
        assert problems_text(screen).endswith("[sellable]")
        preview = said(screen, "m-preview")
        assert preview.startswith("notional ")
        assert "asks first" not in preview
        # Within the position, doubled: it goes without a question, and no note says
        # otherwise.
        quantity.value = "2"
        await desk.settle(pilot)
        assert "asks first" not in said(screen, "m-preview")
        await desk.session.close()


async def test_a_change_that_asks_still_says_so(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = desk.app.model.quotes["ETHUSDT.PAPER"].quote.ask
        assert ask is not None
        price = (ask * Decimal("0.99")).quantize(Decimal("0.01"))
        await desk.session.engine.submit(
            OrderRequest(
                client_order_id=BUY,
                broker="paper",
                account="main",
                instrument="ETHUSDT.PAPER",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=Decimal("0.1"),
                limit_price=price,
            )
        )
        await desk.settle(pilot)
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        screen.query_one("#m-quantity", Input).value = "0.5"
        await desk.settle(pilot)
        assert said(screen, "m-preview").endswith("qty 5 times the order's 0.1: enter asks first")
        await desk.session.close()
