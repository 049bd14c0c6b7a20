"""The ticket's "Qty in" choice: offered for MARKET orders at a broker that takes an
amount of the quote currency (Binance quoteOrderQty), nowhere else; with QUOTE the
amount typed is what the preview shows and what the request carries."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from silvertine_tui.domain import Capabilities, OrderType, Side
from silvertine_tui.events import OrderRequestEvent
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.ticket import Ticket

from .test_ticket_capabilities import SPOT, choice, shown, spot_desk, start, switch_account
from .test_trading_keys import open_buy_ticket

SPOT_QUOTE = SPOT.model_copy(update={"quote_quantity_market": True})


def quote_desk(make_desk: Any) -> Any:
    desk = spot_desk(make_desk)
    desk.session.brokers[1].capabilities = SPOT_QUOTE
    assert isinstance(desk.session.brokers[1].capabilities, Capabilities)
    return desk


def type_in(ticket: Ticket, name: str, text: str) -> None:
    ticket.query_one(f"#t-{name}").value = text  # type: ignore[attr-defined]


async def test_qty_in_is_offered_only_for_market_at_a_broker_that_takes_it(make_desk) -> None:
    desk = quote_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        choice(ticket, "order_type").value = "MARKET"
        await desk.settle(pilot)
        assert not shown(ticket, "qty_in")  # paper takes no amount in USDT
        await switch_account(desk, pilot, ticket, "spot/main")
        assert shown(ticket, "qty_in")
        choice(ticket, "qty_in").value = "QUOTE"
        await desk.settle(pilot)
        assert ticket.draft().by_quote
        # A LIMIT order is by quantity: the row goes and the choice falls back.
        choice(ticket, "order_type").value = "LIMIT"
        await desk.settle(pilot)
        assert not shown(ticket, "qty_in")
        assert not ticket.draft().by_quote
        choice(ticket, "order_type").value = "MARKET"
        await desk.settle(pilot)
        assert choice(ticket, "qty_in").value == "BASE"
        choice(ticket, "qty_in").value = "QUOTE"
        await desk.settle(pilot)
        # Back to paper: never left selected where the broker cannot take it.
        await switch_account(desk, pilot, ticket, "paper/main")
        assert not shown(ticket, "qty_in")
        assert not ticket.draft().by_quote
        await desk.session.close()


async def test_the_request_sent_is_the_amount_on_the_ticket(make_desk) -> None:
    desk = quote_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        choice(ticket, "order_type").value = "MARKET"
        await desk.settle(pilot)
        choice(ticket, "qty_in").value = "QUOTE"
        type_in(ticket, "quantity", "250.5")
        await desk.settle(pilot)
        checked = ticket.run_check()
        assert checked.ok, checked.problems
        assert checked.preview is not None
        preview = checked.preview.text()
        assert preview.startswith("250.50 USDT ~"), preview
        # The position after is an estimate on the lot, not a 28-digit quotient.
        after = preview.rsplit("->~", 1)[1].split()[0]
        assert len(after.partition(".")[2]) <= 4, preview  # ETHUSDT.PAPER's lot is 0.0001
        mark = desk.session.engine.last_price("ETHUSDT.PAPER")
        assert mark is not None
        assert checked.preview.base_estimate is not None
        assert abs(checked.preview.base_estimate - Decimal("250.5") / mark) < Decimal("0.001")
        shown_request = checked.request
        await pilot.press("f9")
        await desk.settle(pilot)
        entries = await desk.session.bus.read(desk.session.bus.layout.exec("spot", "main"))
        requests = [e.event.payload for e in entries if isinstance(e.event, OrderRequestEvent)]
        assert len(requests) == 1
        sent = requests[0]
        assert (sent.order_type, sent.side, sent.quantity, sent.quote_quantity) == (
            OrderType.MARKET,
            Side.BUY,
            None,
            Decimal("250.5"),
        )
        assert shown_request is not None
        assert sent.model_dump(exclude={"client_order_id"}) == shown_request.model_dump(
            exclude={"client_order_id"}
        )
        # The Orders pane and the history say the amount, not the base filled so far.
        await pilot.press("escape", "escape", "3", "a")
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter._cells[sent.client_order_id][3].plain == "250.5 USDT"
        await desk.session.close()


async def test_a_quote_amount_problem_is_shown_on_the_qty_row(make_desk) -> None:
    desk = quote_desk(make_desk)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        ticket = await open_buy_ticket(desk, pilot, "ETHUSDT.PAPER")
        await switch_account(desk, pilot, ticket, "spot/main")
        choice(ticket, "order_type").value = "MARKET"
        await desk.settle(pilot)
        choice(ticket, "qty_in").value = "QUOTE"
        type_in(ticket, "quantity", "999999999")
        await desk.settle(pilot)
        checked = ticket.run_check()
        rules = {(p.field, p.rule) for p in checked.problems}
        assert ("quantity", "buying_power") in rules, rules
        assert ticket.query_one("#row-quantity").has_class("-invalid")
        # The domain names the request field (quote_quantity); the ticket shows it on
        # the Qty row, which holds the amount.
        type_in(ticket, "quantity", "4.5")
        await desk.settle(pilot)
        checked = ticket.run_check()
        rules = {(p.field, p.rule) for p in checked.problems}
        assert ("quote_quantity", "min_notional") in rules, rules
        assert ticket.query_one("#row-quantity").has_class("-invalid")
        await desk.session.close()
