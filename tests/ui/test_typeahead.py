"""Keys typed faster than the desk handles them go where the key before them sent the
focus. The terminal's reader hands the app every key it has read at once (a quick
typist, or one SSH packet carrying several), and Textual's `Widget.focus` only takes
effect after the keys already waiting: `b` then `10` typed the 1 into the quotes
(the key for pane 1), and `esc` then `s` typed the s into the ticket's field."""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from silvertine_tui.domain import Side
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .test_trading_keys import select_quote, ticket_of


def burst(app, *keys: str) -> None:
    """Every key waiting before the first is handled, as the terminal's reader posts
    what one read brought."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


async def test_keys_after_b_go_to_the_ticket_it_opened(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        burst(desk.app, "b", "1", "0")
        await pilot.pause()
        ticket = ticket_of(desk)
        quantity = ticket.query_one("#t-quantity", Input)
        assert quantity.value == "10"
        assert desk.app.focused is quantity
        assert desk.app.screen.active == "ticket"
        draft = ticket.draft()
        assert (draft.instrument, draft.side) == ("ETHUSDT.PAPER", Side.BUY)
        await desk.session.close()


async def test_a_key_after_escape_is_the_desks_not_the_fields(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("b")
        ticket = ticket_of(desk)
        assert desk.app.focused is ticket.query_one("#t-quantity", Input)
        burst(desk.app, "escape", "s")  # leave the field, then sell
        await pilot.pause()
        draft = ticket.draft()
        assert (draft.instrument, draft.side, draft.quantity) == ("ETHUSDT.PAPER", Side.SELL, "")
        bid = desk.app.model.quotes["ETHUSDT.PAPER"].quote.bid
        assert draft.limit_price == f"{bid:f}"
        burst(desk.app, "escape", "3")  # leave the field, then the orders
        await pilot.pause()
        assert isinstance(desk.app.focused, Blotter)
        assert ticket.query_one("#t-quantity", Input).value == ""
        burst(desk.app, "1", "s")  # the quotes, then sell the selected one
        await pilot.pause()
        assert isinstance(desk.app.screen.query_one(Watchlist), Watchlist)
        assert ticket.draft().side is Side.SELL
        assert desk.app.focused is ticket.query_one("#t-quantity", Input)
        await desk.session.close()
