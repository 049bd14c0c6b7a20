"""A paper account in deficit is said plainly (docs/paper-simulator.md, "Checks", rule
5, "A deficit"; docs/ui.md, "Balances").

With leverage, a sale of a long below its cost can take buying power below zero: the
venue then refuses what needs buying power, saying the account is in deficit. The desk
read `USDT -431.5848 -106.6044 1,955.85`: a negative Available, unstyled and
unexplained, and the ticket said `available -106.6044 USDT: at most 0` without the
word. Now the Available reads in the theme's error colour, the pane says under its
rows that the currency is in deficit and what that means for orders, and the ticket's
refusal names the deficit and what brings it back.

The figures of "A deficit": leverage 3, 2,000 USDT, long 1.3 ETH at 2,620.00, a BUY
1.5 @ 1,300.00 resting (1,955.85 locked), bid 1,404.00: a SELL 0.70 @ 1,384.00 fills
at the bids and takes buying power from 627.932 to -106.6044.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rich.color import Color
from textual.pilot import Pilot

from silvertine_tui.config import RiskConfig, RiskLimits, Settings
from silvertine_tui.domain import Book, BookLevel, OrderStatus, Side
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.palette import DEFAULT_PALETTE

from .conftest import Desk, limit_buy, make_settings, market_buy
from .test_quote_drawing import Terminal, capture
from .test_ticket_short_margin import said, send, set_field
from .test_trading_keys import open_buy_ticket, open_market_buy_ticket, select_quote, ticket_of

ETH = "ETHUSDT.PAPER"
ROW = "paper/main/USDT"
LONG = "st000000000000000901"  # the market buy of the long, at 2,620.00
DIP = "st000000000000000902"  # the BUY 1.5 @ 1,300.00 that rests
SALE = "st000000000000000903"  # the SELL 0.70 @ 1,384.00 that makes the deficit


def leveraged(**more: Any) -> Settings:
    """Leverage 3 on 2,000 USDT (`more`: other fields of the paper broker's); the price
    collar off (the resting buy is half the market away)."""
    paper: dict[str, Any] = {
        "symbols": ["ETHUSDT"],
        "checks": {"leverage": "3"},
        "starting_cash": {"USDT": "2000"},
        **more,
    }
    no_collar = RiskConfig(defaults=RiskLimits(price_collar_pct=None))
    return make_settings(paper=paper).model_copy(update={"risk": no_collar})


def book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> Book:
    return Book(
        instrument=ETH,
        bids=tuple(BookLevel(price=Decimal(p), size=Decimal(s)) for p, s in bids),
        asks=tuple(BookLevel(price=Decimal(p), size=Decimal(s)) for p, s in asks),
    )


def available(desk: Desk) -> Decimal:
    return desk.session.projection.balances[("paper", "main", "USDT")].available


async def into_deficit(desk: Desk, pilot: Pilot[None]) -> None:
    """The desk started, the long bought, the dip buy resting, the market fallen and
    the sale made: buying power -106.6044."""
    await desk.start(pilot)
    engine = desk.session.engine
    await desk.broker.on_market_data(book([("2600.00", "10")], [("2620.00", "10")]))
    await desk.settle(pilot)
    await engine.submit(market_buy(LONG, ETH, "1.3"))
    await engine.submit(limit_buy(DIP, ETH, "1.5", "1300.00"))
    await desk.settle(pilot)
    fallen = [("1404.00", "0.5"), ("1384.00", "0.5"), ("1364.00", "0.5")]
    above = [("1424.00", "0.5"), ("1444.00", "0.5"), ("1464.00", "0.5")]
    await desk.broker.on_market_data(book(fallen, above))
    await desk.settle(pilot)
    sale = limit_buy(SALE, ETH, "0.70", "1384.00").model_copy(update={"side": Side.SELL})
    await engine.submit(sale)
    await desk.next_second(pilot)
    assert available(desk) == Decimal("-106.6044")


def painted(term: Terminal, desk: Desk, updates: list[Any]) -> list[str]:
    """The Balances pane's lines as the terminal shows them (what was written to it)."""
    term.show(updates)
    region = desk.app.screen.query_one("#pane-balances", Pane).region
    return [term.line(y)[region.x : region.right].rstrip() for y in range(region.y, region.bottom)]


def lead_colour(term: Terminal, desk: Desk) -> Color:
    """The colour the terminal shows `USDT in deficit` in, under the row (one colour)."""
    region = desk.app.screen.query_one("#pane-balances", Pane).region
    x, y = region.x + 2, region.y + 3
    cells = term.cells[y][x : x + len("USDT in deficit")]
    assert "".join(c[0] for c in cells) == "USDT in deficit"
    [fg] = {c[2] for c in cells}
    assert fg[:2] == ("38", "2"), fg
    return Color.from_rgb(*(int(n) for n in fg[2:]))


def edge(desk: Desk) -> str:
    return str(desk.app.screen.query_one("#pane-balances", Pane).border_subtitle or "")


async def test_a_deficit_is_said_in_the_balances_pane(make_desk) -> None:
    """The Available of a currency below zero reads in the error colour, and the pane
    says under its rows that the currency is in deficit and what that means for orders.
    Cancelling the resting buy frees its 1,955.85: Available 1,849.2456, plain, the
    words gone from the terminal."""
    desk: Desk = make_desk(settings=leveraged())
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36)) as pilot:
        term = Terminal(120, 36)
        await into_deficit(desk, pilot)
        pane = app.screen.query_one(Balances)
        cell = pane.get_cell(ROW, "available")
        assert cell.plain == "-106.6044"
        assert cell.style == pane.palette.error
        assert pane.get_cell(ROW, "total").style != pane.palette.error  # cash owed: no deficit
        assert painted(term, desk, updates) == [
            "╭─ 5 Balances ─────────────────────────────╮",
            "│ Ccy        Total  Available    Locked    │",
            "│ USDT   -431.5848  -106.6044  1,955.85    │",
            "│ USDT in deficit: only orders that need   │",
            "│ no buying power are taken (sales of a    │",
            "│ long, buys that cover a short);          │",
            "│ cancelling orders frees what they lock   │",
            "╰──────────────────────────────────────────╯",
        ]
        assert edge(desk) == ""  # said above it
        assert lead_colour(term, desk) == pane.palette.error.color
        await pilot.press("f6")  # the next theme: the words in its error colour
        await desk.settle(pilot)
        painted(term, desk, updates)
        assert lead_colour(term, desk) == pane.palette.error.color
        assert pane.palette.error.color != DEFAULT_PALETTE.error.color
        await desk.session.engine.cancel(DIP)
        await desk.next_second(pilot)
        assert available(desk) == Decimal("1849.2456")
        cell = pane.get_cell(ROW, "available")
        assert cell.style != pane.palette.error
        lines = painted(term, desk, updates)
        assert not [line for line in lines if "deficit" in line], lines
        await desk.session.close()


