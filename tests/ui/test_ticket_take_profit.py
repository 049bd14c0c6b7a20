"""TAKE_PROFIT (market-if-touched) in the ticket: offered where the broker takes it
(with only the time in force it takes there), stop-only like a STOP (the limit row is
put away), and sent exactly as shown; not offered where the broker lacks it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.domain import Capabilities, OrderType, TimeInForce
from silvertine_tui.events import OrderRequestEvent
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk
from .test_ticket_capabilities import choice, shown, start, switch_account, two_brokers
from .test_ticket_property import assert_sent_as_shown
from .test_ticket_property import shown as seen_on
from .test_trading_keys import open_buy_ticket

# Binance spot's choices: every type, a STOP or TAKE_PROFIT only GTC (no timeInForce).
SPOT = Capabilities(
    order_types=frozenset(OrderType),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.IOC}),
    trigger_market_tifs=frozenset({TimeInForce.GTC}),
    post_only=True,
    short_selling=False,
)


def desk_with(make_desk: Any, paper: Capabilities) -> Desk:
    desk: Desk = make_desk(settings=two_brokers())
    for broker, caps in zip(desk.session.brokers, (paper, SPOT), strict=True):
        assert isinstance(broker, PaperBroker)  # paper simulates TAKE_PROFIT
        broker.capabilities = caps
    return desk


async def test_the_ticket_offers_take_profit_and_sends_what_is_on_screen(make_desk) -> None:
    without = Capabilities(order_types=frozenset(OrderType) - {OrderType.TAKE_PROFIT})
    desk = desk_with(make_desk, without)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket: Ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        assert "TAKE_PROFIT" not in choice(ticket, "order_type").options
        await switch_account(desk, pilot, ticket, "spot/main")
        assert "TAKE_PROFIT" in choice(ticket, "order_type").options
        choice(ticket, "order_type").value = "TAKE_PROFIT"
        await desk.settle(pilot)
        assert choice(ticket, "tif").options == ["GTC"]
        assert (shown(ticket, "stop_price"), shown(ticket, "limit_price")) == (True, False)
        ask = desk.app.model.quotes["ETHUSDT.PAPER"].quote.ask
        assert ask is not None
        stop = ask - Decimal(50)  # a buy take-profit below the market
        ticket.query_one("#t-quantity").value = "0.02"  # type: ignore[attr-defined]
        ticket.query_one("#t-stop_price").value = f"{stop:f}"  # type: ignore[attr-defined]
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert checked.ok, checked.problems
        seen = seen_on(ticket)
        await pilot.press("f9")
        await desk.settle(pilot)
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("spot", "main"))
        [request] = [e.event.payload for e in entries if isinstance(e.event, OrderRequestEvent)]
        assert_sent_as_shown(desk, request, seen)
        assert (request.order_type, request.tif, request.stop_price, request.limit_price) == (
            OrderType.TAKE_PROFIT,
            TimeInForce.GTC,
            stop,
            None,
        )
        # Back on paper (without it): the choice is replaced, never left selected.
        await switch_account(desk, pilot, ticket, "paper/main")
        assert ticket.draft().order_type is not OrderType.TAKE_PROFIT
        await desk.session.close()
