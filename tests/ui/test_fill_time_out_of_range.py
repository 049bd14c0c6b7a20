"""A fill whose venue time no date can hold is timed as heard (`domain.clock.NO_TIME`,
`fill_times.line_times`): a venue's time is anyone's figure. A `venue_ts_ns` of 10**21
raised `ValueError: year 33658 is out of range` out of the Log's model (the fill's line
and toast dropped, counted as not shown) and out of the order history's key, which
ended the app."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Fill, Side
from silvertine_tui.domain.clock import NO_TIME, time_of_day
from silvertine_tui.events import FillEvent
from silvertine_tui.ui.fill_times import line_times
from silvertine_tui.ui.screens.history import OrderHistoryScreen

from .conftest import Desk, limit_buy
from .test_log_fill_time import log_rows, the_log

ETH = "ETHUSDT.PAPER"
CID = "st000000000000000771"


def far_fill(venue_ts_ns: int) -> Fill:
    return Fill(
        exec_id="xfar",
        client_order_id=CID,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.BUY,
        quantity=Decimal(1),
        price=Decimal("3400.00"),
        venue_ts_ns=venue_ts_ns,
    )


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_a_time_of_day_is_always_said(epoch_ns: int) -> None:
    said = time_of_day(epoch_ns / 1e9)
    assert len(said) == 8, said
    event = FillEvent.create("paper/main", far_fill(epoch_ns))
    at, heard = line_times(event, 1_700_000_000_000_000_000)
    assert NO_TIME not in (at, heard)


async def test_a_fill_timed_past_any_date_is_logged_and_its_history_opens(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await desk.session.engine.submit(limit_buy(CID, ETH, "2", "3400.00"))
        await desk.settle(pilot)
        await desk.session.bus.publish(FillEvent.create("paper/main", far_fill(10**21)))
        await desk.settle(pilot)
        assert desk.app.model.not_shown == 0
        await pilot.press("7")
        await desk.settle(pilot)
        rows = log_rows(the_log(desk))
        # Timed as heard (14:30:01), in the grid's narrow Log.
        assert "14:30:01 FILL BUY 1 ETHUSDT.PAPER" in rows, rows
        await pilot.press("3", "a", "end", "h")
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, OrderHistoryScreen)
        assert desk.app.return_code is None
        await desk.session.close()
