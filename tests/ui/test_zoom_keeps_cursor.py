"""The selected row stays in view when its pane changes size: after a zoom and back
(`z`, `z`) or a terminal resize, the Orders pane was scrolled to its top, the order
selected out of sight, and `c` cancelled that unseen order (the Positions pane's `x`
and the Quotes pane's `b`/`s` alike: one table base). At 100x28 the Orders pane also
came back from the zoom with the zoom's columns, scrolled sideways and its header cut
(`Id ... Price  Sto`)."""

from __future__ import annotations

import pytest

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.line_table import LineTable
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, make_settings
from .test_desk_fit import assert_fits
from .test_orders_follow_send import resting, send_from_ticket
from .working_desk import build_working_desk, working_settings

GRID_SIZES = [(120, 36), (100, 28)]


def header_text(table: LineTable) -> str:
    """The table's header as it is on the screen (cropped to the pane, scrolled)."""
    return table.render_line(0).text


@pytest.mark.parametrize("size", GRID_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_c_after_a_zoom_cancels_the_order_in_view(make_desk, size) -> None:
    limits = {"defaults": {"max_orders_per_s": None, "max_open_orders": None}}
    desk: Desk = make_desk(settings=Settings(brokers=make_settings().brokers, risk=limits))
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        for n in range(8):  # older rows, sent elsewhere
            await engine.submit(resting(f"st0000000000000009{n:02d}", f"{3400 + n}.00"))
        await desk.settle(pilot)
        sent = await send_from_ticket(desk, pilot, "3420.00")
        blotter = desk.app.screen.query_one(Blotter)
        await pilot.press("escape", "3")
        await desk.settle(pilot)
        assert blotter.selected_order() == sent
        assert sent in blotter.visible_keys()
        columns = blotter.shown_columns

        await pilot.press("z")  # the whole screen: every row fits, scrolled to the top
        await desk.settle(pilot)
        assert blotter.row_count <= blotter.rows_on_screen
        await pilot.press("z")
        await desk.settle(pilot)

        visible = blotter.visible_keys()
        assert blotter.selected_order() == sent
        assert sent in visible, f"the order selected is out of view: {sorted(visible)}"
        # Back to the columns that fit the pane, not the zoom's scrolled sideways.
        assert blotter.shown_columns == columns
        assert blotter.scroll_offset.x == 0
        labels = " ".join(c.label for c in Blotter.COLUMNS if c.key in columns)
        assert header_text(blotter).split() == labels.split()
        assert_fits(blotter)

        await pilot.press("c")
        await desk.settle(pilot)
        cancelled = [
            c for c, v in engine.oms.orders.items() if v.order.status is OrderStatus.CANCELED
        ]
        assert cancelled == [sent]
        await desk.session.close()


PANES = [("1", Watchlist), ("3", Blotter), ("4", Positions)]


@pytest.mark.parametrize(("key", "table_type"), PANES, ids=[t.__name__ for _, t in PANES])
async def test_the_selected_row_stays_in_view_through_a_zoom_and_a_resize(
    make_desk, key: str, table_type: type[LineTable]
) -> None:
    desk: Desk = make_desk(settings=working_settings())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await build_working_desk(desk, pilot)
        table = desk.app.screen.query_one(table_type)
        await pilot.press(key, "end")
        await desk.settle(pilot)
        chosen = table.selected_key()
        assert chosen == table.row_keys[-1]
        assert table.row_count > table.rows_on_screen  # the last row needs scrolling to
        assert chosen in table.visible_keys()

        await pilot.press("z", "z")
        await desk.settle(pilot)
        assert table.selected_key() == chosen
        assert chosen in table.visible_keys(), f"after a zoom: {sorted(table.visible_keys())}"

        await pilot.resize_terminal(220, 60)  # every row fits: scrolled to the top
        await desk.settle(pilot)
        await pilot.resize_terminal(120, 36)
        await desk.settle(pilot)
        assert table.selected_key() == chosen
        assert chosen in table.visible_keys(), f"after a resize: {sorted(table.visible_keys())}"
        await desk.session.close()
