"""The paper desk's ticket and modify dialog judge an order over a short as the paper
venue does (docs/paper-simulator.md, "Checks", rule 5), before anything is sent.

- A buy over a short gets what the working buys leave of what covering gives back:
  the ticket counted `min(short, qty)` as covered, passed a buy the venue refused and
  said `REJECTED: insufficient balance`.
- A working sell grown further into a short is margined as a new one: the modify
  dialog sent it and the venue refused it (`Modify failed: insufficient balance`).
- With leverage, a buy's fee is asked leverage times: the ticket asked it once.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.screens.confirm import ConfirmScreen
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, make_settings
from .test_ticket_short_margin import SHORTS, said, send, set_field
from .test_trading_keys import open_buy_ticket

ETH = "ETHUSDT.PAPER"
SHORT = "st000000000000000951"  # the market sell that makes the short
RESTING = "st000000000000000952"  # a buy over it, resting


def limit(coid: str, side: Side, quantity: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=Decimal(price),
        tif=TimeInForce.GTC,
    )


def short_sale(coid: str, quantity: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.SELL,
        order_type=OrderType.MARKET,
        quantity=Decimal(quantity),
        tif=TimeInForce.IOC,
    )


def available(desk: Desk) -> Decimal:
    return desk.session.projection.balances[("paper", "main", "USDT")].available


def buys(desk: Desk) -> list[Any]:
    orders = desk.session.engine.oms.orders.values()
    return [v.order for v in orders if v.order.request.side is Side.BUY]


async def buy_ticket(desk: Desk, pilot: Pilot[None], quantity: str, price: str) -> Ticket:
    ticket = await open_buy_ticket(desk, pilot, ETH)
    await set_field(pilot, ticket, "limit_price", price)
    await set_field(pilot, ticket, "quantity", quantity)
    return ticket


async def test_a_buy_gets_what_the_working_buys_leave_of_the_give_back(make_desk) -> None:
    """1,000 USDT: short 0.2 at the bid, 3,499.80 (buying power 299.34: the proceeds and
    a margin of 699.96 held back). A BUY 0.4 @ 3,400 rests: it needs 1,361.36 with its
    fee and covering gives back 1,399.92, so it locks nothing. A ticket BUY 0.2 @ 3,400
    needs 680.68; 38.56 of the give-back is left: it needs 642.12 over the 299.34 there
    is. The ticket passed it (0.2 is all covering) and the venue refused it; it is
    refused on the Qty now, nothing goes out, and the most it names goes and fills."""
    desk: Desk = make_desk(settings=make_settings(paper=SHORTS))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(short_sale(SHORT, "0.2"))
        await engine.submit(limit(RESTING, Side.BUY, "0.4", "3400.00"))
        await desk.settle(pilot)
        assert engine.position("paper", "main", ETH) == Decimal("-0.2")
        assert available(desk) == Decimal("299.34004")
        ticket = await buy_ticket(desk, pilot, "0.2", "3400.00")
        assert said(ticket) == [
            "Qty: need 642.12 USDT (notional 680.00 + fee ~0.68, less 38.56 of what "
            "covering the short gives back, after the working buys' share), available "
            "299.34004 USDT: at most 0.0992 at limit price [buying_power]"
        ]
        ticket.action_fire()
        await desk.settle(pilot)
        assert [o.client_order_id for o in buys(desk)] == [RESTING]  # nothing went out
        await set_field(pilot, ticket, "quantity", "0.0992")
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        sent = [o for o in buys(desk) if o.client_order_id != RESTING]
        assert [o.status for o in sent] == [OrderStatus.NEW], [o.reason for o in sent]
        assert Decimal(0) <= available(desk) < Decimal(1)
        await desk.session.close()


def problems_text(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


async def test_a_sell_grown_into_a_short_is_refused_in_the_dialog(make_desk) -> None:
    """1,000 USDT, flat: a SELL 0.1 @ 3,600 rests above the bid, all of it short: it
    locks 360.36. Changed to 0.3 it needs 1,081.08 of margin, more than the 639.64
    left and the 360.36 it frees: the dialog sent it and the venue refused it. Refused
    in the dialog now, on the Qty, and nothing is sent; at the most it names it goes
    and the venue takes it."""
    desk: Desk = make_desk(settings=make_settings(paper=SHORTS))
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        sell = "st000000000000000953"
        await desk.session.engine.submit(limit(sell, Side.SELL, "0.1", "3600.00"))
        await desk.settle(pilot)
        assert available(desk) == Decimal("639.64")
        await pilot.press("3", "home", "m")
        await pilot.pause()
        screen = desk.app.screen
        assert isinstance(screen, ModifyScreen)
        assert screen.view.client_order_id == sell
        quantity = screen.query_one("#m-quantity", Input)
        quantity.value = "0.3"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, ModifyScreen)  # still open: nothing went
        assert problems_text(desk.app.screen) == (
            "Qty: short 0.3 (position 0) needs 1,081.08 USDT of margin (notional 1,080.00 + "
            "fee ~1.08), available 639.64 USDT + 360.36 the order holds: qty at most 0.2775 "
            "at limit price [short_margin]"
        )
        view = desk.session.projection.order(sell)
        assert view is not None
        assert "order.modify" not in [e.type for e in view.history]
        assert view.order.quantity == Decimal("0.1")
        quantity.value = "0.2775"
        await pilot.press("enter")
        await desk.settle(pilot)
        assert isinstance(desk.app.screen, ConfirmScreen)  # (more than twice the order's)
        await pilot.press("y")
        await desk.settle(pilot)
        assert desk.app.screen is not screen
        assert view.order.quantity == Decimal("0.2775")
        assert not [n for n in desk.app._notifications if n.title.startswith("Modify")]
        assert Decimal(0) <= available(desk) < Decimal(4)
        await desk.session.close()


async def test_with_leverage_the_ticket_asks_the_fee_leverage_times(make_desk) -> None:
    """Leverage 3, 1,000 USDT, flat: buying power 3,000. A BUY 0.856 @ 3,500 needs
    2,996.00 + 3 x 2.996 = 3,004.988 (the fee, out of equity, which the leverage
    multiplies): the ticket asked the fee once (2,998.996), passed it, and the venue
    refused it."""
    paper = {**SHORTS, "checks": {"short_selling": True, "leverage": "3"}}
    desk: Desk = make_desk(settings=make_settings(paper=paper))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        assert available(desk) == Decimal(3000)
        ticket = await buy_ticket(desk, pilot, "0.856", "3500.00")
        assert said(ticket) == [
            "Qty: need 3,004.99 USDT (notional 2,996.00 + 3 x fee ~3.00), available "
            "3,000.00 USDT: at most 0.8545 at limit price [buying_power]"
        ]
        ticket.action_fire()
        await desk.settle(pilot)
        assert buys(desk) == []  # nothing went out
        await set_field(pilot, ticket, "quantity", "0.8545")
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        [sent] = buys(desk)
        assert sent.status in (OrderStatus.NEW, OrderStatus.FILLED), sent.reason
        await desk.session.close()