async def test_the_ticket_names_the_deficit_and_what_brings_it_back(make_desk) -> None:
    """In the deficit, a BUY 0.01 @ 1,300.00 (13.04 with 3 x its fee) is refused on the
    Qty row: it said `available -106.6044 USDT: at most 0 at limit price`, no word of
    the deficit nor of what to do. It names the deficit, what the venue takes while in
    it, and the 1,955.85 cancelling the working orders frees."""
    desk: Desk = make_desk(settings=leveraged())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await into_deficit(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, ETH)
        await set_field(pilot, ticket, "limit_price", "1300.00")
        await set_field(pilot, ticket, "quantity", "0.01")
        assert said(ticket) == [
            "Qty: need 13.04 USDT (notional 13.00 + 3 x fee ~0.01), available -106.6044 "
            "USDT: the account is in deficit: until it is back above zero only orders that "
            "need no buying power are taken (sales of a long, buys that cover a short); "
            "cancelling working orders frees the 1,955.85 USDT they lock [buying_power]"
        ]
        await desk.session.close()


BTC = "BTCUSDT.PAPER"


async def test_a_cover_that_gives_back_is_not_refused_in_a_deficit(make_desk) -> None:
    """Short 0.01 BTC at 60,000.00 beside the long: the ETH sale leaves buying power at
    -708.4044. A market BUY 0.005 BTC covers half the short and gives back more than it
    takes: the venue takes it (docs/paper-simulator.md, "A deficit"), the ticket refused
    it (`need -299.02 USDT ..., available -708.4044 USDT: at most 0`). A buy beyond the
    short is refused, and the most it names is the most that needs no buying power (it
    was 0: the most whose need was under the deficit)."""
    settings = leveraged(
        symbols=["ETHUSDT", "BTCUSDT"], checks={"leverage": "3", "short_selling": True}
    )
    desk: Desk = make_desk(settings=settings)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        engine = desk.session.engine
        await desk.broker.on_market_data(
            Book(
                instrument=BTC,
                bids=(BookLevel(price=Decimal("60000.00"), size=Decimal("1")),),
                asks=(BookLevel(price=Decimal("60010.00"), size=Decimal("1")),),
            )
        )
        await desk.settle(pilot)
        short = market_buy("st000000000000000904", BTC, "0.01").model_copy(
            update={"side": Side.SELL}
        )
        await engine.submit(short)
        await desk.settle(pilot)
        await desk.broker.on_market_data(book([("2600.00", "10")], [("2620.00", "10")]))
        await desk.settle(pilot)
        await engine.submit(market_buy(LONG, ETH, "1.3"))
        await engine.submit(limit_buy(DIP, ETH, "1.5", "1300.00"))
        await desk.settle(pilot)
        fallen = [("1404.00", "0.5"), ("1384.00", "0.5"), ("1364.00", "0.5")]
        above = [("1424.00", "0.5"), ("1444.00", "0.5"), ("1464.00", "0.5")]
        await desk.broker.on_market_data(book(fallen, above))
        await desk.settle(pilot)
        sale = limit_buy(SALE, ETH, "0.70", "1384.00").model_copy(update={"side": Side.SELL})
        await engine.submit(sale)
        await desk.next_second(pilot)
        assert available(desk) == Decimal("-708.4044")
        ticket = await open_market_buy_ticket(desk, pilot, BTC)
        await set_field(pilot, ticket, "quantity", "0.005")
        assert said(ticket) == []
        # Beyond the short it needs buying power: the most it names gives back all it
        # takes (judged at the ask it buys at, 60,010.00), and the venue takes it.
        await set_field(pilot, ticket, "quantity", "0.05")
        assert said(ticket) == [
            "Qty: need 1,809.71 USDT (notional 3,000.50 + 3 x fee ~3.00, less 1,199.80 "
            "covering the short gives back, net of what the resting buys then lock more), "
            "available -708.4044 USDT: at most 0.01993 at ask price; the account is in "
            "deficit: until it is back above zero only orders that need no buying power "
            "are taken (sales of a long, buys that cover a short); cancelling working "
            "orders frees the 1,955.85 USDT they lock [buying_power]"
        ]
        await set_field(pilot, ticket, "quantity", "0.01993")
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        assert engine.position("paper", "main", BTC) == Decimal("0.00993")
        assert available(desk) < Decimal(0)  # still in deficit: it gave back, no more
        await desk.session.close()


