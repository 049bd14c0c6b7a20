"""A signal's ticket keeps saying the signal's age while it stays open, and the
Signals pane counts the rows out of view one pane at a time (80x24) too.

Before: the ticket said the age as it opened and never again (a signal 59 s old
read as fresh for as long as the ticket stayed open; one of `1m01s` still read
`1m01s` an hour later); one pane at a time the Signals pane had no bottom edge, so
`12 older below` was said in the grid and nowhere at 80x24, zoomed or not."""

from __future__ import annotations

import pytest

from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.signals import SIGNAL_OLD_S

from .conftest import Desk
from .test_compact_totals import bottom_line
from .test_signal_ticket_age import status_of
from .test_signals_rows import pane_of, publish, signal_event
from .test_trading_keys import ticket_of

SIZES = [(120, 36), (80, 24)]


@pytest.mark.parametrize("size", SIZES)
async def test_the_ticket_says_the_signal_growing_old_while_it_is_open(
    make_desk, size: tuple[int, int]
) -> None:
    assert SIGNAL_OLD_S == 60
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, signal_event(desk, "1", note="2 sigma below"))  # 14:30:02
        desk.clock.advance(SIGNAL_OLD_S - 10)  # 50 s after it
        await desk.settle(pilot)
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        assert status_of(desk) == ("signal meanrev: 2 sigma below", False)

        # The ticket stays open; the signal passes a minute.
        for _ in range(11):
            await desk.next_second(pilot)
        assert status_of(desk) == (
            "signal 1m01s old (14:30:02): the market may have moved since; "
            "signal meanrev: 2 sigma below",
            True,
        )
        # And keeps growing older, its time in brackets unchanged.
        desk.clock.advance(3600)
        await desk.next_second(pilot)
        assert status_of(desk) == (
            "signal 1h01m old (14:30:02): the market may have moved since; "
            "signal meanrev: 2 sigma below",
            True,
        )
        # The fields are the signal's, untouched by the refresh.
        draft = ticket_of(desk).draft()
        assert (draft.quantity, draft.limit_price, draft.tag) == ("1", "3500.00", "signal:meanrev")
        await desk.session.close()


@pytest.mark.parametrize("size", SIZES)
async def test_the_age_is_no_longer_said_once_the_ticket_says_something_else(
    make_desk, size: tuple[int, int]
) -> None:
    """Flipped, the ticket is not the signal's order: `another side: ...` stays, the
    signal's age does not come back over it."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(desk, pilot, signal_event(desk, "1", note="2 sigma below"))
        desk.clock.advance(SIGNAL_OLD_S + 5)
        await desk.settle(pilot)
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        said, warned = status_of(desk)
        assert said.startswith("signal 1m05s old")
        assert warned
        await pilot.press("ctrl+s")
        await desk.settle(pilot)
        flipped = status_of(desk)
        assert flipped == ("another side: tag signal:meanrev dropped", False)
        desk.clock.advance(60)
        await desk.next_second(pilot)
        assert status_of(desk) == flipped
        await desk.session.close()


@pytest.mark.parametrize("zoom", [False, True])
async def test_signals_out_of_view_are_counted_one_pane_at_a_time(make_desk, zoom: bool) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(
            desk, pilot, *(signal_event(desk, str(n), note=f"#{n}") for n in range(1, 41))
        )
        screen = desk.app.screen
        assert screen.has_class("-compact")
        await pilot.press("8")
        if zoom:
            await pilot.press("z")
        await desk.settle(pilot)
        pane = screen.query_one("#pane-signals", Pane)
        signals = pane_of(desk)
        shown = signals.visible_range()
        below = 40 - len(shown)
        assert below > 0
        assert signals.out_of_view() == f"{below} older below"
        # On the screen, on the pane's last line, under its last row.
        assert bottom_line(desk, pane).rstrip("─ ").endswith(f"{below} older below")
        assert signals.region.bottom == pane.region.bottom - 1
        await desk.session.close()


async def test_signals_out_of_view_are_counted_zoomed_in_the_grid(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await publish(
            desk, pilot, *(signal_event(desk, str(n), note=f"#{n}") for n in range(1, 41))
        )
        await pilot.press("8", "z")
        await desk.settle(pilot)
        pane = desk.app.screen.query_one("#pane-signals", Pane)
        below = 40 - len(pane_of(desk).visible_range())
        assert below > 0
        assert bottom_line(desk, pane).rstrip("─╯ ").endswith(f"{below} older below")
        await desk.session.close()
