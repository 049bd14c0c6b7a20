"""One pane at a time (80x24), a toast never covers a zoomed pane's first row (a desk
review). The newest toast shows on the pane bar's row, under the header; a zoom (`z`)
took the pane bar away and moved the pane up into that row, so a toast then covered
the pane's first row: the Quotes' header, the Log's first line, the Orders' header, a
ticket scrolled to its answer. Now the pane bar stays while a pane is zoomed one pane
at a time (it names the pane shown, as it does unzoomed), and the pane's rows start
under it, toast or not. In the grid (120x36) the zoom still takes the whole screen
between the header and the key bar."""

from __future__ import annotations

import pytest

from silvertine_tui.ui.screens.main import Pane

from .conftest import Desk
from .test_toast_fit import screen_lines

TOAST = "no working order selected"


@pytest.mark.parametrize(
    ("key", "first"),
    [("1", " Symbol  "), ("2", " Symbol"), ("3", " Id "), ("7", "14:30:00 ")],
    ids=["quotes", "ticket", "orders", "log"],
)
async def test_at_80x24_a_toast_leaves_a_zoomed_panes_first_row_in_sight(
    make_desk, key: str, first: str
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await pilot.press(key)
        await desk.settle(pilot)
        unzoomed = screen_lines(desk)
        assert unzoomed[2].startswith(first), unzoomed[2]
        await pilot.press("f11")  # (`z` too, where no field has the keyboard)
        await desk.settle(pilot)
        screen = desk.app.screen
        pane = screen.maximized
        assert isinstance(pane, Pane)
        zoomed = screen_lines(desk)
        desk.app.notify(TOAST, severity="warning")
        await desk.settle(pilot)
        lines = screen_lines(desk)
        assert lines[1] == f"▌ {TOAST}", lines[1]  # on the pane bar's row, as unzoomed
        assert lines[0].startswith(" PAPER  ACTIVE "), lines[0]  # the header whole
        # The pane's first row is under the toast's, in sight: it starts where it did.
        assert pane.region.y == 2, pane.region
        assert lines[2] == zoomed[2], (lines[2], zoomed[2])
        assert lines[2].startswith(first), lines[2]
        # Nothing of the pane covered (the Log may have a line more: the toast's own).
        drawn = [y for y in range(2, 23) if zoomed[y].strip()]
        assert [lines[y] for y in drawn] == [zoomed[y] for y in drawn]
        desk.app.clear_notifications()
        await desk.settle(pilot)
        assert screen_lines(desk)[1].startswith("1 Quotes 2 Ticket 3 "), screen_lines(desk)[1]
        await pilot.press("f11")
        await desk.settle(pilot)
        assert screen.maximized is None
        await desk.session.close()


async def test_in_the_grid_a_zoomed_pane_still_has_the_screen(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await pilot.press("7", "z")
        await desk.settle(pilot)
        pane = desk.app.screen.maximized
        assert isinstance(pane, Pane)
        assert (pane.region.y, pane.region.height) == (1, 34)  # under the header, over the keys
        assert not desk.app.screen.query_one("#pane-bar").display
        await desk.session.close()
