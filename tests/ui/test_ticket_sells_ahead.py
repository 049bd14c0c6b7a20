"""When the working sells hold the position, the ticket says so and what to do (a
trader's review of the paper desk, `leverage: 3, short_selling: true`).

Long 1.6 ETH, a take-profit SELL 1.6 @ 3,650.00 resting, then a SELL 0.5 at 3,400
(it fills at once): the ticket refused it as `short 0.5 (position 1.6, 1.6 in working
sells) needs ... of margin` beside its own preview's `pos 1.6->1.1`, and the close
(`x`, reduce-only, 0.5) as `... through zero with 1.6 already working to sell;
largest allowed 0`. Both rules are right (filled first, the take-profit then holds
only 1.1 and would sell 0.5 short), but nothing said that the take-profit stood in the
way nor what to do. Each now names it and by how much to reduce it; done, the sale
goes and the venue takes it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.domain import Order, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.domain.money import money_text
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, make_settings, market_buy
from .test_ticket_short_margin import open_sell_ticket, said, send, set_field
from .test_trading_keys import ticket_of

ETH = "ETHUSDT.PAPER"
LEVERED: dict[str, Any] = {
    "checks": {"leverage": "3", "short_selling": True},
    "starting_cash": {"USDT": "2000", "USD": "100000"},
}
BOUGHT = "st000000000000000971"
TAKE_PROFIT = "st000000000000000972"  # its short reference: (…0972)


def take_profit(quantity: str = "1.6") -> OrderRequest:
    return OrderRequest(
        client_order_id=TAKE_PROFIT,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=Decimal("3650.00"),
        tif=TimeInForce.GTC,
    )


async def long_with_take_profit(desk: Desk, pilot: Any) -> None:
    """Long 1.6 ETH bought at the ask, a SELL 1.6 @ 3,650.00 resting above it."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    engine = desk.session.engine
    await engine.submit(market_buy(BOUGHT, ETH, "1.6"))
    await engine.submit(take_profit())
    await desk.settle(pilot)
    assert engine.position("paper", "main", ETH) == Decimal("1.6")
    assert order(desk, TAKE_PROFIT).status is OrderStatus.NEW


def order(desk: Desk, coid: str) -> Order:
    view = desk.session.projection.order(coid)
    assert view is not None
    return view.order


def available(desk: Desk) -> Decimal:
    return desk.session.projection.balances[("paper", "main", "USDT")].available


def sold(desk: Desk, quantity: str) -> list[Order]:
    """The ticket's sells of `quantity` (not the take-profit)."""
    views = desk.session.projection.orders.values()
    return [
        v.order
        for v in views
        if v.order.request.side is Side.SELL
        and v.client_order_id != TAKE_PROFIT
        and v.order.request.quantity == Decimal(quantity)
    ]


async def test_the_short_margin_refusal_names_the_sell_that_holds_the_position(
    make_desk,
) -> None:
    """SELL 0.5 @ 3,400 (under the bid: it fills there) is short only because the
    take-profit of all 1.6 comes first: refused, as the venue would, and said so, with
    what to do. The take-profit reduced by 0.5, as said, the sale passes and fills."""
    desk: Desk = make_desk(settings=make_settings(paper=LEVERED))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await long_with_take_profit(desk, pilot)
        ticket = await open_sell_ticket(desk, pilot)
        await set_field(pilot, ticket, "limit_price", "3400.00")
        await set_field(pilot, ticket, "quantity", "0.5")
        checked = ticket.run_check()
        assert checked.preview is not None
        assert "pos 1.6->1.1" in checked.preview.text()  # the position after this fill
        [problem] = said(ticket)
        assert problem.startswith("Qty: short 0.5 (position 1.6, 1.6 in working sells) needs ")
        assert f"available {money_text(available(desk))} USDT: at most " in problem
        assert problem.endswith(
            " at bid price; the working SELL 1.6 @ 3,650.00 (…0972) holds the position: "
            "cancel it or reduce it by 0.5 first, then this sale needs no margin [short_margin]"
        ), problem
        ticket.action_fire()
        await desk.settle(pilot)
        assert sold(desk, "0.5") == []  # nothing went out
        # As said: the take-profit down by 0.5, to 1.1.
        await desk.session.engine.modify(TAKE_PROFIT, quantity=Decimal("1.1"))
        await desk.settle(pilot)
        assert order(desk, TAKE_PROFIT).quantity == Decimal("1.1")
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        [sale] = sold(desk, "0.5")
        assert sale.status is OrderStatus.FILLED, sale.reason
        position = desk.session.engine.position("paper", "main", ETH)
        assert position == Decimal("1.1")
        await desk.session.close()


