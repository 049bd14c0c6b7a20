"""The Orders pane of an overfilled order, and of one a reconcile re-opened (a chaos
drill: tests/integration/test_overfill_reconcile.py has the engine's side).

BUY 0.01 BTC rests; the venue's one report of it fills 0.05, FILLED. The row read
Filled `-` and Avg `-` while the Log said "filled 0.05" and the position held 0.05: it
now reads every fill the venue reported, flagged (`0.05 over`, the error colour), at
their average. The venue still held the order NEW: after the reconcile re-opens it,
the row is back in the working view and `c` cancels it (it said "order ... is FILLED:
nothing to cancel"). At 80x24 and at 120x36 the Filled column stays on screen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot

from silvertine_tui.domain import Fill, OrderStatus, OrderUpdate, Side
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import FillEvent, OrderUpdateEvent
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk, limit_buy

COID = "st000000000000099201"
BTC = "BTCUSDT.PAPER"
SRC = "paper/main"


async def overfilled(desk: Desk, pilot: Pilot[None]) -> Blotter:
    """The order rests; the venue's one report of it fills 0.05 of 0.01, FILLED (as an
    adapter journals it: the fill, then the status). The paper venue still works it."""
    await desk.session.engine.submit(limit_buy(COID, BTC, "0.01", "63500.00"))
    await desk.settle(pilot)
    bus = desk.session.bus
    await bus.publish(
        FillEvent.create(
            SRC,
            Fill(
                exec_id="BTCUSDT-99201",
                client_order_id=COID,
                broker="paper",
                account="main",
                instrument=BTC,
                side=Side.BUY,
                quantity=Decimal("0.05"),
                price=Decimal("63500.00"),
            ),
        )
    )
    await bus.publish(
        OrderUpdateEvent.create(
            SRC,
            OrderUpdate(
                client_order_id=COID,
                status=OrderStatus.FILLED,
                filled_qty=Decimal("0.05"),
                avg_price=Decimal("63500.00"),
            ),
        )
    )
    await desk.settle(pilot)
    await pilot.press("3", "a")  # the Orders pane, all of today's
    await desk.quiet(pilot)
    return desk.app.screen.query_one(Blotter)


def status(desk: Desk) -> OrderStatus:
    view = desk.session.projection.order(COID)
    assert view is not None
    return view.order.status


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_an_overfilled_order_reads_what_the_venue_filled_and_reopens_to_be_cancelled(
    make_desk, size: tuple[int, int]
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        blotter = await overfilled(desk, pilot)
        assert status(desk) is OrderStatus.FILLED
        assert "filled" in blotter.shown_columns, blotter.shown_columns
        filled = blotter.get_cell(COID, "filled")
        assert filled.plain == "0.05 over"
        assert filled.style == blotter.palette.error
        if "avg" in blotter.shown_columns:
            assert blotter.get_cell(COID, "avg").plain == "63,500.00"
        # What the Log and the position say, the row says.
        assert desk.session.projection.position("paper", "main", BTC) == Decimal("0.05")

        # The reconcile (a reconnect's): the paper venue still works the order.
        await reconcile_broker(desk.session.engine, desk.broker)
        await desk.settle(pilot)
        assert status(desk) is OrderStatus.NEW
        assert desk.session.engine.anomalies.counts[AnomalyKind.REOPENED] == 1
        said = {n.title: (n.message, n.severity) for n in desk.app._notifications}
        message, severity = said["Engine: reopened"]
        assert severity == "error"
        assert message.startswith(
            f"paper/main: order {COID} BTCUSDT.PAPER was FILLED 0/0.01 (0.05 reported: an "
            "overfill) here, but the venue still holds it NEW 0/0.01: re-opened"
        ), message
        await pilot.press("a")  # the working view: it is listed there again
        await desk.quiet(pilot)
        assert blotter.row_keys == [COID]
        assert blotter.get_cell(COID, "status").plain == "NEW"
        assert blotter.get_cell(COID, "filled").plain == "0.05 over"

        await pilot.press("home", "c")
        await desk.settle(pilot)
        assert status(desk) is OrderStatus.CANCELED
        assert blotter.row_keys == []  # it left the working view
        await desk.session.close()
