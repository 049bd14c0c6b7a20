"""What is sent is what is on the ticket: a closing or a signal's ticket moved to
another symbol or account is no longer that close or that signal's order (it went out
reduce-only and tagged `close` / `signal:<strategy>`, with nothing on screen saying so
once the note beside Send was gone), and a side flipped on a price still as prefilled
takes the new side's price (a buy at the ask became a sell at the ask)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.widgets import Input

from silvertine_tui.domain import OrderRequest, Side
from silvertine_tui.events import OrderRequestEvent, Signal, SignalEvent
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, market_buy
from .test_ticket_account import paper_and_spot, start
from .test_trading_keys import open_buy_ticket, select_quote, ticket_of, type_into

ETH, BTC = "ETHUSDT.PAPER", "BTCUSDT.PAPER"


async def sent(desk: Desk, broker: str = "paper") -> list[OrderRequest]:
    bus = desk.session.bus
    entries = await bus.read(bus.layout.exec(broker, "main"))
    return [e.event.payload for e in entries if isinstance(e.event, OrderRequestEvent)]


def said(ticket: Ticket, part: str) -> str:
    return ticket.query_one(f"#t-{part}", TextBlock).text.plain


async def retype(pilot: Any, ticket: Ticket, name: str, text: str) -> None:
    """Into the field by the keyboard: its prefilled value is selected, the keys replace
    it."""
    ticket.query_one(f"#t-{name}", Input).focus()
    await pilot.pause()
    await type_into(pilot, text)
    await pilot.pause()


async def test_a_close_moved_to_another_symbol_is_no_longer_reduce_only_or_tagged(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000901", ETH, "1"))
        await engine.submit(market_buy("st000000000000000902", BTC, "0.02"))
        await desk.step(pilot, 2)
        await pilot.press("4", "home", "x")  # the close of the first position: BTC
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        draft = ticket.draft()
        assert (draft.instrument, draft.tag, draft.reduce_only) == (BTC, "close", True)
        assert said(ticket, "preview").endswith("reduce-only")

        # A new quantity keeps it the close it is.
        await retype(pilot, ticket, "quantity", "0.01")
        assert (ticket.draft().tag, ticket.draft().reduce_only) == ("close", True)

        # Another symbol: an ETH sell the trader builds on it, not the BTC close.
        await retype(pilot, ticket, "instrument", ETH)
        bid = desk.app.model.quotes[ETH].quote.bid
        assert bid is not None
        await retype(pilot, ticket, "limit_price", str(bid))
        await retype(pilot, ticket, "quantity", "0.5")
        draft = ticket.draft()
        assert (draft.tag, draft.reduce_only) == ("", False)
        assert "reduce-only" not in said(ticket, "preview")
        assert said(ticket, "status") == "another symbol: not reduce-only, tag close dropped"
        await pilot.press("f9")
        await desk.settle(pilot)
        orders = [r for r in await sent(desk) if r.instrument == ETH and r.side is Side.SELL]
        assert [(r.quantity, r.tag, r.reduce_only) for r in orders] == [(Decimal("0.5"), "", False)]
        await desk.session.close()


async def test_a_signal_ticket_moved_to_another_account_is_no_longer_the_signals(
    make_desk,
) -> None:
    desk: Desk = make_desk(settings=paper_and_spot())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        signal = Signal(
            strategy="meanrev",
            instrument=ETH,
            side=Side.BUY,
            quantity=Decimal("0.25"),
            price=Decimal("3400.00"),
            note="2 sigma below the mean",
        )
        await desk.session.bus.publish(
            SignalEvent.create("strategy:meanrev", signal, ts=desk.clock.ns())
        )
        await desk.settle(pilot)
        await pilot.press("8", "enter")
        await desk.settle(pilot)
        ticket = ticket_of(desk)
        draft = ticket.draft()
        assert (draft.account, draft.tag) == ("paper/main", "signal:meanrev")
        assert said(ticket, "status") == "signal meanrev: 2 sigma below the mean"

        ticket.query_one("#t-account").focus()
        await pilot.pause()
        await pilot.press("right")  # spot/main
        await pilot.pause()
        draft = ticket.draft()
        assert (draft.account, draft.tag) == ("spot/main", "")
        assert said(ticket, "status") == "another account: tag signal:meanrev dropped"
        desk.clock.advance(1.0)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert [(r.quantity, r.tag) for r in await sent(desk, "spot")] == [(Decimal("0.25"), "")]
        await desk.session.close()


async def test_a_flip_takes_the_new_sides_price_while_the_price_is_as_prefilled(
    make_desk,
) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, ETH)
        quote = desk.app.model.quotes[ETH].quote
        assert ticket.draft().limit_price == str(quote.ask)
        await type_into(pilot, "1")  # the quantity
        await pilot.press("ctrl+s")
        await pilot.pause()
        draft = ticket.draft()
        assert (draft.side, draft.limit_price) == (Side.SELL, str(quote.bid))
        await pilot.press("ctrl+s")  # and back: the ask again
        await pilot.pause()
        assert (ticket.draft().side, ticket.draft().limit_price) == (Side.BUY, str(quote.ask))

        # By the Side choice too.
        ticket.query_one("#t-side").focus()
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert (ticket.draft().side, ticket.draft().limit_price) == (Side.SELL, str(quote.bid))

        # A price the trader typed stays as typed.
        await retype(pilot, ticket, "limit_price", "3400.00")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (ticket.draft().side, ticket.draft().limit_price) == (Side.BUY, "3400.00")
        await desk.session.close()


async def test_a_sell_flipped_to_a_buy_sends_at_the_ask(make_desk) -> None:
    """The order that leaves is the one on screen after the flip: a buy at the ask,
    marketable, as `b` would have prefilled it."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await select_quote(desk, pilot, ETH)
        await pilot.press("s")
        ticket = ticket_of(desk)
        await type_into(pilot, "0.5")
        await pilot.press("ctrl+s")
        await pilot.pause()
        ask = desk.app.model.quotes[ETH].quote.ask
        assert ticket.draft().limit_price == str(ask)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert [(r.side, r.limit_price) for r in await sent(desk)] == [(Side.BUY, ask)]
        await desk.session.close()
