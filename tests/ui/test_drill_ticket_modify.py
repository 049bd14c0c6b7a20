"""Ticket and modify dialog defects from a trader's drill on the paper desk.

1. The modify dialog said nothing of a stop moved through the market (a SELL STOP 3,400
   changed to 3,510 with the bid at 3,507.5 read only `notional 7,020.00 USDT (was
   6,800.00)`, and filled at once); the ticket warns of the same order. The dialog now
   says the ticket's warning, in the ticket's words (`orders.change_warnings`).
2. The TIF stayed IOC after Type LIMIT -> MARKET -> LIMIT: the limit went out IOC and
   EXPIRED unfilled. The TIF the trader had comes back with a type that takes it,
   unless the trader chose another by hand meanwhile.
3. A MARKET order's preview and buying-power check priced it at the mid (`at most ...
   at mid price`): a buy is priced at the ask, a sell at the bid, where it trades."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot
from textual.widgets import Input, Static

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.format import num
from silvertine_tui.ui.screens.modify import ModifyScreen
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, limit_buy, make_settings, market_buy
from .test_ticket_capabilities import choice
from .test_trading_keys import open_buy_ticket, open_market_buy_ticket, type_into

BTC = "BTCUSDT.PAPER"
ETH = "ETHUSDT.PAPER"
AAPL = "AAPL.PAPER"
STOP_ID = "st000000000000000951"


def warnings_of(screen: ModifyScreen) -> list[str]:
    line = screen.query_one("#m-warnings", Static)
    if not line.display:
        return []
    return [text for text in str(line.render()).splitlines() if text]


def problems_of(screen: ModifyScreen) -> str:
    return str(screen.query_one("#m-problems", Static).render())


def preview_of(ticket: Ticket) -> str:
    return ticket.query_one("#t-preview", TextBlock).text.plain


def problems_text(ticket: Ticket) -> str:
    return ticket.query_one("#t-problems", TextBlock).text.plain


async def open_modify(desk: Desk, pilot: Pilot[None], coid: str) -> ModifyScreen:
    await pilot.press("3", "home", "m")
    await pilot.pause()
    screen = desk.app.screen
    assert isinstance(screen, ModifyScreen)
    assert screen.view.client_order_id == coid
    return screen


async def type_stop(pilot: Pilot[None], screen: ModifyScreen, stop: Decimal) -> Input:
    """The keyboard to the Stop (tab from the Qty, past a Price the type has), the stop
    typed over what the field holds."""
    field = screen.query_one("#m-stop_price", Input)
    while screen.focused is not field:
        await pilot.press("tab")
    await type_into(pilot, f"{stop}")
    await pilot.pause()
    assert field.value == f"{stop}"
    return field


# -- 1. the modify dialog warns of a stop through the market ------------------------------


async def test_a_sell_stop_moved_through_the_bid_is_warned_in_the_dialog(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000950", BTC, "0.02"))
        await desk.settle(pilot)
        bid = desk.app.model.quotes[BTC].quote.bid
        assert bid is not None
        waits = (bid - 1000).quantize(Decimal(1))
        await engine.submit(
            OrderRequest(
                client_order_id=STOP_ID, broker="paper", account="main", instrument=BTC,
                side=Side.SELL, order_type=OrderType.STOP, quantity=Decimal("0.02"),
                stop_price=waits, tif=TimeInForce.GTC,
            )
        )  # fmt: skip
        await desk.settle(pilot)
        view = desk.session.projection.order(STOP_ID)
        assert view is not None
        assert view.order.status is OrderStatus.NEW
        assert not view.order.triggered
        screen = await open_modify(desk, pilot, STOP_ID)
        assert warnings_of(screen) == []  # the stop as it stands waits
        through = (bid + 1000).quantize(Decimal(1))
        await type_stop(pilot, screen, through)
        bid_now = desk.app.model.quotes[BTC].quote.bid
        assert bid_now is not None
        assert warnings_of(screen) == [
            f"Stop: a sell stop at or above the market (bid {bid_now:,.2f}) triggers at "
            "once: it sells at the market now [stop_through]"
        ]
        assert problems_of(screen) == ""  # the paper venue takes it: a warning only
        # Back under the market: it waits, nothing said.
        field = screen.query_one("#m-stop_price", Input)
        field.value = f"{(bid - 500).quantize(Decimal(1))}"
        await pilot.pause()
        assert warnings_of(screen) == []
        await pilot.press("escape")
        await desk.session.close()


async def test_a_buy_stop_limit_moved_under_the_ask_is_warned_in_the_dialog(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ask = desk.app.model.quotes[BTC].quote.ask
        assert ask is not None
        stop, limit = (ask + 900).quantize(Decimal(1)), (ask + 1000).quantize(Decimal("0.01"))
        request = limit_buy(STOP_ID, BTC, "0.01", f"{limit}").model_copy(
            update={"order_type": OrderType.STOP_LIMIT, "stop_price": stop}
        )
        await desk.session.engine.submit(request)
        await desk.settle(pilot)
        screen = await open_modify(desk, pilot, STOP_ID)
        assert warnings_of(screen) == []
        await type_stop(pilot, screen, (ask - 100).quantize(Decimal(1)))
        ask_now = desk.app.model.quotes[BTC].quote.ask
        assert ask_now is not None
        assert warnings_of(screen) == [
            f"Stop: a buy stop at or below the market (ask {ask_now:,.2f}) triggers at "
            f"once: it works as a limit at {limit:,.2f} now [stop_through]"
        ]
        assert problems_of(screen) == ""
        await pilot.press("escape")
        await desk.session.close()


# -- 2. the TIF after LIMIT -> MARKET -> LIMIT ---------------------------------------------


async def test_the_tif_market_forced_goes_back_with_the_limit(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = await open_buy_ticket(desk, pilot, ETH)
        assert (choice(ticket, "order_type").value, choice(ticket, "tif").value) == (
            "LIMIT",
            "GTC",
        )
        ticket.query_one("#t-order_type").focus()
        await pilot.pause()
        await pilot.press("m")  # MARKET: its TIF is IOC
        assert (choice(ticket, "order_type").value, choice(ticket, "tif").value) == (
            "MARKET",
            "IOC",
        )
        await pilot.press("l")  # LIMIT again: the TIF the trader had
        assert (choice(ticket, "order_type").value, choice(ticket, "tif").value) == (
            "LIMIT",
            "GTC",
        )
        assert ticket.draft().tif is TimeInForce.GTC
        await desk.session.close()


async def test_a_tif_chosen_by_hand_meanwhile_stays(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = await open_buy_ticket(desk, pilot, ETH)
        ticket.query_one("#t-order_type").focus()
        await pilot.pause()
        await pilot.press("m")
        assert choice(ticket, "tif").value == "IOC"
        ticket.query_one("#t-tif").focus()
        await pilot.pause()
        await pilot.press("d")  # DAY, by hand, on the MARKET ticket
        assert choice(ticket, "tif").value == "DAY"
        ticket.query_one("#t-order_type").focus()
        await pilot.pause()
        await pilot.press("l")
        assert (choice(ticket, "order_type").value, choice(ticket, "tif").value) == (
            "LIMIT",
            "DAY",
        )
        # A new ticket starts from the default again.
        await pilot.press("escape")  # out of the field: the desk's keys
        ticket = await open_buy_ticket(desk, pilot, ETH)
        assert choice(ticket, "order_type").value == "LIMIT"
        assert choice(ticket, "tif").value == "GTC"
        await desk.session.close()


# -- 3. the field after a confirmation answered no ---------------------------------------


async def test_a_market_buy_is_priced_at_the_ask_and_a_sell_at_the_bid(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = await open_market_buy_ticket(desk, pilot, ETH)
        await type_into(pilot, "0.5")
        await pilot.pause()
        quote = desk.app.model.quotes[ETH].quote
        assert quote.ask is not None
        assert quote.bid is not None
        assert quote.bid < quote.ask
        preview = preview_of(ticket)
        assert preview.startswith(f"{num(Decimal('0.5') * quote.ask, 2)} USDT at ask fee~"), preview
        await pilot.press("ctrl+s")  # SELL
        await pilot.pause()
        preview = preview_of(ticket)
        assert preview.startswith(f"{num(Decimal('0.5') * quote.bid, 2)} USDT at bid fee~"), preview
        await desk.session.close()


async def test_a_market_buys_funds_are_judged_at_the_ask(make_desk) -> None:
    settings = make_settings(paper={"starting_cash": {"USDT": "10000", "USD": "10000"}})
    desk: Desk = make_desk(settings=settings)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        ticket = await open_market_buy_ticket(desk, pilot, ETH)
        await type_into(pilot, "50")  # far beyond 10,000 USDT
        await pilot.pause()
        ticket.run_check()
        said = problems_text(ticket)
        assert "[buying_power]" in said, said
        ask = desk.app.model.quotes[ETH].quote.ask
        assert ask is not None
        assert f"(notional {num(Decimal(50) * ask, 2)} + fee" in said, said
        assert " at ask price" in said, said
        assert "at mid price" not in said
        await desk.session.close()
