"""The quit dialog's title follows the working orders' count while it is open: an
order a strategy sends (or one that ends) meanwhile moves it. It said the count as the
dialog opened ("Quit with 1 working order(s)?" over two), while "Cancel & quit"
cancelled both."""

from __future__ import annotations

from textual.widgets import Static

from silvertine_tui.ui.screens.quit import QuitScreen

from .conftest import Desk
from .test_quit_and_orders import limit, resting_orders


def title(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#dialog-title", Static).render())


async def test_the_title_counts_an_order_sent_while_the_dialog_is_open(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        [first] = await resting_orders(desk, pilot, n=1)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(desk.app.screen, QuitScreen)
        assert title(desk) == "Quit with 1 working order(s)?"

        price = desk.session.engine.oms.working()[0].order.limit_price
        assert price is not None
        await desk.session.engine.submit(limit("st000000000000000955", f"{price - 1}"))
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert title(desk) == "Quit with 2 working order(s)?"

        await desk.session.engine.cancel(first)
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert title(desk) == "Quit with 1 working order(s)?"
        await desk.session.engine.cancel("st000000000000000955")
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert title(desk) == "Quit with 0 working order(s)?"
        await pilot.press("escape")
        await desk.session.close()
