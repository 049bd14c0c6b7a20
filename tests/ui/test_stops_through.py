"""A stop already through the market as it is typed (a trader's review on the paper
desk): with the ask at ~65,000 a BUY STOP 0.1 BTCUSDT stop 64,000 went with no word of
it, its preview priced at the stop (`6,400.00 USDT at stop fee~6.40`), and it filled at
once at 64,997.82. The paper venue triggers such a stop at once (docs/paper-simulator.md,
Stops): the ticket warns, naming the field, the market price and the rule, and prices
it where it trades, at the ask. A stop that waits is priced at its stop, unwarned."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input

from silvertine_tui.domain import OrderStatus, OrderType, Side
from silvertine_tui.events import OrderRequestEvent
from silvertine_tui.ui.format import num
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk
from .test_ticket_capabilities import choice
from .test_trading_keys import open_buy_ticket

BTC = "BTCUSDT.PAPER"


def preview_of(ticket: Ticket) -> str:
    return ticket.query_one("#t-preview", TextBlock).text.plain


async def stop_ticket(
    desk: Desk, pilot: Pilot[None], kind: str, stop: Decimal, limit: Decimal | None = None
) -> Ticket:
    ticket = await open_buy_ticket(desk, pilot, BTC)
    choice(ticket, "order_type").value = kind
    await desk.settle(pilot)
    ticket.query_one("#t-quantity", Input).value = "0.1"
    ticket.query_one("#t-stop_price", Input).value = f"{stop}"
    if limit is not None:
        ticket.query_one("#t-limit_price", Input).value = f"{limit}"
    await desk.settle(pilot)
    return ticket


async def test_a_buy_stop_below_the_ask_is_warned_and_priced_at_the_ask(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        quote = desk.app.model.quotes[BTC].quote
        assert quote.ask is not None
        ask = quote.ask
        stop = (ask - 1000).quantize(Decimal("1"))
        ticket = await stop_ticket(desk, pilot, "STOP", stop)
        preview = preview_of(ticket)
        # At the ask it buys at, not at the stop.
        notional = num(Decimal("0.1") * ask, 2)
        assert preview.startswith(f"{notional} USDT at ask fee~"), preview
        warning = (
            f"Stop: a buy stop at or below the market (ask {ask:,.2f}) triggers at once: "
            "it buys at the market now [stop_through]"
        )
        assert warning in preview.splitlines()
        checked = ticket.run_check()
        assert checked.ok, checked.problems  # the paper venue takes it: a warning only
        assert [str(w) for w in checked.warnings] == [warning]
        # Sent as shown: it triggers at once and fills at the market.
        await pilot.press("f9")
        await desk.settle(pilot)
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("paper", "main"))
        [request] = [e.event.payload for e in entries if isinstance(e.event, OrderRequestEvent)]
        assert (request.order_type, request.stop_price) == (OrderType.STOP, stop)
        view = desk.session.projection.order(request.client_order_id)
        assert view is not None
        assert view.order.status is OrderStatus.FILLED
        assert view.order.avg_price is not None
        assert view.order.avg_price >= ask
        await desk.session.close()


async def test_a_stop_that_waits_is_priced_at_its_stop_and_not_warned(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = desk.app.model.quotes[BTC].quote.ask
        assert ask is not None
        stop = (ask + 1000).quantize(Decimal("1"))
        ticket = await stop_ticket(desk, pilot, "STOP", stop)
        preview = preview_of(ticket)
        assert preview.startswith(f"{num(Decimal('0.1') * stop, 2)} USDT at stop fee~"), preview
        assert "stop_through" not in preview
        assert ticket.run_check().warnings == []
        # A stop-limit through the market works at once as a limit at its price: said,
        # and priced at its limit.
        through = (ask - 1000).quantize(Decimal("1"))
        limit = (ask - 100).quantize(Decimal("0.01"))
        ticket.query_one("#t-stop_price", Input).value = f"{through}"
        choice(ticket, "order_type").value = "STOP_LIMIT"
        await desk.settle(pilot)
        ticket.query_one("#t-limit_price", Input).value = f"{limit}"
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert checked.request is not None
        assert checked.request.side is Side.BUY
        assert [str(w) for w in checked.warnings] == [
            f"Stop: a buy stop at or below the market (ask {ask:,.2f}) triggers at once: "
            f"it works as a limit at {limit:,.2f} now [stop_through]"
        ]
        assert preview_of(ticket).startswith(f"{num(Decimal('0.1') * limit, 2)} USDT fee~")
        await desk.session.close()
