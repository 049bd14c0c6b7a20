"""A short sell the paper venue's margin cannot hold is refused at the ticket, before
anything is sent (`Capabilities.short_margin`; docs/paper-simulator.md, rule 5).

The ticket judged a buy against the available balance, and a sell against the
position only on an account that cannot go short: with short selling on, a sell
beyond what the available balance margins passed, went out, and the venue refused it
(`insufficient balance: need 1,751.65 USDT, available 1,000.00`). A short holds back
its proceeds and a margin of its cost at the price it fills at: a limit at or under
the bid fills at the bid, and is judged there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.widgets import Input

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.domain.money import money_text
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, make_settings, market_buy
from .test_trading_keys import select_quote, ticket_of

ETH = "ETHUSDT.PAPER"
SHORTS: dict[str, Any] = {
    "checks": {"short_selling": True},
    "starting_cash": {"USDT": "1000", "USD": "1000"},
}


async def open_sell_ticket(desk: Desk, pilot: Any) -> Ticket:
    """ETHUSDT selected and s pressed: the ticket, filled in to sell at the bid
    (3,499.80 after the first step of seed 7)."""
    await select_quote(desk, pilot, ETH)
    await pilot.press("s")
    ticket = ticket_of(desk)
    draft = ticket.draft()
    assert (draft.side, draft.limit_price) == (Side.SELL, "3499.80")
    return ticket


async def set_field(pilot: Any, ticket: Ticket, name: str, value: str) -> None:
    ticket.query_one(f"#t-{name}", Input).value = value
    await pilot.pause()


def said(ticket: Ticket) -> list[str]:
    return [str(p) for p in ticket.run_check().problems]


async def send(desk: Desk, pilot: Any, ticket: Ticket) -> None:
    desk.clock.advance(1)  # past the fire key's debounce
    ticket.action_fire()
    await pilot.pause()
    if isinstance(desk.app.screen, ConfirmScreen):
        await pilot.press("y")
    await desk.settle(pilot)


def sells(desk: Desk) -> list[Any]:
    orders = desk.session.engine.oms.orders.values()
    return [v.order for v in orders if v.order.request.side is Side.SELL]


async def test_a_short_beyond_the_margin_is_refused_at_the_ticket(make_desk) -> None:
    """1,000 USDT, flat: SELL 0.5 at the bid needs 1,749.90 + its fee held as margin.
    Refused on the Qty row, naming the rule and the most it can sell; nothing goes out.
    The most it names goes out and the venue takes it."""
    desk: Desk = make_desk(settings=make_settings(paper=SHORTS))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_sell_ticket(desk, pilot)
        await set_field(pilot, ticket, "quantity", "0.5")
        assert said(ticket) == [
            "Qty: short 0.5 (position 0) needs 1,751.65 USDT of margin (notional 1,749.90 "
            "+ fee ~1.75), available 1,000.00 USDT: at most 0.2854 at bid price "
            "[short_margin]"
        ]
        ticket.action_fire()
        await desk.settle(pilot)
        assert sells(desk) == []  # nothing went to the venue to be refused
        await set_field(pilot, ticket, "quantity", "0.2854")
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        [sent] = sells(desk)
        assert sent.status is OrderStatus.FILLED, (sent.status, sent.reason)
        assert desk.session.engine.position("paper", "main", ETH) == Decimal("-0.2854")
        usdt = desk.session.projection.balances[("paper", "main", "USDT")]
        assert Decimal(0) <= usdt.available < Decimal(1)
        await desk.session.close()


async def test_a_limit_under_the_bid_is_judged_at_the_bid(make_desk) -> None:
    """SELL 0.288 @ 3,449.80, 50 under the bid: at its limit it would need 994.55, but
    it fills at the bid, 3,499.80, where it needs 1,008.95 (the venue judges it there).
    Refused, saying so."""
    desk: Desk = make_desk(settings=make_settings(paper=SHORTS))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_sell_ticket(desk, pilot)
        await set_field(pilot, ticket, "limit_price", "3449.80")
        await set_field(pilot, ticket, "quantity", "0.288")
        assert said(ticket) == [
            "Qty: short 0.288 (position 0) needs 1,008.96 USDT of margin (notional "
            "1,007.94 + fee ~1.01), available 1,000.00 USDT: at most 0.2854 at bid price "
            "[short_margin]"
        ]
        # Resting above the bid it fills at its limit, and is judged there.
        await set_field(pilot, ticket, "limit_price", "3600.00")
        assert said(ticket) == [
            "Qty: short 0.288 (position 0) needs 1,037.84 USDT of margin (notional "
            "1,036.80 + fee ~1.04), available 1,000.00 USDT: at most 0.2775 at limit price "
            "[short_margin]"
        ]
        await desk.session.close()


async def test_what_the_position_covers_is_not_margined(make_desk) -> None:
    """Long 0.1 ETH, 0.04 of it held by a working sell: a sell of 0.3 sells 0.06 of the
    position and 0.24 short, and only that is judged; the most it names goes out and
    the venue takes it."""
    desk: Desk = make_desk(settings=make_settings(paper=SHORTS))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000931", ETH, "0.1"))
        await engine.submit(
            OrderRequest(
                client_order_id="st000000000000000932",
                broker="paper",
                account="main",
                instrument=ETH,
                side=Side.SELL,
                order_type=OrderType.LIMIT,
                quantity=Decimal("0.04"),
                limit_price=Decimal("3650.00"),
                tif=TimeInForce.GTC,
            )
        )
        await desk.settle(pilot)
        assert engine.position("paper", "main", ETH) == Decimal("0.1")
        usdt = desk.session.projection.balances[("paper", "main", "USDT")]
        ticket = await open_sell_ticket(desk, pilot)
        await set_field(pilot, ticket, "quantity", "0.3")
        assert said(ticket) == [
            f"Qty: short 0.24 (position 0.1, 0.04 in working sells) needs 840.80 USDT of "
            f"margin (notional 839.95 + fee ~0.84), available {money_text(usdt.available)} "
            "USDT: at most 0.2454 at bid price [short_margin]"
        ]
        await set_field(pilot, ticket, "quantity", "0.2454")
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        sent = [o for o in sells(desk) if o.request.quantity == Decimal("0.2454")]
        assert [o.status for o in sent] == [OrderStatus.FILLED], [o.reason for o in sent]
        assert engine.position("paper", "main", ETH) == Decimal("-0.1454")
        await desk.session.close()
