"""A toast given no time lasts the desk's toast time, as the desk's other toasts do.

The ticket's `Order not placed` (and every toast raised without a time) took
Textual's 5 s while the desk's own toasts took its `toast_timeout_s`: on a loaded
machine the ticket's answer was gone before the toasts said after it."""

from __future__ import annotations

from .conftest import Desk


async def test_a_toast_given_no_time_lasts_the_desks_time(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        desk.app.clear_notifications()
        desk.app.notify("margin", title="Order not placed", severity="error")
        desk.app.notify("timed", title="Claims renewed", timeout=3.0)
        await pilot.pause()
        times = {n.title: n.timeout for n in desk.app._notifications}
        assert times == {"Order not placed": 600, "Claims renewed": 3.0}
        await desk.session.close()
