"""The ticket's preview follows its position as fills move it, not once a second.

The ticket's checks ran when the order counts moved, on a new trading state or broker
state, and once a second: a fill of an order already working (a partial fill) moved
the position but no count, and the preview said `pos 0->1` for up to a second after
the Positions pane said 0.5 (the fresh-clone CI: a fill written back after a Redis
outage, the preview still `pos 0->1` once the order showed). A position move of the
ticket's own instrument and account runs them."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import Fill, Side
from silvertine_tui.events import FillEvent
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk, limit_buy
from .test_trading_keys import open_buy_ticket, type_into

ETH = "ETHUSDT.PAPER"
RESTING = "st000000000000000771"


def preview(desk: Desk) -> str:
    return desk.app.screen.query_one("#t-preview", TextBlock).text.plain.split("\n")[0]


async def test_a_partial_fill_moves_the_tickets_position_at_once(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        await desk.session.engine.submit(limit_buy(RESTING, ETH, "2", "3400"))
        await desk.next_second(pilot)
        await open_buy_ticket(desk, pilot, ETH)
        await type_into(pilot, "1")
        await desk.settle(pilot)
        assert preview(desk).endswith("pos 0->1"), preview(desk)
        working = desk.session.projection.working_count()
        # The venue fills half the resting buy: the counts stay, the position moves.
        fill = Fill(
            exec_id="P-771-1",
            client_order_id=RESTING,
            broker="paper",
            account="main",
            instrument=ETH,
            side=Side.BUY,
            quantity=Decimal("0.5"),
            price=Decimal("3400"),
        )
        await desk.session.bus.publish(FillEvent.create("paper/main", fill, ts=desk.clock.ns()))
        await desk.settle(pilot)  # (the desk clock stays in its second)
        assert desk.session.projection.position("paper", "main", ETH) == Decimal("0.5")
        assert desk.session.projection.working_count() == working
        assert preview(desk).endswith("pos 0.5->1.5"), preview(desk)
        await desk.session.close()