@pytest.mark.parametrize(
    ("others", "under", "bottom"),
    [
        (["USD"], ["USDT in deficit: only orders that need", "no buying power are taken"], ""),
        (["EUR", "GBP", "USD"], ["USDT in deficit"], ""),
        (["CHF", "EUR", "GBP", "USD"], [], "USDT in deficit"),
    ],
    ids=["two-rows", "four-rows", "five-rows"],
)
async def test_with_fewer_lines_free_the_deficit_is_said_shorter(
    make_desk, others: list[str], under: list[str], bottom: str
) -> None:
    """The lines under the rows say what fits them: with two rows three lines are free
    (the words on orders, without the cancels), with four one (the deficit alone); five
    fill the pane, and its bottom line says it."""
    settings = leveraged(starting_cash={"USDT": "2000", **{c: "1" for c in others}})
    desk: Desk = make_desk(settings=settings)
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36)) as pilot:
        term = Terminal(120, 36)
        await into_deficit(desk, pilot)
        lines = painted(term, desk, updates)[1:-1]
        rows = len(others) + 1
        assert [line[1:-1].strip() for line in lines[1 + rows :]] == under + [""] * (
            len(lines) - 1 - rows - len(under)
        ), lines
        assert edge(desk) == bottom
        await desk.session.close()


async def test_a_short_sale_in_a_deficit_names_it(make_desk) -> None:
    """With short selling on, a SELL 1.0 over the long of 0.6 sells 0.4 short, whose
    margin needs buying power: refused on the Qty row, naming the most it sells (the
    long) and the deficit."""
    settings = leveraged(checks={"leverage": "3", "short_selling": True})
    desk: Desk = make_desk(settings=settings)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await into_deficit(desk, pilot)
        await select_quote(desk, pilot, ETH)
        await pilot.press("s")
        ticket = ticket_of(desk)
        await set_field(pilot, ticket, "limit_price", "1404.00")
        await set_field(pilot, ticket, "quantity", "1.0")
        assert said(ticket) == [
            "Qty: short 0.4 (position 0.6) needs 563.29 USDT of margin (notional 561.60 + "
            "3 x fee ~0.56), available -106.6044 USDT: at most 0.6 at bid price; the "
            "account is in deficit: until it is back above zero only orders that need no "
            "buying power are taken (sales of a long, buys that cover a short); cancelling "
            "working orders frees the 1,955.85 USDT they lock [short_margin]"
        ]
        await set_field(pilot, ticket, "quantity", "0.6")  # the long: the venue takes it
        assert said(ticket) == []
        await send(desk, pilot, ticket)
        sells = [
            v.order
            for v in desk.session.engine.oms.orders.values()
            if v.order.request.side is Side.SELL and v.client_order_id != SALE
        ]
        assert [(o.quantity, o.status) for o in sells] == [(Decimal("0.6"), OrderStatus.NEW)]
        await desk.session.close()
