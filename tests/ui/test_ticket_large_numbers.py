"""A number of any size typed into the ticket is judged, never fatal.

A held-down zero key typed a price of 10^27 on a 0.01 tick: checking it against the
tick (`value % step`) needed more than the 28 digits of Python's default decimal
context, raised `InvalidOperation`, and stopped the app with a traceback. Any number
the ticket takes now gets its problems listed by field, and nothing is sent.
"""

from __future__ import annotations

from silvertine_tui.ui.widgets.text import TextBlock

from .conftest import Desk
from .test_trading_keys import open_buy_ticket


async def test_a_held_down_zero_key_gets_problems_not_a_crash(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        ticket = await open_buy_ticket(desk, pilot, "AAPL.PAPER")

        def status() -> str:
            return ticket.query_one("#t-status", TextBlock).text.plain

        def problems() -> str:
            return ticket.query_one("#t-problems", TextBlock).text.plain

        async def type_into(name: str, text: str) -> None:
            ticket.query_one(f"#t-{name}").focus()
            await pilot.press("ctrl+a", "ctrl+k", *text)
            await desk.settle(pilot)

        await type_into("quantity", "1")
        await type_into("limit_price", "1" + "0" * 27)
        assert desk.app.is_running
        assert "Price: 1,000,000,000,000,000,000,000,000,000.00 is " in problems()
        assert "[price_collar]" in problems()
        await pilot.press("f9")
        await desk.settle(pilot)
        assert status().startswith("NOT SENT")

        await type_into("limit_price", "190")
        assert status() == "problems fixed: F9 to send"
        await type_into("quantity", "9" * 25)  # a notional of 1.9 * 10^27 USD
        assert "Qty: notional 1,899,999,999,999,999,999,999,999,810.00 USD > max" in problems()
        assert status() == "NOT SENT: 2 problems"  # not "problems fixed" over new ones
        desk.clock.advance(1)  # past the fire key's debounce
        await pilot.press("f9")
        await desk.settle(pilot)
        assert status().startswith("NOT SENT")

        await type_into("quantity", "1" + "0" * 30)
        assert "Qty: '1" + "0" * 30 + "' is too large: at most 30 digits" in problems()

        assert desk.session.engine.oms.orders == {}  # nothing reached the broker
        await desk.session.close()
