"""A toast refresh that comes after its rack left the screen shows nothing, quietly.

Textual shows toasts later than asked (`call_later`); on a loaded machine one came
after the rack's screen was gone (the app exiting) and `rack.screen` raised
`NoScreen` out of the app (a test of claims, under load)."""

from __future__ import annotations

from textual.app import App
from textual.notifications import Notification, Notifications
from textual.widgets._toast import ToastRack

from silvertine_tui.ui.widgets.toasts import show_toasts


async def test_a_rack_with_no_screen_shows_no_toast() -> None:
    app: App[None] = App()
    async with app.run_test(size=(80, 24)):
        rack = ToastRack()  # (never mounted, as one whose screen went)
        notifications = Notifications()
        notifications.add(Notification("said", title="Order not placed"))
        show_toasts(rack, notifications)
        assert not list(rack.children)
