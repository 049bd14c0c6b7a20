"""A ticket on an instrument with no quote at all (a paper market on an external feed
before it arrives, an IB contract with no market data): the price collar has no mark to
measure a price from, so a price typed anywhere passes. The ticket says so, in the
preview and in the confirmation, and still sends (whether to refuse is the desk's
rule, not the ticket's)."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input, Static

from silvertine_tui.events import OrderRequestEvent
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk, make_settings
from .test_trading_keys import ticket_of, type_into

NO_MARKET = "no quote yet: no market price checked, the market may be elsewhere"


def no_feed(**ui: object) -> object:
    return make_settings(paper={"market": {"source": "external", "autorun": False}}, **ui)


async def requests(desk: Desk) -> list[tuple[object, ...]]:
    bus = desk.session.bus
    entries = await bus.read(bus.layout.exec("paper", "main"))
    return [
        (e.event.payload.quantity, e.event.payload.limit_price)
        for e in entries
        if isinstance(e.event, OrderRequestEvent)
    ]


async def test_no_quote_at_all_is_said_in_the_preview_and_the_order_still_goes(
    make_desk,
) -> None:
    desk: Desk = make_desk(settings=no_feed())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        assert "BTCUSDT.PAPER" not in desk.app.model.quotes  # no quote, ever
        assert desk.session.projection.last_price("BTCUSDT.PAPER") is None
        await pilot.press("2")
        ticket = ticket_of(desk)
        await type_into(pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-quantity", Input).value = "0.01"
        # Ten times the market the trader has in mind: nothing here can tell.
        ticket.query_one("#t-limit_price", Input).value = "650000"
        await pilot.pause()
        preview = ticket.query_one("#t-preview", TextBlock).text.plain
        assert preview == f"6,500.00 USDT fee~6.50 pos 0->0.01\n{NO_MARKET}"
        await pilot.press("f9")
        await desk.settle(pilot)
        # Warned, not refused.
        assert await requests(desk) == [(Decimal("0.01"), Decimal("650000"))]


async def test_the_confirmation_says_no_market_price_was_checked(make_desk) -> None:
    desk: Desk = make_desk(settings=no_feed(confirm_notional=1000))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await pilot.press("2")
        ticket = ticket_of(desk)
        await type_into(pilot, "BTCUSDT.PAPER")
        ticket.query_one("#t-quantity", Input).value = "0.01"
        ticket.query_one("#t-limit_price", Input).value = "650000"
        await pilot.pause()
        await pilot.press("f9")  # 6,500.00 is above the confirmation limit: asked
        await pilot.pause()
        dialog = desk.app.screen
        assert isinstance(dialog, ConfirmScreen)
        body = str(dialog.query_one("#dialog-body", Static).render())
        assert body.endswith(f"6,500.00 USDT fee~6.50 pos 0->0.01\n{NO_MARKET}")
        await pilot.press("n")
        await desk.settle(pilot)
        assert await requests(desk) == []
