"""What the ticket says of the order it sent once it holds another, or once F9 again
would be refused. After F9 it keeps its fields; `sent 5xarwrz4: BUY 0.01 BTCUSDT` beside
Send stayed over a ticket flipped to SELL (`ctrl+s`) or edited, read as what it held;
and with trading HALTED since, "F9 again: BUY ..." under "F9 again would not be sent:"
read as F9 sending it."""

from __future__ import annotations

from textual.widgets import Input

from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, make_settings, until
from .test_ticket_repeat import resting_bid, status
from .test_trading_keys import open_buy_ticket, type_into


def preview(ticket: Ticket) -> str:
    return ticket.query_one("#t-preview", TextBlock).text.plain


def problems(ticket: Ticket) -> str:
    return ticket.query_one("#t-problems", TextBlock).text.plain


async def test_the_sent_line_says_last_once_the_ticket_is_flipped_or_edited(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await resting_bid(desk, pilot)
        sent = status(ticket)
        assert sent.startswith("sent "), sent
        assert sent.endswith("BUY 0.01 BTCUSDT.PAPER"), sent
        assert preview(ticket).startswith("F9 again: 640.00 USDT"), preview(ticket)
        await pilot.press("ctrl+s")  # flipped: a SELL now, the BUY was the last sent
        await desk.settle(pilot)
        said = ticket.query_one("#t-status", TextBlock)
        assert status(ticket) == f"last {sent}"
        assert said.has_class("-muted")
        assert not said.has_class("-ok")
        assert preview(ticket).startswith("640.00 USDT fee~0.64 pos 0->-0.01"), preview(ticket)
        await pilot.press("ctrl+s")  # flipped back: the same order, F9 again would send it
        await desk.settle(pilot)
        assert status(ticket) == f"last {sent}"  # said once, not "last last"
        assert preview(ticket).startswith("F9 again: 640.00 USDT"), preview(ticket)
        await type_into(pilot, "2")  # 0.012: edited
        await desk.settle(pilot)
        assert status(ticket) == f"last {sent}"
        assert preview(ticket).startswith("768.00 USDT"), preview(ticket)
        await desk.session.close()


async def test_f9_again_refused_is_not_previewed_as_f9_again(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await resting_bid(desk, pilot)
        sent = status(ticket)
        await desk.session.engine.kill("test")
        await desk.settle(pilot)
        ticket.run_check()
        await desk.settle(pilot)
        lines = problems(ticket).splitlines()
        assert lines[0] == "F9 again would not be sent:", lines
        assert any("HALTED" in line for line in lines[1:]), lines
        assert not preview(ticket).startswith("F9 again"), preview(ticket)
        assert preview(ticket).startswith("640.00 USDT"), preview(ticket)
        assert status(ticket) == sent  # unchanged ticket: still the order it sent
        await desk.session.close()


async def test_the_sent_line_stays_while_a_confirmation_asks(make_desk) -> None:
    """F9 again on the unchanged ticket asks first; while it asks nothing is on its way
    (the ticket only holds the key): the status said "sending 00000002 ...: NEW at
    paper/main, its answer not back yet" of the order sent a second before."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await resting_bid(desk, pilot)
        sent = status(ticket)
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, ConfirmScreen)
        assert status(ticket) == sent
        await desk.session.close()


async def test_an_answer_that_names_the_order_names_it_short(make_desk) -> None:
    """An adapter's words name the whole id ("no answer from paper/main to the order
    st0000...02: ..."); the ticket and its toast name it as "sent ..." does."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await type_into(pilot, "0.01")
        coid = ticket.client_order_id
        desk.broker.lose_next_order_answer()
        await pilot.press("f9")
        await desk.settle(pilot)
        said = [n.message for n in desk.app._notifications if n.title.startswith("Order sent")]
        assert said == [
            f"no answer from paper/main to the order {short_id(coid)}: its outcome is "
            "unknown; asking the venue (it is not sent again)"
        ]
        assert coid not in problems(ticket) + status(ticket)
        await desk.session.close()


async def test_flipped_while_its_order_is_on_its_way_the_answer_says_last(make_desk) -> None:
    """The ticket flipped to SELL (ctrl+s) while its BUY was on its way: the answer
    said "sent ...: BUY ..." in the ok colour over the SELL ticket."""
    desk: Desk = make_desk(
        settings=make_settings(paper={"latency": {"enabled": True, "ack_ms": 400, "jitter_ms": 0}})
    )
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-limit_price", Input).value = "64000.00"
        await type_into(pilot, "0.01")
        await pilot.press("f9")
        await pilot.pause()
        assert ticket.sending
        await pilot.press("ctrl+s")
        await pilot.pause()
        await until(pilot, "the answer", lambda: not ticket.sending)
        await desk.settle(pilot)
        said = status(ticket)
        assert said.startswith("last sent "), said
        assert said.endswith("BUY 0.01 BTCUSDT.PAPER"), said
        assert ticket.query_one("#t-status", TextBlock).has_class("-muted")
        await desk.session.close()
