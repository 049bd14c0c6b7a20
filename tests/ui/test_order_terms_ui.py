"""After a modify, the Log pane and the order's history describe the order's later
events with the terms in force (the modify's), not the terms it was sent with: a
canceled order modified from 0.8 to 0.6 said `CANCELED BUY 0.8 ...` at its old
price, and an order whose limit was raised and then filled read as a buy filled above
its limit (`FILLED BUY 0.8 ... @ 65,003.29 filled 0.8 avg 65,015.43`)."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console
from textual.widgets import Static

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from silvertine_tui.ui.screens.history import OrderHistoryScreen
from silvertine_tui.ui.widgets.blotter import Blotter

BTC = "BTCUSDT.PAPER"


def limit_buy(cid: str, quantity: str, price: Decimal) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument=BTC,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal(quantity),
        limit_price=price,
    )


def history_text(screen: OrderHistoryScreen) -> str:
    """The history's table as the dialog shows it, wide enough for whole lines."""
    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    console.print(screen.query_one("#history-events", Static).content)
    return console.export_text()


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


async def test_the_log_and_the_history_show_the_terms_after_a_modify(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        quote = desk.app.model.quotes[BTC].quote
        assert quote.bid is not None
        assert quote.ask is not None
        low = (quote.bid * Decimal("0.97")).quantize(Decimal("0.01"))
        lower = low - Decimal("10")

        # Resting, then modified to 0.6 at a lower price, then canceled.
        rested = "st000000000000000901"
        await engine.submit(limit_buy(rested, "0.8", low))
        await desk.settle(pilot)
        await engine.modify(rested, quantity=Decimal("0.6"), limit_price=lower)
        await desk.settle(pilot)
        await engine.cancel(rested)
        await desk.settle(pilot)
        # Resting, then its limit raised over the ask: it fills at the new limit's side.
        raised = "st000000000000000902"
        await engine.submit(limit_buy(raised, "0.01", low))
        await desk.settle(pilot)
        high = (quote.ask * Decimal("1.01")).quantize(Decimal("0.01"))
        await engine.modify(raised, limit_price=high)
        await desk.settle(pilot)
        filled = engine.oms.get(raised)
        assert filled is not None
        assert filled.order.status is OrderStatus.FILLED

        log = [line.text for line in desk.app.model.log]
        was = f"BUY 0.8 {BTC} @ {money(low)}"
        now = f"BUY 0.6 {BTC} @ {money(lower)}"
        assert f"CANCEL requested {now} (…0901)" in log
        canceled = [t for t in log if t.startswith("CANCELED") and "(…0901)" in t]
        assert canceled == [f"CANCELED {now} (…0901) - canceled"]
        assert not [t for t in log if was in t and not t.startswith(("SEND", "PENDING", "NEW"))]
        fills = [t for t in log if t.startswith("FILLED") and "(…0902)" in t]
        assert len(fills) == 1
        assert fills[0].startswith(f"FILLED BUY 0.01 {BTC} @ {money(high)} filled 0.01 avg ")

        # The order's history (`h` on it in all of today's orders) says the same.
        await pilot.press("3", "a")
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        blotter.move_cursor(row=blotter.row_keys.index(rested))
        await pilot.press("h")
        await desk.settle(pilot)
        screen = desk.app.screen
        assert isinstance(screen, OrderHistoryScreen)
        body = history_text(screen)
        assert f"CANCEL requested {now}" in body
        assert f"CANCELED {now}" in body
        assert f"PENDING_CANCEL {now}" in body
        assert f"PENDING_REPLACE {was}" in body  # before the venue took the change
        await pilot.press("escape")
        await desk.session.close()
