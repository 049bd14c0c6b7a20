"""An order IB holds Inactive is marked in its Orders row (an IB desk review): TWS's
status Inactive (IB does not work the order now: outside its hours, held, refused by a
later check; it can work again, fill, or be cancelled) was journaled NEW with the
reason "inactive at IB (...)", and the row read plain `NEW`, so a trader believed it
worked. The report says it in a field of its own (`OrderUpdate.inactive`), the order
keeps it (`Order.inactive`) and its Status cell reads `INACTIVE` in the warning colour
until IB works it again ("working again at IB"), when it reads `NEW` as before. No
wider than PARTIALLY_FILLED, the mark crowds out at most the pane's least needed
columns at 80x24 and at 120x36. The real IB adapter through ib_async against the fake TWS
(`deactivate`, `reactivate`)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot

from silvertine_tui.domain import ConnectionState, OrderStatus
from silvertine_tui.events import OrderUpdateEvent
from silvertine_tui.ui.widgets.blotter import Blotter
from tests.fakes.tws import FakeTws
from tests.support.ib import aapl_limit_buy, paper_and_ib

from .conftest import Desk, until

COID = "stmxc58u5j6xuqbscxm1"
SHORT = COID[-8:]
HELD = "Order held: exchange closed"


async def resting(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> Blotter:
    """BUY 5 AAPL.SMART at 148.20 working at IB (NEW), the Orders pane shown."""
    view = desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
    await desk.session.engine.submit(aapl_limit_buy(COID, fake.account))
    await until(
        pilot,
        "NEW",
        lambda: (v := view.order(COID)) is not None and v.order.status is OrderStatus.NEW,
    )
    await pilot.press("3", "home")
    await desk.quiet(pilot)
    return desk.app.screen.query_one(Blotter)


def reasons(desk: Desk) -> list[str]:
    found = desk.session.projection.order(COID)
    assert found is not None
    return [e.payload.reason for e in found.history if isinstance(e, OrderUpdateEvent)]


async def reported(desk: Desk, pilot: Pilot[None], words: str) -> None:
    """Until the order's history holds IB's report whose reason starts with `words`,
    and the screen has drawn it."""
    await until(pilot, words, lambda: any(r.startswith(words) for r in reasons(desk)))
    await desk.settle(pilot)


def row_line(blotter: Blotter) -> str:
    """The order's line as the pane draws it (the header is line 0)."""
    lines = [blotter.render_line(y).text for y in range(blotter.row_count + 1)]
    [line] = [text for text in lines if "AAPL.SMART" in text]
    return line


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
async def test_an_order_ib_holds_inactive_reads_inactive_until_it_works_again(
    make_desk, size: tuple[int, int]
) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=size, notifications=True) as pilot:
            await desk.start(pilot)
            blotter = await resting(desk, pilot, fake)
            assert blotter.get_cell(COID, "status").plain == "NEW"
            shown = blotter.shown_columns
            assert {"status", "filled"} <= set(shown), shown
            [order] = fake.orders

            await fake.deactivate(order.order_id, code=404, message=HELD)
            await reported(desk, pilot, "inactive at IB")
            status = blotter.get_cell(COID, "status")
            assert status.plain == "INACTIVE", status.plain
            assert status.style == blotter.palette.warn
            view = desk.session.projection.order(COID)
            assert view is not None
            assert view.order.status is OrderStatus.NEW  # IB may still work and fill it
            assert view.order.inactive is True
            assert view.order.reason.startswith("inactive at IB ("), view.order.reason
            await desk.quiet(pilot)
            # Two characters wider than `Status`: at most the pane's least needed
            # columns give way (the Id at 80x24, a limit order's empty Stop at 120x36),
            # as for any PARTIALLY_FILLED row, which is wider still.
            after = blotter.shown_columns
            assert set(shown) - set(after) <= {"id", "stop"}, (shown, after)
            assert {"symbol", "side", "qty", "price", "status", "filled", "avg", "type"} <= set(
                after
            ), after
            assert "INACTIVE" in row_line(blotter), row_line(blotter)

            await fake.reactivate(order.order_id)
            await reported(desk, pilot, "working again at IB")
            status = blotter.get_cell(COID, "status")
            assert (status.plain, status.style) == ("NEW", blotter.palette.plain)
            assert view.order.inactive is False
            assert view.order.reason.startswith("working again at IB"), view.order.reason
            await desk.session.close()


async def test_a_partly_filled_inactive_order_reads_inactive_with_its_fill(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
            await desk.start(pilot)
            blotter = await resting(desk, pilot, fake)
            [order] = fake.orders
            await fake.fill(order.order_id, qty="2")
            projection = desk.session.projection
            await until(
                pilot,
                "the partial fill",
                lambda: (
                    (v := projection.order(COID)) is not None and v.order.filled_qty == Decimal(2)
                ),
            )
            await fake.deactivate(order.order_id)
            await reported(desk, pilot, "inactive at IB")
            assert blotter.get_cell(COID, "status").plain == "INACTIVE"
            assert blotter.get_cell(COID, "filled").plain == "2"
            # Cancelled, it reads as any cancelled order (the All view lists it).
            await desk.session.engine.cancel(COID)
            await until(
                pilot,
                "CANCELED",
                lambda: (
                    (v := projection.order(COID)) is not None
                    and v.order.status is OrderStatus.CANCELED
                ),
            )
            await pilot.press("a")
            await desk.settle(pilot)
            assert blotter.get_cell(COID, "status").plain == "CANCELED"
            await desk.session.close()
