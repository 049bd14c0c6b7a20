"""A toast under a dialog shows over the header, after the PAPER/LIVE marker and the
trading state, at any size (docs/ui.md, "Toasts"). In the grid (120x36 and up) the
header showed the desk's name between them, and a toast under a dialog, which starts
where the compact header's state ends, covered the state: ` PAPER  SILVERTINE  ▌ kill
switch`, HALTED hidden just after a kill. Under a dialog the header drops the name, as
one pane at a time it always does."""

from __future__ import annotations

import pytest
from textual.widgets._toast import Toast

from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.header import BRAND, MARKER_AND_STATE_CELLS, DeskHeader

from .conftest import Desk, limit_buy

SIZES = [(120, 36), (200, 50), (80, 24)]


def top_line(desk: Desk) -> str:
    """The screen's first line as the terminal gets it (the dialog's toasts over the
    desk's header)."""
    return desk.app.screen._compositor.render_strips()[0].text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_halted_stays_in_sight_under_a_toast_under_a_dialog(make_desk, size) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        cid = "st000000000000000881"
        await desk.session.engine.submit(limit_buy(cid, "ETHUSDT.PAPER", "0.1", "3400.00"))
        await desk.settle(pilot)
        header = desk.app.screen.query_one(DeskHeader)
        if size != (80, 24):
            assert BRAND in str(header.render())  # the desk alone shows its name
        await pilot.press("3", "end", "m")  # the modify dialog on the order
        await desk.settle(pilot)
        modify = desk.app.screen
        assert isinstance(modify, ModifyScreen)
        assert top_line(desk).startswith(" PAPER  ACTIVE "), top_line(desk)
        await pilot.press("ctrl+backslash")  # the kill switch answers under a dialog
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("y")
        await desk.settle(pilot)
        assert desk.app.screen is modify
        assert desk.session.engine.gate.state.value == "HALTED"

        toasts = [t for t in modify.query(Toast) if t.region.area > 0]
        assert toasts, "the kill switch said nothing"
        line = str(header.render())
        end = line.index(" HALTED ") + len(" HALTED ")
        for toast in toasts:
            assert toast.region.y == 0  # over the header, not over the dialog
            assert toast.region.x >= end, f"the toast at {toast.region} covers {line[:end]!r}"
        shown = top_line(desk)
        assert shown.startswith(" PAPER  HALTED "), shown
        assert end <= MARKER_AND_STATE_CELLS
        assert BRAND not in line, line  # under a dialog the header drops the name

        await pilot.press("escape")  # the dialog closes: the desk shows its name again
        await desk.settle(pilot)
        if size != (80, 24):
            assert BRAND in str(header.render())
            assert top_line(desk).startswith(f" PAPER {BRAND} HALTED "), top_line(desk)
        await desk.session.close()
