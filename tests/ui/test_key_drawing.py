"""What a key changes reaches the terminal from the callback that handled the key, not
after the turns of the loop Textual's messages take to tell the screen (the changed
widget's idle, an Update, the screen's idle, its update timer): under the working
desk's firehose those turns held the ticket `b` filled back 20-30 ms."""

from __future__ import annotations

from decimal import Decimal

from textual._wait import wait_for_idle
from textual.widgets import Input

from silvertine_tui.domain import Side

from .test_quote_drawing import Terminal, capture
from .test_trading_keys import select_quote, ticket_of
from .test_typeahead import burst


async def test_the_ticket_a_key_fills_is_drawn_without_the_screens_update_timer(
    make_desk, monkeypatch
) -> None:
    desk = make_desk()
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await select_quote(desk, pilot, "ETHUSDT.PAPER")
        await pilot.press("b", "escape")
        await pilot.pause()
        screen = app.screen
        term = Terminal(120, 36)
        term.show(updates)
        # From here the screen's update timer never runs: only a draw made where the
        # key is handled reaches the terminal.
        screen._update_timer.pause()
        monkeypatch.setattr(screen._update_timer, "resume", lambda: None)
        burst(app, "s")  # as the terminal's reader posts it (`pilot.press` draws itself)
        await wait_for_idle(0)
        ticket = ticket_of(desk)
        assert ticket.draft().side is Side.SELL
        bid = app.model.quotes["ETHUSDT.PAPER"].quote.bid
        price = ticket.query_one("#t-limit_price", Input)
        assert Decimal(price.value) == bid
        term.show(updates)
        row = term.line(price.region.y)
        assert price.value in row[price.region.x : price.region.right], row
        side_row = term.line(ticket.query_one("#t-side").region.y)
        assert "SELL" in side_row, side_row
        await desk.session.close()
