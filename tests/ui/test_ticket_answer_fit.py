"""The answer to a send is on the screen whole, what to do included (a trader's review
at 120x36; docs/ui.md, the ticket).

A NOT SENT zoomed the ticket's pane when its problems did not fit, but the answer that
came back from the venue did not: at 120x36 TWS's margin rejection (201) filled the
ten lines under Send and went on below the pane's edge, the adapter's `reduce the
size` (what to do) and the rest out of sight, a scroll bar the only sign of it, and no
key scrolled the ticket from a field. Now the answer listed under Send (a venue's
REJECTED and its reason, NO ANSWER's advice, what became of it) shows whole as the
problems of a NOT SENT do: the pane zooms while the ticket has the keyboard, on the
answer and on coming back to it, and goes back when the trader leaves (`esc`) or the
next order leaves.

The real ib_async client against the fake TWS; nothing of ours is mocked."""

from __future__ import annotations

from textual.pilot import Pilot

from silvertine_tui.domain import OrderStatus
from silvertine_tui.ui.screens.main import MainScreen
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until
from .test_ticket_fold import on_screen, whole
from .test_ticket_venue_answer import ib_ready, said
from .test_trading_keys import open_buy_ticket, type_into

# TWS's words for a margin refusal as a live account gets them (error 201).
MARGIN = (
    "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED "
    "POSITION YOUR PREVIOUS DAY EQUITY WITH LOAN VALUE <E> [9511.27 USD] MUST EXCEED THE "
    "INITIAL MARGIN [15032.50 USD]"
)


async def rejected(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> Ticket:
    """BUY 10 AAPL.SMART at 149.50 from the ticket, F9 in the Qty field: TWS rejects
    it for margin."""
    await desk.start(pilot)
    await ib_ready(desk, pilot, fake)
    ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
    ticket.query_one("#t-limit_price").value = "149.50"  # type: ignore[attr-defined]
    await type_into(pilot, "10")
    await desk.settle(pilot)
    assert ticket.run_check().problems == []  # the ticket lets it go: the venue refuses
    fake.reject_next_order(201, MARGIN)
    await pilot.press("f9")
    await until(pilot, "REJECTED", lambda: said(ticket, "status") == "REJECTED: why below")
    await desk.settle(pilot)
    await pilot.pause()
    [order] = [v.order for v in desk.session.projection.orders.values()]
    assert order.status is OrderStatus.REJECTED
    return ticket


def answer_in_sight(desk: Desk, ticket: Ticket) -> None:
    """The venue's answer, every word of it to `reduce the size` and its rule, is on the
    screen inside the ticket's pane, and so is the order it is about."""
    answer = said(ticket, "problems")
    assert MARGIN in answer, answer
    assert answer.endswith("; reduce the size [InsufficientFunds]"), answer
    shown = on_screen(desk, ticket)
    assert "REJECTED: why below" in shown, shown
    assert whole(answer) in shown, f"{answer!r} not whole on screen: {shown}"
    for row in ("Symbol AAPL.SMART", "Qty 10", "Price 149.50", "Account < ib/"):
        assert row in shown, f"{row!r} not on screen: {shown}"


async def test_a_long_rejection_is_whole_on_the_screen_at_120x36(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            ticket = await rejected(desk, pilot, fake)
            answer_in_sight(desk, ticket)
            screen = desk.app.screen
            assert isinstance(screen, MainScreen)
            assert screen.maximized is ticket.parent  # the pane yields the desk's rows
            assert ticket.has_focus_within  # the trader's field keeps the keyboard
            await desk.session.close()


async def test_back_on_the_rejected_ticket_its_answer_is_whole_again(make_desk) -> None:
    """`esc` leaves the field and the zoom for the desk (the Orders pane, the Quotes);
    `2` back to the ticket, whose answer still stands: whole again. A change on the
    ticket is another order: its answer goes, and the next order that leaves ends the
    zoom."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            ticket = await rejected(desk, pilot, fake)
            screen = desk.app.screen
            assert isinstance(screen, MainScreen)
            await pilot.press("escape")
            await desk.settle(pilot)
            assert screen.maximized is None
            assert screen.active == "watchlist"
            await pilot.press("2")
            await desk.settle(pilot)
            await pilot.pause()
            assert said(ticket, "status") == "REJECTED: why below"
            answer_in_sight(desk, ticket)
            assert screen.maximized is ticket.parent
            # Another quantity: another order, the answer forgotten; sent, the desk again.
            ticket.query_one("#t-quantity").value = "5"  # type: ignore[attr-defined]
            await desk.settle(pilot)
            assert said(ticket, "problems") == ""
            desk.clock.advance(1.0)
            await pilot.press("f9")
            await until(pilot, "the answer", lambda: not ticket.sending)
            await desk.settle(pilot)
            assert said(ticket, "status").startswith("sent "), said(ticket, "status")
            assert screen.maximized is None
            await desk.session.close()


async def test_a_short_answer_that_fits_leaves_the_desk_as_it_is(make_desk) -> None:
    """An answer that fits under Send is read where it is: no zoom."""
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            await ib_ready(desk, pilot, fake)
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
            ticket.query_one("#t-limit_price").value = "149.50"  # type: ignore[attr-defined]
            await type_into(pilot, "5")
            fake.reject_next_order(201, "Order rejected - reason:NO MARGIN")
            await pilot.press("f9")
            await until(pilot, "REJECTED", lambda: said(ticket, "status") == "REJECTED: why below")
            await desk.settle(pilot)
            await pilot.pause()
            answer = said(ticket, "problems")
            assert "NO MARGIN" in answer, answer
            assert whole(answer) in on_screen(desk, ticket)
            screen = desk.app.screen
            assert isinstance(screen, MainScreen)
            assert screen.maximized is None
            await desk.session.close()
