"""The command palette's key bar lists the keys that work in the palette."""

from __future__ import annotations

from textual.command import CommandPalette

from silvertine_tui.ui.widgets.keybar import KeyBar

from .conftest import Desk
from .test_quote_drawing import Terminal, capture


def bar_text(bar: KeyBar) -> str:
    return "".join(bar.render_line(0).text)


async def test_the_palette_lists_its_own_keys(make_desk) -> None:
    desk: Desk = make_desk()
    app = desk.app
    updates = capture(app)
    term = Terminal(80, 24)
    async with app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await pilot.press("2")  # the ticket: f9 Send, ^s Buy/Sell on the bar
        await desk.settle(pilot)
        bar = app.screen.query_one(KeyBar)
        assert "f9 Send" in bar_text(bar)
        await pilot.press("ctrl+p")
        await desk.settle(pilot)
        assert isinstance(app.screen, CommandPalette)
        shown = bar_text(bar)
        assert "Send" not in shown, shown
        assert "Buy/Sell" not in shown, shown
        assert "esc Close" in shown, shown
        assert "KILL" in shown, shown  # a priority key works there too
        term.show(updates)
        assert "esc Close" in term.line(23), term.line(23)  # and the terminal shows it
        await pilot.press("escape")
        await desk.settle(pilot)
        assert "f9 Send" in bar_text(bar)
        await desk.session.close()
