"""TWS's Filled ahead of its execution: the fill is on its way (a trader's review of the
IB desk).

TWS sends orderStatus Filled before execDetails (the fake's `hold_next_executions`):
the order is FILLED and owes its fill (`Order.owed_qty`) until the execution comes, 10 s
and more in the review. Meanwhile the Positions row read the old quantity with no mark
at all, and the close ticket on it (`x`, reduce-only) said "the working SELL 5 @ 151.00
(…quki) holds the position: cancel it first" of an order that is FILLED and cannot be
cancelled. Now the row's Qty reads `5?` in the warning colour (the pane's mark of a row
that is behind) and the pane's edge says a fill is on its way; the ticket says the
FILLED order's fill is on its way, to wait for it, and never to cancel it. It still
counts as exposure: the close of 5 stays refused (largest allowed 0), so a second close
cannot sell the position twice. Once the execution arrives the row reads the new
quantity, unmarked. At 120x36 and at 80x24 (one pane at a time). The real IB adapter
through ib_async against the fake TWS."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.pilot import Pilot

from silvertine_tui.domain import (
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until

KEY = "AAPL.SMART"
SALE = "stmxc5jt6r1xip75quki"  # the Log and the ticket name it (…quki)
ROW = "ib/DU123456/AAPL.SMART"
SIZES = [(120, 36), (80, 24)]


def sale(account: str) -> OrderRequest:
    """SELL 5 AAPL at IB, a GTC limit at 151.00 above the fake's 150.00 / 150.05."""
    return OrderRequest(
        client_order_id=SALE,
        broker="ib",
        account=account,
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=Decimal(5),
        limit_price=Decimal("151.00"),
        tif=TimeInForce.GTC,
    )


def qty_cell(desk: Desk) -> tuple[str, str]:
    """The Positions row's Qty cell: its text and its style."""
    cell = desk.app.screen.query_one(Positions)._cells[ROW][1]
    return cell.plain, str(cell.style)


def edge(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#pane-positions", Pane).border_subtitle or "")


def screen_text(desk: Desk) -> str:
    return "\n".join(strip.text for strip in desk.app.screen._compositor.render_strips())


async def filled_ahead(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> None:
    """Long 5 AAPL at IB (TWS's position, taken at connect); the SELL 5 at 151.00 that
    TWS reports Filled while it holds the execution back."""
    view = desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the AAPL quote", lambda: KEY in desk.app.model.quotes)
    await until(pilot, "the position", lambda: view.position("ib", fake.account, KEY) == 5)
    fake.hold_next_executions()
    await desk.session.engine.submit(sale(fake.account))
    await until(
        pilot,
        "NEW",
        lambda: (v := view.order(SALE)) is not None and v.order.status is OrderStatus.NEW,
    )
    [order] = fake.orders
    await fake.fill(order.order_id)
    await until(
        pilot,
        "FILLED, its fill owed",
        lambda: (v := view.order(SALE)) is not None and v.order.owed_qty == 5,
    )
    await desk.settle(pilot)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_positions_row_says_a_fill_is_on_its_way(make_desk, size) -> None:
    async with FakeTws(positions={"AAPL": ("5", "150.5")}) as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=size) as pilot:
            await desk.start(pilot)
            await pilot.press("4")
            await filled_ahead(desk, pilot, fake)
            view = desk.session.projection
            # The execution is held: the position is still 5 (what the journal holds).
            assert view.position("ib", fake.account, KEY) == 5
            text, style = qty_cell(desk)
            assert text == "5?", text
            assert style == str(desk.app.screen.query_one(Positions).palette.warn), style
            said = edge(desk)
            assert said == "1 position behind: fill on its way; USD u -2.38 r 0.00", said
            assert "5?" in screen_text(desk)
            # The execution comes: the row reads the position, unmarked.
            await fake.release_executions()
            await until(pilot, "the fill", lambda: view.position("ib", fake.account, KEY) == 0)
            await desk.settle(pilot)
            text, _ = qty_cell(desk)
            assert text == "0", text
            assert "behind" not in edge(desk), edge(desk)
            await desk.session.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_close_ticket_says_the_filled_orders_fill_is_on_its_way(make_desk, size) -> None:
    async with FakeTws(positions={"AAPL": ("5", "150.5")}) as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=size) as pilot:
            await desk.start(pilot)
            await filled_ahead(desk, pilot, fake)
            await pilot.press("4", "home", "x")
            await desk.settle(pilot)
            ticket = desk.app.screen.query_one(Ticket)
            draft = ticket.draft()
            assert (draft.side, draft.quantity, draft.reduce_only) == (Side.SELL, "5", True)
            [problem] = [str(p) for p in ticket.run_check().problems]
            # Still counted: the close of 5 is refused, nothing can sell it twice.
            assert problem.startswith(
                "Qty: order marked reduce-only: a sell of 5 would take position 5 through "
                "zero with 5 FILLED to sell, not in the position yet; largest allowed 0; "
            ), problem
            # ... and said as what it is: FILLED, its fill on its way; never "cancel it".
            assert problem.endswith(
                "the FILLED SELL 5 @ 151.00 (…quki) holds the position: its fill is on its "
                "way (wait for it: a filled order cannot be cancelled) [reduce_only]"
            ), problem
            assert "cancel it first" not in problem, problem
            assert "working SELL" not in problem, problem
            await desk.settle(pilot)
            assert "fill is on its way" in " ".join(screen_text(desk).split()), screen_text(desk)
            # Sent anyway: refused at the ticket, nothing goes out.
            ticket.action_fire()
            await desk.settle(pilot)
            sells = [
                v
                for v in desk.session.projection.orders.values()
                if v.order.request.side is Side.SELL and v.client_order_id != SALE
            ]
            assert sells == []
            # The execution comes: the position is closed, nothing is left to close.
            await fake.release_executions()
            view = desk.session.projection
            await until(pilot, "the fill", lambda: view.position("ib", fake.account, KEY) == 0)
            await desk.settle(pilot)
            assert all("FILLED SELL" not in str(p) for p in ticket.run_check().problems)
            await desk.session.close()


async def test_an_opening_buy_filled_ahead_of_its_execution_is_said_too(make_desk) -> None:
    """From flat: no row to mark (a flat position has none), and nothing said it while
    the balance had already moved (a review). The pane's edge says it."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            view = desk.session.projection
            await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
            await fake.set_quote("AAPL", "150.00", "150.05")
            await until(pilot, "the quote", lambda: KEY in desk.app.model.quotes)
            fake.hold_next_executions()
            buy = sale(fake.account).model_copy(
                update={"side": Side.BUY, "limit_price": Decimal("149.00")}
            )
            await desk.session.engine.submit(buy)
            await until(
                pilot,
                "NEW",
                lambda: (v := view.order(SALE)) is not None and v.order.status is OrderStatus.NEW,
            )
            [order] = fake.orders
            await fake.fill(order.order_id)
            await until(
                pilot,
                "owed",
                lambda: (v := view.order(SALE)) is not None and v.order.owed_qty == 5,
            )
            await desk.settle(pilot)
            assert ROW not in desk.app.screen.query_one(Positions)._cells
            assert edge(desk).startswith("1 position behind: fill on its way"), edge(desk)
            await desk.session.close()
