"""The modify dialog says so while the order's instrument has a crossed quote (the bid
above the ask), in the new-order ticket's words (`orders.crossed_warning`, one source
for both): the ticket said `quote crossed (...): no mid; the collar goes by the mark
before it, mid ...`; the dialog changed an order on the same crossed quote with no
word of it. The warning follows the quote while the dialog is open (it comes when the
quote crosses, goes when it uncrosses) and is said, not refused: a change still goes.
"""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Quote
from silvertine_tui.events import QuoteEvent, encode
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, sample_orders
from .test_trading_keys import open_buy_ticket

BTC = "BTCUSDT.PAPER"
RESTING = "st000000000000000101"  # a BTC buy of 0.05 at 63,500.00 (sample_orders)
CROSSED = "quote crossed (bid 65,010.00 above ask 64,990.00): no mid; "


async def cross(desk: Desk, pilot: Pilot[None]) -> None:
    """BTC's quote crossed on the paper feed: bid 65,010 over ask 64,990."""
    bus = desk.session.bus
    assert isinstance(bus, MemoryBus)
    crossed = Quote(instrument=BTC, bid=Decimal("65010"), ask=Decimal("64990"))
    bus.append_raw(
        bus.layout.md("paper"), encode(QuoteEvent.create("paper", crossed, ts=desk.clock.ns()))
    )
    await desk.settle(pilot)


def warnings_of(screen: ModifyScreen) -> str:
    line = screen.query_one("#m-warnings", Static)
    return str(line.render()) if line.display else ""


async def open_modify(desk: Desk, pilot: Pilot[None]) -> ModifyScreen:
    await pilot.press("3", "home", "m")
    await desk.settle(pilot)
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    assert screen.view.client_order_id == RESTING
    return screen


async def test_the_modify_dialog_warns_of_a_crossed_quote_as_the_ticket_does(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)

        # The quote not crossed: nothing said.
        screen = await open_modify(desk, pilot)
        assert warnings_of(screen) == ""
        # It crosses while the dialog is open: said at the next frame.
        await cross(desk, pilot)
        said = warnings_of(screen)
        assert said.startswith(CROSSED + "the collar goes by the mark before it, mid "), said
        assert said.endswith(" [crossed_quote]"), said
        # Said, not refused: a change still goes.
        screen.query_one("#m-quantity", Input).value = "0.06"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        view = desk.session.projection.order(RESTING)
        assert view is not None
        assert view.order.quantity == Decimal("0.06")

        # The ticket on the same crossed quote says the same words (one source).
        ticket: Ticket = await open_buy_ticket(desk, pilot, BTC)
        ticket.query_one("#t-quantity", Input).value = "0.01"
        ticket.query_one("#t-limit_price", Input).value = "63000"
        await desk.settle(pilot)
        ticket.run_check()
        preview = ticket.query_one("#t-preview", TextBlock).text.plain
        assert said in preview.splitlines(), (said, preview)
        await pilot.press("escape", "escape")
        await desk.settle(pilot)

        # Opened on a crossed quote: said at once. Uncrossed meanwhile: gone.
        screen = await open_modify(desk, pilot)
        assert warnings_of(screen) == said
        await desk.step(pilot, 1)  # the paper market's next quote: not crossed
        assert not desk.app.model.quotes[BTC].crossed
        assert warnings_of(screen) == ""
        await pilot.press("escape")
        await desk.session.close()


async def test_the_dialog_followed_before_it_is_composed_raises_nothing(make_desk) -> None:
    """The desk's frame follows the top dialog whenever it draws (`follow_desk`), also
    before the dialog is composed or while it is taken down: its warning line was
    queried then and `NoMatches` went out of the frame (seen in CI, the dialog of an
    order the kill switch had cancelled at 80x24). Not composed, it says nothing yet,
    and says the warning once it is there."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)
        await desk.step(pilot, 2)
        await cross(desk, pilot)
        shown_dialog = await open_modify(desk, pilot)
        early = ModifyScreen(
            shown_dialog.view, shown_dialog.instrument, desk=desk.app.desk
        )  # (not pushed: nothing composed)
        early.follow_desk()  # raised NoMatches on '#m-warnings'
        await pilot.press("escape")
        await desk.settle(pilot)
        desk.app.push_screen(early)
        await desk.settle(pilot)
        assert desk.app.screen is early
        assert warnings_of(early).startswith(CROSSED)  # said once it is there
        await desk.session.close()
