"""What the engine refused a send for stays listed under `NOT SENT`. The ticket's own
check, run right after the answer, wrote its own problems over the engine's: the
status read `NOT SENT: risk rejected` (or, after a venue came back, a count) over an
empty list. The engine's problems now stay until anything on the ticket changes."""

from __future__ import annotations

from silvertine_tui.config import Settings
from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk, make_settings
from .test_ticket_trust import field
from .test_trading_keys import open_buy_ticket


async def test_an_engine_refusal_stays_listed_until_the_ticket_changes(make_desk) -> None:
    # The order rate is a rule only the engine's gate counts (the ticket cannot).
    settings = Settings(brokers=make_settings().brokers, risk={"defaults": {"max_orders_per_s": 1}})
    desk: Desk = make_desk(settings=settings)
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "BTCUSDT.PAPER")
        field(ticket, "limit_price").value = "63,000.00"
        field(ticket, "quantity").value = "0.01"
        await pilot.press("f9")
        await desk.settle(pilot)
        desk.clock.advance(0.6)  # past the fire key's debounce, within the second
        await pilot.press("f9", "y")  # the same order again: yes
        await desk.settle(pilot)

        def status() -> str:
            return ticket.query_one("#t-status", TextBlock).text.plain

        def problems() -> str:
            return ticket.query_one("#t-problems", TextBlock).text.plain

        assert status() == "NOT SENT: risk rejected"
        assert "1 orders in the last second >= max 1/s [order_rate]" in problems()
        await desk.step(pilot, 1)  # the frames' checks leave it there
        assert status() == "NOT SENT: risk rejected"
        assert "[order_rate]" in problems()

        field(ticket, "quantity").value = "0.02"  # another order: judged when sent
        await pilot.pause()
        assert status() == ""
        assert problems() == ""
        await desk.session.close()
