"""The quit dialog's "Cancel & quit" is on a key no pane uses for one order: in the
Orders pane `c` cancels the selected order, and `q` pressed by mistake then `c` out of
habit cancelled every working order and quit, with no second question."""

from __future__ import annotations

from textual.widgets import Button, Static

from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.keymap import BY_ID, SPECS
from silvertine_tui.ui.screens.quit import QuitScreen

from .conftest import Desk
from .test_dialog_keys import bar_line
from .test_quit_and_orders import resting_orders


def test_cancel_and_quit_is_on_no_key_a_pane_cancels_one_order_with() -> None:
    quit_keys = set(BY_ID["quit.cancel"].keys.split(","))
    pane_keys = {
        key
        for spec in SPECS
        if spec.scope in {"blotter", "positions", "signals", "watchlist", "log"}
        for key in spec.keys.split(",")
    }
    assert not quit_keys & pane_keys


async def test_c_in_the_quit_dialog_cancels_nothing_and_does_not_quit(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        await pilot.press("3")  # the Orders pane, where `c` cancels the selected order
        await desk.settle(pilot)
        await pilot.press("q")  # by mistake
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        await pilot.press("c")  # out of habit
        for _ in range(50):
            await pilot.pause(0.01)
        await desk.settle(pilot)
        assert desk.app.screen is dialog  # still asking
        assert not desk.app._exit
        assert isinstance(dialog, QuitScreen)
        assert not dialog.busy
        oms = desk.session.engine.oms
        assert [oms.orders[c].order.status for c in coids] == [OrderStatus.NEW] * 2

        # The dialog names the key that does cancel, and how it is typed.
        body = str(dialog.query_one("#dialog-body", Static).render())
        assert body.startswith("C (shift+c): cancel them all and quit once they are done.\n")
        labels = [str(b.label) for b in dialog.query(Button)]
        # (`l` quits: on the memory bus the paper desk's orders end with it.)
        assert labels == ["Cancel & quit (C)", "Quit (l)", "Stay (esc)"]
        assert " C Cancel & quit " in bar_line(desk)
        assert " l Quit " in bar_line(desk)  # as its button says (its bar said Leave & quit)

        await pilot.press("escape")  # Stay: back to the desk, the orders as they were
        await desk.settle(pilot)
        assert desk.app.screen is not dialog
        assert not desk.app._exit
        assert [oms.orders[c].order.status for c in coids] == [OrderStatus.NEW] * 2
        await desk.session.close()


async def test_shift_c_cancels_them_and_quits(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        coids = await resting_orders(desk, pilot, 2)
        await pilot.press("q")
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, QuitScreen)
        await pilot.press("C")
        for _ in range(200):
            await pilot.pause(0.01)
            if desk.app._exit:
                break
        assert desk.app._exit
        assert dialog.outcome == "Every order is cancelled. Quitting."
        oms = desk.session.engine.oms
        assert [oms.orders[c].order.status for c in coids] == [OrderStatus.CANCELED] * 2
