"""A table's column is as wide as what its rows hold now: when a long value has gone
(an `old 1m10s` mark, a PENDING_REPLACE status) it narrows back and the other columns
get their room again. Columns grew and never shrank until the columns shown changed: at
80x24 the Positions pane read `Avg                Mark` with the Account cut to
`paper/m` after its marks had been old while the trader was on another pane, and the
Orders pane's Status kept the width of a status long gone."""

from __future__ import annotations

from textual.pilot import Pilot

from silvertine_tui.domain import OrderStatus, OrderUpdate
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.line_table import LineTable
from silvertine_tui.ui.widgets.positions import Positions

from .conftest import Desk, limit_buy, market_buy

ETH, BTC = "ETHUSDT.PAPER", "BTCUSDT.PAPER"
RESTING = "st000000000000000703"


def lines(table: LineTable) -> list[str]:
    """The header and the rows, as the pane draws them (cropped to the pane)."""
    return [table.render_line(y).text for y in range(table.row_count + 1)]


async def seconds(desk: Desk, pilot: Pilot[None], n: int) -> None:
    """`n` seconds of the desk clock, a frame each (the tables refit once a second)."""
    for _ in range(n):
        await desk.next_second(pilot)


async def test_the_marks_width_goes_when_they_are_fresh_again_the_account_whole(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000701", ETH, "1.5"))
        await engine.submit(market_buy("st000000000000000702", BTC, "0.01"))
        await desk.step(pilot, 2)
        assert desk.app.screen.has_class("-compact")  # one pane at a time
        await pilot.press("3")  # the trader watches the orders
        await desk.settle(pilot)
        positions = desk.app.screen.query_one(Positions)
        assert positions.size.width == 0  # hidden

        await seconds(desk, pilot, 8)  # no quote: the marks grow old
        first = positions.row_keys[0]  # (hidden, the pane draws its first row only)
        assert "old" in positions.get_cell(first, "mark").plain
        assert positions.column_width("mark") > len("64,995.85")
        await desk.step(pilot, 1)  # quotes again: the marks fresh
        await desk.next_second(pilot)
        assert "old" not in positions.get_cell(first, "mark").plain

        await pilot.press("4")
        await desk.settle(pilot)
        assert positions.size.width == 80
        shown = lines(positions)
        # Mark is as wide as its widest mark (`64,995.85`), right after Avg: no gap.
        assert positions.column_width("mark") == max(
            len(positions.get_cell(key, "mark").plain) for key in positions.row_keys
        )
        assert shown[0].split() == [
            "Symbol", "Qty", "Avg", "Mark", "uPnL", "rPnL", "Ccy", "Account",
        ]  # fmt: skip
        assert " Avg  " + " " * (positions.column_width("mark") - 4) + "Mark " in shown[0]
        for text in shown[1:]:
            assert text.rstrip().endswith(" paper/main")  # was `paper/m`, cut
        assert not positions.show_horizontal_scrollbar
        await desk.session.close()


async def test_a_status_that_passed_gives_its_width_back_after_a_few_seconds(
    make_desk,
) -> None:
    """A venue that modifies by cancel-replace reports PENDING_REPLACE, then NEW: the
    Status column widens at once, holds its width a few seconds (no repaint of the
    whole pane at every passing status), then narrows."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await desk.session.engine.submit(limit_buy(RESTING, BTC, "0.01", "63500"))
        await desk.step(pilot, 1)
        await pilot.press("3")
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.get_cell(RESTING, "status").plain == "NEW"
        before = lines(blotter)
        shown = blotter.shown_columns
        assert blotter.column_width("status") == len("Status")

        bus = desk.session.bus
        for status in (OrderStatus.PENDING_REPLACE, OrderStatus.NEW):
            update = OrderUpdate(client_order_id=RESTING, status=status)
            await bus.publish(OrderUpdateEvent.create("paper/main", update, ts=desk.clock.ns()))
            await desk.settle(pilot)
            if status is OrderStatus.PENDING_REPLACE:
                assert blotter.column_width("status") == len("PENDING_REPLACE")  # at once
                # It fits beside the others: the columns shown did not change (that
                # chose the widths again, and narrowed them, in the old code too).
                assert blotter.shown_columns == shown
        assert blotter.get_cell(RESTING, "status").plain == "NEW"

        held = 0  # seconds the column kept the width of the status gone
        for _ in range(10):
            await desk.next_second(pilot)
            if blotter.column_width("status") != len("PENDING_REPLACE"):
                break
            held += 1
        assert blotter.column_width("status") == len("Status")
        assert held >= 2  # a few seconds first (a status coming back costs no repaint)
        assert blotter.shown_columns == shown
        assert lines(blotter)[0] == before[0]  # `Status  Filled`, as before it passed
        assert lines(blotter)[1].split()[:6] == before[1].split()[:6]
        await desk.session.close()
