"""A dialog's key bar lists the keys that work under it, and only those: the desk's
keys (F9, b, 1..8, ctrl+x) do nothing while a dialog is open, the kill switch and
ctrl+c still answer."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from silvertine_tui.domain import TradingState
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.help import HelpScreen
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.keybar import KeyBar

from .conftest import Desk, make_settings
from .test_quit_and_orders import resting_orders

DESK_KEYS = (" f9 ", "Send", " b Buy", " s Sell", " ^x Cancel all", " 1 ", "Theme", "Zoom")


def bar_line(desk: Desk) -> str:
    bar = desk.app.screen.query_one(KeyBar)
    return bar.render().plain[: bar.size.width]


async def resting_order(desk: Desk, pilot) -> None:
    await resting_orders(desk, pilot, n=1)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
async def test_the_confirmation_bar_lists_its_keys_and_the_kill_switch(
    make_desk, size: tuple[int, int]
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await resting_order(desk, pilot)
        await pilot.press("ctrl+x")
        await pilot.pause()
        cancel_all = desk.app.screen
        assert isinstance(cancel_all, ConfirmScreen)
        line = bar_line(desk)
        # `y` named as the dialog's button names it, not the key map's generic "Yes".
        for shown in (" y Cancel all ", " esc No ", " ^\\ KILL ", " ^c Quit "):
            assert shown in line, f"{shown!r} not in {line!r}"
        for hidden in DESK_KEYS:
            assert hidden not in line, f"{hidden!r} in {line!r}"
        # The buttons say what the bar says: over orders, "Cancel" read as cancelling them.
        assert str(cancel_all.query_one("#yes", Button).label) == "Cancel all (y)"
        assert str(cancel_all.query_one("#no", Button).label) == "No (n/esc)"
        # What the bar says works does: the kill switch asks over the dialog.
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        kill = desk.app.screen
        assert isinstance(kill, ConfirmScreen)
        assert kill.id == "kill"
        assert " ^\\ KILL " in bar_line(desk)
        assert " y KILL " in bar_line(desk)
        assert " y Yes " not in bar_line(desk)
        await pilot.press("y")
        await desk.settle(pilot)
        assert desk.session.engine.gate.state is TradingState.HALTED
        assert desk.session.engine.oms.working() == []
        # Back on the cancel-all dialog, then the desk with its own bar again.
        assert desk.app.screen is cancel_all
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(desk.app.screen, MainScreen)
        assert " ^x Cancel all " in bar_line(desk) or size == (80, 24)
        await desk.session.close()


async def test_a_click_on_kill_in_a_dialog_bar_asks_to_kill(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(desk.app.screen, HelpScreen)
        line = bar_line(desk)
        x = line.index("KILL")
        assert await pilot.click(KeyBar, offset=(x, 0))
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        assert desk.app.screen.id == "kill"
        await desk.session.close()


async def test_help_history_and_modify_say_how_to_leave(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await resting_order(desk, pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(desk.app.screen, HelpScreen)
        assert bar_line(desk).startswith(" esc Close ")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(desk.app.screen, MainScreen)

        await pilot.press("3", "h")
        await pilot.pause()
        assert isinstance(desk.app.screen, OrderHistoryScreen)
        line = bar_line(desk)
        assert line.startswith(" esc Close ")
        assert " ^\\ KILL " in line
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("m")
        await pilot.pause()
        assert isinstance(desk.app.screen, ModifyScreen)
        line = bar_line(desk)
        assert line.startswith(" esc Close ")  # "Cancel" read as cancelling the order
        assert " ^\\ KILL " in line
        assert " y " not in line  # typed into the fields
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(desk.app.screen, MainScreen)
        assert len(desk.session.engine.oms.working()) == 1  # nothing was changed
        await desk.session.close()


async def test_a_dialog_bar_shows_the_remapped_kill_switch(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(keymap={"app.kill_switch": "ctrl+k"}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("f1")
        await pilot.pause()
        line = bar_line(desk)
        assert " ^k KILL " in line
        assert "^\\" not in line
        await pilot.press("ctrl+k")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        assert desk.app.screen.id == "kill"
        await desk.session.close()


async def test_the_quit_dialog_bar_does_not_offer_quit(make_desk) -> None:
    """In the quit dialog ctrl+c and q do nothing (the dialog is the answer), so its
    bar lists the dialog's three keys and the kill switch, not `^c Quit`."""
    from silvertine_tui.ui.screens.quit import QuitScreen

    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await resting_order(desk, pilot)
        await pilot.press("q")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        line = bar_line(desk)
        # (`l Quit`: on the memory bus the paper desk's orders end with it.)
        for shown in (" C Cancel & quit ", " l Quit ", " esc Stay ", " ^\\ KILL "):
            assert shown in line, f"{shown!r} not in {line!r}"
        assert " ^c Quit " not in line
        assert " q Quit " not in line
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert desk.app.screen is dialog
        assert not desk.app._exit
        await pilot.press("escape")
        await pilot.pause()
        assert " ^c Quit " in bar_line(desk) or " q Quit " in bar_line(desk)
        await desk.session.close()
