"""One pane at a time the Log has no border, and nothing said it showed fills only
(`f`): the pane bar still read `7 Log`, and with no fill yet the pane was empty, a log
that looked dead. The pane bar names the filter (`7 Fills`), as it names the Orders
pane's view (`3 All orders`), and an empty filtered log says why it is empty and how
to see every event (docs/ui.md, the Log pane)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from silvertine_tui.ui.widgets.event_log import EventLog

from .conftest import Desk, make_settings, market_buy


def tab(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#tab-log", Static).content)


def log_rows(log: EventLog) -> list[str]:
    """The log's rows on screen, as drawn."""
    rows = [log.render_line(y).text.rstrip() for y in range(log.scrollable_content_region.height)]
    return [row for row in rows if row]


async def test_the_pane_bar_says_fills_only_and_an_empty_log_says_why(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await pilot.press("7")
        await desk.settle(pilot)
        log = desk.app.screen.query_one(EventLog)
        assert tab(desk) == "7 Log"
        everything = log_rows(log)
        assert everything  # the session's own events

        await pilot.press("f")
        await desk.settle(pilot)
        assert log.fills_only
        assert tab(desk) == "7 Fills"
        assert log_rows(log) == ["no fills yet (f shows every event)"]

        await desk.session.engine.submit(market_buy("st000000000000000601", "ETHUSDT.PAPER", "1"))
        await desk.settle(pilot)
        rows = log_rows(log)
        assert len(rows) == 1, rows
        assert " FILL BUY 1 ETHUSDT.PAPER @ " in rows[0], rows
        assert tab(desk) == "7 Fills"

        # Both views named at once, the pane bar still has every tab whole at 80.
        await pilot.press("3", "a", "7")
        await desk.settle(pilot)
        bar = desk.app.screen._compositor.render_strips()[1].text
        for label in ("3 All orders", "7 Fills"):
            assert label in bar, bar
        assert bar.rstrip().endswith(" 8 Signals"), bar

        await pilot.press("f")
        await desk.settle(pilot)
        assert not log.fills_only
        assert tab(desk) == "7 Log"
        assert not any("no fills yet" in row for row in log_rows(log))
        await desk.session.close()


async def test_the_empty_log_names_the_key_bound_to_the_filter(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(keymap={"log.fills": "g"}))
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await pilot.press("7", "g")
        await desk.settle(pilot)
        log = desk.app.screen.query_one(EventLog)
        assert log.fills_only
        assert tab(desk) == "7 Fills"
        assert log_rows(log) == ["no fills yet (g shows every event)"]
        await desk.session.close()


@pytest.mark.parametrize("size", [(120, 36), (100, 28)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_in_the_grid_the_empty_log_says_why_in_its_width(make_desk, size) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await pilot.press("7", "f")
        await desk.settle(pilot)
        log = desk.app.screen.query_one(EventLog)
        width = log.scrollable_content_region.width
        rows = log_rows(log)
        assert all(len(row) <= width for row in rows), rows
        assert " ".join(rows) == "no fills yet (f shows every event)"  # whole, wrapped
        pane = desk.app.screen.query_one("#pane-log")
        assert str(pane.border_subtitle) == "fills only (f)"
        await desk.session.close()
