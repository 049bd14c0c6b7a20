"""A reduce-only working order is marked in the Orders pane: its Side reads `SELL ro`.
The Log and the order's history said it (`SEND SELL 10 AAPL.PAPER LIMIT @ 191.00 GTC
reduce-only`), the Orders pane did not: a close resting beside a plain sell of the same
size read the same, and which one could never add to the position was nowhere on the
row the trader cancels or changes from."""

from __future__ import annotations

from decimal import Decimal

from textual.pilot import Pilot

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.line_table import LineTable

from .conftest import Desk, make_settings, market_buy

AAPL = "AAPL.PAPER"
CLOSE, PLAIN = "st000000000000000951", "st000000000000000952"


def sell(client_order_id: str, price: str, *, reduce_only: bool) -> OrderRequest:
    return OrderRequest(
        client_order_id=client_order_id,
        broker="paper",
        account="main",
        instrument=AAPL,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=Decimal(5),
        limit_price=Decimal(price),
        tif=TimeInForce.GTC,
        reduce_only=reduce_only,
    )


def lines(table: LineTable) -> list[str]:
    """The header and the rows, as the pane draws them (cropped to the pane)."""
    return [table.render_line(y).text for y in range(table.row_count + 1)]


async def working_close_and_plain_sell(desk: Desk, pilot: Pilot[None]) -> Blotter:
    """Long 10 AAPL: a reduce-only SELL 5 and a plain SELL 5 rest above the market."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    engine = desk.session.engine
    await engine.submit(market_buy("st000000000000000950", AAPL, "10"))
    await desk.settle(pilot)
    await engine.submit(sell(CLOSE, "195.00", reduce_only=True))
    await engine.submit(sell(PLAIN, "196.00", reduce_only=False))
    await desk.settle(pilot)
    await desk.next_second(pilot)
    for coid in (CLOSE, PLAIN):
        assert engine.oms.orders[coid].order.status is OrderStatus.NEW
    return desk.app.screen.query_one(Blotter)


async def test_a_reduce_only_order_reads_ro_beside_its_side(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        blotter = await working_close_and_plain_sell(desk, pilot)
        assert blotter.get_cell(CLOSE, "side").plain == "SELL ro"
        assert blotter.get_cell(PLAIN, "side").plain == "SELL"
        # In the side's colour, as the side is (the plain sell's cell style).
        assert blotter.get_cell(CLOSE, "side").style == blotter.get_cell(PLAIN, "side").style
        await desk.session.close()


async def test_the_mark_fits_at_80x24_beside_what_the_pane_showed(make_desk) -> None:
    """At 80x24 the Side column is three wider with a reduce-only row: `SELL ro` whole,
    and the Stop column, `-` on every row, gives way (it was shown: Id, Symbol, Side,
    Qty, Price, Stop, Status, Filled, Avg fill, Type); nothing cut, no sideways scroll."""
    desk: Desk = make_desk(settings=make_settings())
    async with desk.app.run_test(size=(80, 24)) as pilot:
        blotter = await working_close_and_plain_sell(desk, pilot)
        await pilot.press("3")
        await desk.next_second(pilot)
        assert blotter.size.width == 80
        # Only Stop gave way (no order here has one: each row read `-`).
        assert blotter.shown_columns == [
            "id", "symbol", "side", "qty", "price", "status", "filled", "avg", "type",
        ]  # fmt: skip
        assert blotter.column_width("side") == len("SELL ro")
        shown = lines(blotter)
        close = next(line for line in shown[1:] if "195.00" in line)
        plain = next(line for line in shown[1:] if "196.00" in line)
        assert close.split()[1:6] == ["AAPL.PAPER", "SELL", "ro", "5", "195.00"]
        assert plain.split()[1:5] == ["AAPL.PAPER", "SELL", "5", "196.00"]
        assert all(len(line) == 80 for line in shown)
        assert not blotter.show_horizontal_scrollbar
        await desk.session.close()
