"""An old signal says so: in the pane a signal of another day (UTC, as the desk's
clock) shows its date beside its time, and the ticket made from a signal older than
`SIGNAL_OLD_S` (60 s) says its age beside Send, in the warning colour. Before, a
signal of the day before read `14:30:01` and its ticket said nothing of its age."""

from __future__ import annotations

from silvertine_tui.domain import Side
from silvertine_tui.ui.widgets.signals import SIGNAL_OLD_S
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk
from .test_signals_rows import pane_of, publish, signal_event
from .test_trading_keys import ticket_of


def status_of(desk: Desk) -> tuple[str, bool]:
    """What is said beside Send, and whether in the warning colour."""
    status = ticket_of(desk).query_one("#t-status", TextBlock)
    return " ".join(status.text.plain.split()), status.has_class("-warn")


async def test_a_signal_of_another_day_shows_its_date_and_its_ticket_its_age(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        # 2026-01-02 14:30:02 UTC by the bus's stamp.
        await publish(desk, pilot, signal_event(desk, "1", side=Side.BUY, note="buy the dip"))
        signals = pane_of(desk)
        [key] = signals.row_keys
        assert signals.get_cell(key, "time").plain == "14:30:02"
        desk.clock.advance(86_400 - 2)  # 2026-01-03 14:30:00: a day later, less 2 s
        await desk.step(pilot, 1)
        assert signals.get_cell(key, "time").plain == "Jan 02 14:30"
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        said, warned = status_of(desk)
        assert said == (
            "signal 23h59m old (Jan 02 14:30:02): the market may have moved since; "
            "signal meanrev: buy the dip"
        )
        assert warned
        await desk.session.close()


async def test_a_signal_turns_to_its_date_at_midnight(make_desk) -> None:
    """Drawn before midnight with its time alone, the row says its date once the day
    is over, with no new signal to redraw the pane."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        desk.clock.advance(9 * 3600 + 29 * 60 + 55)  # 23:59:56
        await publish(desk, pilot, signal_event(desk, "1"))  # 23:59:57
        signals = pane_of(desk)
        [key] = signals.row_keys
        assert signals.get_cell(key, "time").plain == "23:59:57"
        await desk.step(pilot, 4)  # 00:00:01 the next day
        assert signals.get_cell(key, "time").plain == "Jan 02 23:59"
        await desk.session.close()


async def test_a_signal_ticket_says_the_signals_age_past_a_minute(make_desk) -> None:
    """Under `SIGNAL_OLD_S` the ticket says the signal's note as before; past it, the
    signal's age and time first, in the warning colour."""
    assert SIGNAL_OLD_S == 60
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, signal_event(desk, "1", note="2 sigma below"))  # 14:30:02
        desk.clock.advance(SIGNAL_OLD_S - 2)
        await desk.step(pilot, 1)  # 59 s after it
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        assert status_of(desk) == ("signal meanrev: 2 sigma below", False)

        await desk.step(pilot, 2)  # 61 s after it
        await pilot.press("escape", "8", "enter")
        await desk.settle(pilot)
        assert status_of(desk) == (
            "signal 1m01s old (14:30:02): the market may have moved since; "
            "signal meanrev: 2 sigma below",
            True,
        )

        # With no note, the age alone.
        await publish(desk, pilot, signal_event(desk, "2"))
        desk.clock.advance(3 * 3600)
        await desk.step(pilot, 1)
        await pilot.press("escape", "8", "home", "enter")
        await desk.settle(pilot)
        said, warned = status_of(desk)
        assert said == "signal 3h00m old (14:31:04): the market may have moved since"
        assert warned
        assert ticket_of(desk).draft().quantity == "2"
        await desk.session.close()
