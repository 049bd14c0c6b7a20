"""When a toast goes, the terminal shows again what was under it.

At 80x24 the pane bar kept a gone toast's text for good (`3 Orderslast renewal
failed: Red6 Healthdis://...`, panes 4, 5, 7 and 8 unnamed): the desk reads the
regions of widgets in panes out of view every frame (a hidden pane's table asks how
many rows it shows), and Textual rebuilds its map of the screen from the widgets then
mounted; one such read between a toast leaving the screen's widgets and the layout
that follows had the layout find the toast in neither map, and nothing under it was
drawn again."""

from __future__ import annotations

from textual.widgets._toast import Toast, ToastHolder

from silvertine_tui.ui.widgets.health import HealthPane
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk
from .test_quote_drawing import Terminal, capture, expected

CLAIMS = (
    "the last renewal failed: Redis at redis://127.0.0.1:16391 is unreachable "
    "(ConnectionError: Error 111 connecting to 127.0.0.1:16391.)"
)


def screen_text(desk: Desk, width: int, height: int) -> list[str]:
    """What a whole repaint of the screen shows, line by line."""
    want = expected(desk.app.screen._compositor.render_strips(), width)
    return ["".join(cell[0] for cell in want[y]) for y in range(height)]


async def test_the_pane_bar_is_drawn_again_when_a_toast_goes(make_desk) -> None:
    desk: Desk = make_desk()
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = app.screen
        await pilot.press("3")  # the Orders pane: Quotes and Health out of view
        await desk.settle(pilot)
        term = Terminal(80, 24)
        term.show(updates)
        app.notify(CLAIMS, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        term.show(updates)
        assert any("Claims not renewed" in term.line(y) for y in range(3))
        bar = screen_text(desk, 80, 24)
        assert "renewal" in "".join(bar[:3])  # the toast is on screen

        # A pane out of view changes (the Health pane's figures), as every frame; the
        # desk's frame timer waits, so that nothing reads a region before the toast goes.
        timer = app._frame_timer
        assert timer is not None
        timer.pause()
        screen.query_one(HealthPane).refresh()
        await pilot.pause()
        holder = screen.query_one(ToastHolder)
        await holder.remove()  # as the toast's timer does (`Toast._expire`)
        # The frame reads a hidden table's rows before the layout that follows.
        assert screen.query_one(Watchlist).visible_range is not None
        timer.resume()
        await desk.settle(pilot)
        term.show(updates)

        assert not screen.query(Toast)
        want = screen_text(desk, 80, 24)
        assert "4 Positions 5 Balances 6 Health 7 Log 8 Signals" in want[1]
        for y in range(24):
            assert term.line(y) == want[y], f"line {y}: {term.line(y)!r}"
        await desk.session.close()