async def test_a_sale_beyond_the_position_names_no_sell(make_desk) -> None:
    """SELL 2 @ 3,400 with the take-profit of all 1.6 resting: 0.4 of it is short
    whatever the take-profit does (cancelled, the 0.4 still needs 1,400 of margin, over
    the 380 there is): the take-profit is not named, and a SELL 1.6 (all the position)
    is told to cancel it."""
    desk: Desk = make_desk(settings=make_settings(paper=LEVERED))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await long_with_take_profit(desk, pilot)
        ticket = await open_sell_ticket(desk, pilot)
        await set_field(pilot, ticket, "limit_price", "3400.00")
        await set_field(pilot, ticket, "quantity", "2")
        [problem] = said(ticket)
        assert problem.startswith("Qty: short 2 (position 1.6, 1.6 in working sells) needs ")
        assert "working SELL" not in problem, problem
        await set_field(pilot, ticket, "quantity", "1.6")
        [problem] = said(ticket)
        assert problem.endswith(
            "; the working SELL 1.6 @ 3,650.00 (…0972) holds the position: cancel it "
            "first, then this sale needs no margin [short_margin]"
        ), problem
        await desk.session.close()


async def test_no_working_sell_is_named_when_none_holds_the_position(make_desk) -> None:
    """Flat, a SELL 1 beyond the margin with nothing working: the refusal is as it was,
    nothing named (no sell stands in the way)."""
    desk: Desk = make_desk(settings=make_settings(paper=LEVERED))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_sell_ticket(desk, pilot)
        await set_field(pilot, ticket, "quantity", "2")
        [problem] = said(ticket)
        assert problem.startswith("Qty: short 2 (position 0) needs "), problem
        assert "working" not in problem, problem
        await desk.session.close()


async def close_ticket(desk: Desk, pilot: Any) -> Ticket:
    """`x` on the ETH position: the closing ticket, reduce-only, of all 1.6."""
    await pilot.press("escape", "4", "home", "x")
    await desk.settle(pilot)
    ticket = ticket_of(desk)
    draft = ticket.draft()
    assert (draft.side, draft.quantity, draft.reduce_only) == (Side.SELL, "1.6", True)
    return ticket


async def test_the_reduce_only_refusal_names_the_sell_that_holds_the_position(
    make_desk,
) -> None:
    """`x` on the position, 0.5: `a sell of 0.5 would take position 1.6 through zero
    with 1.6 already working to sell; largest allowed 0`, and now which sell and what
    to do. The take-profit cancelled, as said, the close goes and fills."""
    desk: Desk = make_desk(settings=make_settings(paper=LEVERED))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await long_with_take_profit(desk, pilot)
        await pilot.press("1")
        ticket = await close_ticket(desk, pilot)
        await set_field(pilot, ticket, "quantity", "0.5")
        assert said(ticket) == [
            "Qty: order marked reduce-only: a sell of 0.5 would take position 1.6 through "
            "zero with 1.6 already working to sell; largest allowed 0; the working SELL "
            "1.6 @ 3,650.00 (…0972) holds the position: cancel it or reduce it by 0.5 "
            "first [reduce_only]"
        ]
        ticket.action_fire()
        await desk.settle(pilot)
        assert sold(desk, "0.5") == []  # nothing went out
        await desk.session.engine.cancel(TAKE_PROFIT)
        await desk.settle(pilot)
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        [close] = sold(desk, "0.5")
        assert close.status is OrderStatus.FILLED, close.reason
        assert desk.session.engine.position("paper", "main", ETH) == Decimal("1.1")
        await desk.session.close()


async def test_several_working_sells_are_named_oldest_first(make_desk) -> None:
    """Two sells hold the position (1 and 0.6): both are named, and by how much they
    are to be reduced together."""
    desk: Desk = make_desk(settings=make_settings(paper=LEVERED))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy(BOUGHT, ETH, "1.6"))
        await engine.submit(take_profit("1"))
        second = take_profit("0.6").model_copy(
            update={"client_order_id": "st000000000000000973", "limit_price": Decimal("3600")}
        )
        await engine.submit(second)
        await desk.settle(pilot)
        await pilot.press("1")
        ticket = await close_ticket(desk, pilot)
        await set_field(pilot, ticket, "quantity", "0.5")
        assert said(ticket) == [
            "Qty: order marked reduce-only: a sell of 0.5 would take position 1.6 through "
            "zero with 1.6 already working to sell; largest allowed 0; the working SELL "
            "1 @ 3,650.00 (…0972) and SELL 0.6 @ 3,600.00 (…0973) hold the position: "
            "cancel or reduce them by 0.5 first [reduce_only]"
        ]
        await desk.session.close()
