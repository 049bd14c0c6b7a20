"""The ticket says the venue's answer truly (an IB desk review, 80x24 and 120x36).

1. After TWS rejected an order (201), the kill switch pulled or a 1100 afterwards listed
   its new problem first under `REJECTED: why below` (`trading is HALTED (kill switch);
   resume first [trading_state]`, then IB's margin reason): a new problem read as why
   IB had rejected the order. The venue's answer is listed first; the check's problems
   since are under their own heading (`F9 again would not be sent:`).
2. After a NO ANSWER the ticket still said `NO ANSWER: it may be working, see below`
   and `... asking TWS what became of it` 20 s after the order was REJECTED (found
   never to have reached TWS), found working or cancelled. Once the order is heard of
   the status says what became of it; a new ticket inherits none of it.

The real ib_async client against the fake TWS; nothing of ours is mocked."""

from __future__ import annotations

from textual.pilot import Pilot

from silvertine_tui.brokers.ib import IBBroker
from silvertine_tui.domain import ConnectionState, OrderStatus, TradingState
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.fakes.tws import FakeTws
from tests.support.ib import paper_and_ib

from .conftest import Desk, until
from .test_trading_keys import open_buy_ticket, type_into

MARGIN = "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. INSUFFICIENT MARGIN"
HEADING = "F9 again would not be sent:"


def said(ticket: Ticket, part: str) -> str:
    return ticket.query_one(f"#t-{part}", TextBlock).text.plain


