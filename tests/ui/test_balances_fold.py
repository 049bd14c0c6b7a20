"""Balances out of view are said on the pane's edge: with several accounts the default
desk's pane has five rows, and the one with funds locked in a working order could be
the sixth, with no word of it."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.ui.screens.main import Pane

from .conftest import make_settings

CASH = {c: Decimal(1000) for c in ("CHF", "EUR", "GBP", "JPY", "USD", "USDT", "XAU")}


def edge(desk) -> str:
    return str(desk.app.screen.query_one("#pane-balances", Pane).border_subtitle or "")


async def test_the_balances_out_of_view_are_counted_on_the_edge(make_desk) -> None:
    desk = make_desk(settings=make_settings(paper={"starting_cash": CASH}))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.settle(pilot)
        assert edge(desk) == "2 more below"  # 7 balances, 5 rows
        await pilot.press("5", "end")
        await desk.step(pilot, 1)
        assert edge(desk) == "2 more above"
        await pilot.press("up", "up", "up", "up", "up")
        await desk.step(pilot, 1)
        assert edge(desk) == "1 above, 1 below"
        await desk.session.close()


async def test_a_pane_that_shows_every_balance_says_nothing(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.settle(pilot)
        assert edge(desk) == ""
        await desk.session.close()
