"""The Orders pane shows the order just sent: with more working orders than the pane
has rows, the new one joined below the fold (`6 working of 59 today`, only older rows
in view). The cursor follows this desk's sends there (the pane scrolls to it), unless
the trader moved it: it stays where they put it, until `end` (docs/ui.md, Orders)."""

from __future__ import annotations

from decimal import Decimal

from textual.widgets import Input

from silvertine_tui.config import Settings
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.ui.format import short_id
from silvertine_tui.ui.widgets.blotter import Blotter

from .conftest import Desk, make_settings
from .test_trading_keys import select_quote, ticket_of, type_into

ETH = "ETHUSDT.PAPER"


def resting(cid: str, price: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=cid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.1"),
        limit_price=Decimal(price),
        tif=TimeInForce.GTC,
    )


async def send_from_ticket(desk: Desk, pilot, price: str) -> str:
    """A resting ETH buy sent with the keys: `b` on the quote, Price, Qty, enter."""
    oms = desk.session.engine.oms
    before = {v.client_order_id for v in oms.working()}
    await select_quote(desk, pilot, ETH)
    await pilot.press("b")
    ticket_of(desk).query_one("#t-limit_price", Input).value = price
    await type_into(pilot, "0.1")
    await pilot.press("enter")
    await desk.settle(pilot)
    (sent,) = {v.client_order_id for v in oms.working()} - before
    return sent


async def test_the_order_just_sent_is_in_view_and_selected(make_desk) -> None:
    # Twelve orders at once: no order rate or open-order limit in the way.
    limits = {"defaults": {"max_orders_per_s": None, "max_open_orders": None}}
    desk: Desk = make_desk(settings=Settings(brokers=make_settings().brokers, risk=limits))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        for n in range(12):  # sent elsewhere (another desk, a strategy): older rows
            await engine.submit(resting(f"st0000000000000009{n:02d}", f"{3400 + n}.00"))
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.row_count == 12 > blotter.rows_on_screen
        assert blotter.cursor_row == 0  # others' orders do not move it

        first = await send_from_ticket(desk, pilot, "3420.00")
        assert blotter.row_keys[-1] == first
        assert blotter.selected_order() == first
        assert first in blotter.visible_keys()

        # The trader puts the cursor on an older order: the next send leaves it there.
        await pilot.press("escape", "3", "up", "up")
        chosen = blotter.selected_order()
        assert chosen == blotter.row_keys[-3]
        second = await send_from_ticket(desk, pilot, "3421.00")
        assert blotter.row_keys[-1] == second
        assert blotter.selected_order() == chosen
        assert chosen in blotter.visible_keys()

        # `end`: the newest again, and the sends after it are followed.
        await pilot.press("escape", "3", "end")
        assert blotter.selected_order() == second
        third = await send_from_ticket(desk, pilot, "3422.00")
        assert blotter.selected_order() == third
        assert third in blotter.visible_keys()
        await desk.session.close()


async def test_cancel_acts_on_the_order_chosen_when_rows_above_it_leave(make_desk) -> None:
    """The cursor on the second of three working orders; the first ends elsewhere and
    leaves the pane: `c` cancelled the third (the cursor kept its line, the rows moved
    up under it). It cancels the one chosen now; and when that one ends first, `c`
    says so and cancels nothing."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        ids = [f"st00000000000000010{n}" for n in (1, 2, 3, 4)]
        for n, cid in enumerate(ids):
            await engine.submit(resting(cid, f"340{n}.00"))
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        await pilot.press("3", "home", "down")
        await pilot.pause()
        assert blotter.selected_order() == ids[1]
        await engine.cancel(ids[0])  # ended elsewhere (another desk, the venue)
        await desk.settle(pilot)
        assert ids[0] not in blotter.row_keys
        assert blotter.selected_order() == ids[1]
        await pilot.press("c")
        await desk.settle(pilot)
        status = {cid: engine.oms.orders[cid].order.status for cid in ids}
        assert status[ids[1]] is OrderStatus.CANCELED
        assert status[ids[2]] is OrderStatus.NEW

        await pilot.press("down")  # on ids[2] (ids[1] left the pane)
        await pilot.pause()
        assert blotter.selected_order() == ids[2]
        await engine.cancel(ids[2])  # the chosen one ends before the key
        await desk.settle(pilot)
        assert blotter.selected_order() is None
        await pilot.press("c")
        await desk.settle(pilot)
        assert engine.oms.orders[ids[3]].order.status is OrderStatus.NEW
        said = [n.message for n in desk.app._notifications]
        # Named, with what became of it (an IOC filled at once, followed by the cursor,
        # left "the working order selected left the list" with no row marked).
        assert (
            f"the working order selected, {short_id(ids[2])} (CANCELED), left the list: "
            "select one again"
        ) in said
        await pilot.press("down")  # the trader chooses again
        await pilot.pause()
        assert blotter.selected_order() == ids[3]
        await desk.session.close()
