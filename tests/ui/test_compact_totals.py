"""One pane at a time (80x24) the panes have no borders, and the lines their bottom
edges carry were gone: no `N working of M today` under the Orders, no P&L totals
(`USDT u ... r ...`) under the Positions, zoomed (`z`) or not. Those two panes keep
their bottom edge there (FOOTED, ui/styles/app.tcss)."""

from __future__ import annotations

from textual.geometry import Region

from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.positions import Positions

from .conftest import Desk, record_dirty, sample_orders


def bottom_line(desk: Desk, pane: Pane) -> str:
    """The pane's last line as it is on the screen."""
    return desk.app.screen._compositor.render_strips()[pane.region.bottom - 1].text


async def test_the_orders_counts_and_the_totals_show_one_pane_at_a_time(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await sample_orders(desk)  # a resting BTC buy, a filled ETH buy (a position)
        await desk.next_second(pilot)
        screen = desk.app.screen
        assert screen.has_class("-compact")
        orders = screen.query_one("#pane-blotter", Pane)
        positions = screen.query_one("#pane-positions", Pane)

        await pilot.press("3")
        await desk.settle(pilot)
        assert bottom_line(desk, orders).rstrip("─ ").endswith("1 working of 2 today (a: all)")
        # The table keeps the rest of the pane: the edge is below its last row.
        table = orders.children[0]
        assert table.region.bottom == orders.region.bottom - 1

        await pilot.press("4")
        await desk.settle(pilot)
        totals = screen.query_one(Positions).totals_text()
        assert totals.startswith("USDT u ")
        assert bottom_line(desk, positions).rstrip("─ ").endswith(totals)

        await pilot.press("z")  # zoomed: still there
        await desk.settle(pilot)
        assert positions.region.bottom == 23  # the whole screen above the key bar
        assert bottom_line(desk, positions).rstrip("─ ").endswith(totals)
        await pilot.press("z", "3")
        await desk.settle(pilot)

        # A new count repaints that edge's line only, and it is on the screen.
        dirty = record_dirty(orders)
        width, height = orders.outer_size
        orders.set_subtitle("3 working of 7 today (a: all)")
        assert dirty == [Region(0, height - 1, width, 1)]  # no top or side edge here
        await pilot.pause()
        assert bottom_line(desk, orders).rstrip("─ ").endswith("3 working of 7 today (a: all)")
        await desk.session.close()
