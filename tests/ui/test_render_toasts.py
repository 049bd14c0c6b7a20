"""Toasts in a real terminal: shown once (under a dialog, never on the desk behind it
too), and what a toast leaves or uncovers is drawn again."""

from __future__ import annotations

from silvertine_tui.ui.screens.confirm import ConfirmScreen

from .conftest import Desk
from .test_quote_drawing import Terminal, capture
from .test_toast_repaint import screen_text

LONG = (
    "Redis at redis://127.0.0.1:16391/0 is unreachable (ConnectionError: Error 111 "
    "connecting to 127.0.0.1:16391. Connect call failed ('127.0.0.1', 16391).) while "
    "claiming qdesk:claim:paper, and so this desk could not renew its claim on its "
    "brokers for 7.5 s: nothing is sent until a renewal gets through."
)


def same(term: Terminal, desk: Desk, width: int, height: int) -> None:
    want = screen_text(desk, width, height)
    for y in range(height):
        assert term.line(y) == want[y], f"line {y}: {term.line(y)!r} != {want[y]!r}"


async def test_a_toast_under_a_dialog_shows_once(make_desk) -> None:
    desk: Desk = make_desk()
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        app.notify(LONG, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        desk_screen = app.screen
        app.push_screen(ConfirmScreen("Cancel all?", "Cancel every working order."))
        await desk.settle(pilot)
        assert app.screen is not desk_screen
        term = Terminal(120, 36)
        term.show(updates)
        shown = [y for y in range(36) if "Claims not renewed" in term.line(y)]
        assert len(shown) == 1, shown
        same(term, desk, 120, 36)
        await pilot.press("escape")
        await desk.settle(pilot)
        assert app.screen is desk_screen
        term.show(updates)
        shown = [y for y in range(36) if "Claims not renewed" in term.line(y)]
        assert len(shown) == 1, shown
        same(term, desk, 120, 36)
        await desk.session.close()


async def test_stacked_toasts_leave_nothing_behind(make_desk) -> None:
    desk: Desk = make_desk()
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        term = Terminal(120, 36)
        for n, (title, message) in enumerate(
            [
                ("Claims not renewed", LONG),
                ("kill switch (UI)", "Trading HALTED; cancelled 2 order(s)."),
                ("Cancel all sent", "cancelled 3 order(s); nothing left working."),
                ("binance/fake DISCONNECTED", LONG[:120]),
            ]
        ):
            app.notify(message, title=title, severity="error", timeout=60 + n)
            await desk.settle(pilot)
            term.show(updates)
            same(term, desk, 120, 36)
        for notification in list(app._notifications):
            app._unnotify(notification)
            await desk.settle(pilot)
            await desk.settle(pilot)
            term.show(updates)
            same(term, desk, 120, 36)
        await desk.session.close()


async def test_toasts_over_a_changing_desk_leave_nothing_behind(make_desk) -> None:
    desk: Desk = make_desk()
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        term = Terminal(120, 36)
        app.notify(LONG, title="Claims not renewed", severity="error", timeout=60)
        await desk.settle(pilot)
        for keys in (["7", "z"], ["z"], ["6", "z"], ["z"], ["3"]):
            app.notify("Trading HALTED; cancelled 2 order(s).", title="kill switch (UI)")
            await desk.settle(pilot)
            term.show(updates)
            same(term, desk, 120, 36)
            await pilot.press(*keys)
            await desk.step(pilot, 1)
            term.show(updates)
            same(term, desk, 120, 36)
            app.push_screen(ConfirmScreen("Cancel all?", "Cancel every working order."))
            await desk.settle(pilot)
            app._unnotify(list(app._notifications)[-1])
            await desk.settle(pilot)
            term.show(updates)
            same(term, desk, 120, 36)
            await pilot.press("escape")
            await desk.settle(pilot)
            term.show(updates)
            same(term, desk, 120, 36)
        # The last toast goes under a dialog: the header is drawn again.
        app.push_screen(ConfirmScreen("Cancel all?", "Cancel every working order."))
        await desk.settle(pilot)
        for notification in list(app._notifications):
            app._unnotify(notification)
            await desk.settle(pilot)
            term.show(updates)
            same(term, desk, 120, 36)
        assert "memory://" in term.line(0)
        await desk.session.close()