async def ib_ready(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> None:
    view = desk.session.projection
    await until(pilot, "IB LIVE", lambda: view.broker_state("ib") is ConnectionState.LIVE)
    await fake.set_quote("AAPL", "150.00", "150.05")
    await until(pilot, "the AAPL quote", lambda: "AAPL.SMART" in desk.app.model.quotes)
    await desk.settle(pilot)


async def rejected_ticket(desk: Desk, pilot: Pilot[None], fake: FakeTws) -> Ticket:
    """BUY 10 AAPL.SMART at 149.50 from the ticket, rejected by TWS (201)."""
    await ib_ready(desk, pilot, fake)
    ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
    ticket.query_one("#t-limit_price").value = "149.50"  # type: ignore[attr-defined]
    await type_into(pilot, "10")
    fake.reject_next_order(201, MARGIN)
    await pilot.press("f9")
    await until(pilot, "REJECTED", lambda: said(ticket, "status") == "REJECTED: why below")
    await desk.settle(pilot)
    [reason] = said(ticket, "problems").splitlines()
    assert "INSUFFICIENT MARGIN" in reason, reason
    return ticket


async def test_the_rejection_stays_first_when_the_kill_switch_is_pulled_after(
    make_desk,
) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            ticket = await rejected_ticket(desk, pilot, fake)
            await pilot.press("escape", "ctrl+backslash")  # from the Quotes, as the review
            await pilot.pause()
            await pilot.press("y")
            await until(
                pilot,
                "HALTED",
                lambda: desk.session.projection.trading_state is TradingState.HALTED,
            )
            await desk.next_second(pilot)
            await pilot.press("2")
            await desk.settle(pilot)
            assert said(ticket, "status") == "REJECTED: why below"
            lines = said(ticket, "problems").splitlines()
            assert "INSUFFICIENT MARGIN" in lines[0], lines
            assert lines[1] == HEADING, lines
            assert lines[2].endswith("[trading_state]"), lines
            assert len(lines) == 3, lines
            await desk.session.close()


async def test_the_rejection_stays_first_when_tws_loses_ib_after(make_desk) -> None:
    async with FakeTws() as fake:
        desk: Desk = make_desk(settings=paper_and_ib(fake))
        async with desk.app.run_test(size=(80, 24)) as pilot:
            await desk.start(pilot)
            ticket = await rejected_ticket(desk, pilot, fake)
            await fake.connectivity_lost()  # 1100: orders cannot go out
            view = desk.session.projection
            await until(
                pilot, "IB DEGRADED", lambda: view.broker_state("ib") is ConnectionState.DEGRADED
            )
            await desk.next_second(pilot)
            assert said(ticket, "status") == "REJECTED: why below"
            lines = said(ticket, "problems").splitlines()
            assert "INSUFFICIENT MARGIN" in lines[0], lines
            assert lines[1] == HEADING, lines
            assert "[order_path]" in said(ticket, "problems").split(HEADING)[1], lines
            await desk.session.close()


def ib_of(desk: Desk) -> IBBroker:
    [ib] = [b for b in desk.session.brokers if isinstance(b, IBBroker)]
    return ib


async def unanswered(desk: Desk, pilot: Pilot[None], fake: FakeTws, fault: str) -> Ticket:
    """BUY 3 AAPL.SMART at 148.30 from the ticket, its place unanswered (`fault` armed
    on the fake TWS): the ticket says NO ANSWER."""
    await ib_ready(desk, pilot, fake)
    ib_of(desk).unknown_order_window_s = 0.5  # how long TWS is asked before REJECTED
    ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")
    ticket.query_one("#t-limit_price").value = "148.30"  # type: ignore[attr-defined]
    await type_into(pilot, "3")
    if fault == "lost":
        fake.ignore_next("place_order")  # never reached TWS
    else:
        fake.lose_next_order_answer()  # works at TWS, its first answer lost
    await pilot.press("f9")
    await until(pilot, "NO ANSWER", lambda: said(ticket, "status").startswith("NO ANSWER"))
    assert "[BrokerTimeout]" in said(ticket, "problems")
    return ticket


def order_of(desk: Desk) -> str:
    [coid] = [
        c for c, v in desk.session.projection.orders.items() if v.broker == "ib"
    ]  # the one order sent
    return coid


async def status_is(desk: Desk, pilot: Pilot[None], coid: str, status: OrderStatus) -> None:
    await until(
        pilot,
        f"{status} in the projection",
        lambda: (v := desk.session.projection.order(coid)) is not None and v.order.status is status,
    )
    await desk.next_second(pilot)  # the ticket is checked once a second


async def test_no_answer_then_rejected_says_rejected_and_why(make_desk) -> None:
    async with FakeTws() as fake:
        settings = paper_and_ib(fake, order_timeout_s=0.5)
        desk: Desk = make_desk(settings=settings)
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            ticket = await unanswered(desk, pilot, fake, "lost")
            coid = order_of(desk)
            await status_is(desk, pilot, coid, OrderStatus.REJECTED)
            assert said(ticket, "status") == "NO ANSWER, then REJECTED: why below"
            problems = said(ticket, "problems")
            assert problems.startswith(f"order {short_id(coid)} BUY 3 AAPL.SMART: "), problems
            assert "it never reached the venue" in problems, problems
            assert "asking TWS" not in problems, problems
            assert "BrokerTimeout" not in problems, problems
            # Said once: the next seconds leave it as it is.
            await desk.next_second(pilot)
            assert said(ticket, "status") == "NO ANSWER, then REJECTED: why below"
            await desk.session.close()


async def test_no_answer_then_found_working_then_cancelled_follows_the_order(
    make_desk,
) -> None:
    async with FakeTws() as fake:
        settings = paper_and_ib(fake, order_timeout_s=0.5)
        desk: Desk = make_desk(settings=settings)
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            ticket = await unanswered(desk, pilot, fake, "working")
            coid = order_of(desk)
            await status_is(desk, pilot, coid, OrderStatus.NEW)
            assert said(ticket, "status") == (
                f"NO ANSWER, then found working: {short_id(coid)} BUY 3 AAPL.SMART (NEW)"
            )
            assert "asking TWS" not in said(ticket, "problems")
            assert said(ticket, "preview").startswith("F9 again: ")  # it would be another
            await desk.session.engine.cancel(coid)
            await status_is(desk, pilot, coid, OrderStatus.CANCELED)
            assert said(ticket, "status") == (
                f"NO ANSWER, then CANCELED: {short_id(coid)} BUY 3 AAPL.SMART"
            )
            await desk.session.close()


async def test_no_answer_then_filled_says_filled(make_desk) -> None:
    async with FakeTws() as fake:
        settings = paper_and_ib(fake, order_timeout_s=0.5)
        desk: Desk = make_desk(settings=settings)
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            ticket = await unanswered(desk, pilot, fake, "working")
            coid = order_of(desk)
            await status_is(desk, pilot, coid, OrderStatus.NEW)
            await fake.fill(fake.orders[0].order_id)
            await status_is(desk, pilot, coid, OrderStatus.FILLED)
            assert said(ticket, "status") == (
                f"NO ANSWER, then FILLED: {short_id(coid)} BUY 3 AAPL.SMART"
            )
            await desk.session.close()


async def test_a_new_ticket_inherits_nothing_of_the_order_without_answer(make_desk) -> None:
    async with FakeTws() as fake:
        settings = paper_and_ib(fake, order_timeout_s=0.5)
        desk: Desk = make_desk(settings=settings)
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            ticket = await unanswered(desk, pilot, fake, "lost")
            coid = order_of(desk)
            await pilot.press("escape")
            ticket = await open_buy_ticket(desk, pilot, "AAPL.SMART")  # a new ticket
            await desk.settle(pilot)
            assert said(ticket, "status") == ""
            await status_is(desk, pilot, coid, OrderStatus.REJECTED)
            assert said(ticket, "status") == ""
            assert said(ticket, "problems") == ""
            await desk.session.close()


async def test_an_edited_ticket_is_not_told_of_the_order_without_answer(make_desk) -> None:
    async with FakeTws() as fake:
        settings = paper_and_ib(fake, order_timeout_s=0.5)
        desk: Desk = make_desk(settings=settings)
        async with desk.app.run_test(size=(120, 36)) as pilot:
            await desk.start(pilot)
            ticket = await unanswered(desk, pilot, fake, "lost")
            coid = order_of(desk)
            await type_into(pilot, "0")  # 3 -> 30: another order on the ticket
            await desk.settle(pilot)
            assert said(ticket, "status") == ""
            await status_is(desk, pilot, coid, OrderStatus.REJECTED)
            assert said(ticket, "status") == ""
            assert said(ticket, "problems") == ""
            await desk.session.close()
