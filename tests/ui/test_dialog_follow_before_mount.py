"""A desk frame between a dialog's push and its mount does not follow it: the dialog is
the top screen before its widgets exist, and the quit dialog's follow (`#quit-journal`)
met `NoMatches` there and crashed the app (seen once under load in
tests/ui/test_quit_unwritten.py)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from silvertine_tui.ui.screens.dialog import Dialog

from .conftest import Desk


class Following(Dialog[None]):
    def __init__(self) -> None:
        super().__init__()
        self.followed = 0

    def compose_dialog(self) -> ComposeResult:
        yield Static("body", id="followed-line")

    def follow_desk(self) -> None:
        self.query_one("#followed-line", Static)  # (unguarded, as the quit dialog's)
        self.followed += 1


async def test_a_frame_before_a_dialog_is_mounted_leaves_it_alone(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        dialog = Following()
        desk.app.push_screen(dialog)  # not awaited: on the stack, not mounted yet
        assert desk.app.screen is dialog
        desk.app.frame()  # raised NoMatches here
        assert dialog.followed == 0
        await pilot.pause()
        await desk.settle(pilot)
        assert dialog.is_mounted
        desk.app.frame()
        assert dialog.followed >= 1
        assert not desk.app._exit
