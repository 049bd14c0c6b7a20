"""The venue's answer stays on the ticket across a send the ticket's own check refused
(a trader's review of the paper desk, `leverage: 3`).

A MARKET BUY 48 XYZUSDT the ticket passed (its preview at the mid) came back from the
venue `REJECTED: why below`, `insufficient balance: need 6,019.10 USDT, available
6,000.00` (the venue walks a wide book). Then the kill switch, F9 (`NOT SENT: 1
problem`, HALTED) and resume: the ticket said `problems fixed: F9 to send` and the
venue's reason was gone, though F9 would meet the same rejection. The answer now stays
listed, as it was before the kill switch, and what was said of it comes back once the
check's own problems are fixed; "problems fixed" is said of those alone. A change on
the ticket still forgets it (another order).
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.ui.widgets.text import TextBlock
from silvertine_tui.ui.widgets.ticket import Ticket

from .conftest import Desk, make_settings
from .test_trading_keys import open_market_buy_ticket, type_into

XYZ = "XYZUSDT.PAPER"
HEADING = "F9 again would not be sent:"
WIDE: dict[str, Any] = {
    "symbols": ["ETHUSDT", "XYZUSDT"],
    "starting_cash": {"USDT": "2000"},
    "market": {
        "autorun": False,
        "symbols": {
            "XYZUSDT": {
                "start_mid": "100",
                "tick_size": "0.01",
                "lot_size": "0.01",
                "min_qty": "0.01",
                "min_notional": "5",
                "spread_bps": 1000,
                "volatility": 0.6,
            }
        },
    },
    "fill": {"slippage": "fixed_ticks", "slippage_ticks": 2000},
    "checks": {"leverage": "3", "short_selling": True},
}


def said(ticket: Ticket, part: str) -> str:
    return ticket.query_one(f"#t-{part}", TextBlock).text.plain


async def rejected(desk: Desk, pilot: Pilot[None]) -> Ticket:
    """MARKET BUY 48 XYZUSDT from the ticket: it passes, the venue rejects it."""
    await desk.start(pilot)
    await desk.step(pilot, 1)
    ticket = await open_market_buy_ticket(desk, pilot, XYZ)
    await type_into(pilot, "48")
    await desk.settle(pilot)
    assert ticket.run_check().problems == []
    desk.clock.advance(1)
    await pilot.press("f9")
    await desk.settle(pilot)
    [order] = [v.order for v in desk.session.projection.orders.values()]
    assert order.status is OrderStatus.REJECTED
    assert said(ticket, "status") == "REJECTED: why below"
    assert said(ticket, "problems").startswith("insufficient balance: need "), said(
        ticket, "problems"
    )
    return ticket


async def pull(desk: Desk, pilot: Pilot[None], key: str, state: TradingState) -> None:
    """The kill switch (or resume) from the Quotes, confirmed, then back to the ticket."""
    await pilot.press("escape", "1", key)
    await pilot.pause()
    await pilot.press("y")
    await desk.settle(pilot)
    assert desk.session.projection.trading_state is state
    await pilot.press("2")
    await desk.settle(pilot)


async def test_the_venues_answer_stays_through_a_refused_press_and_resume(make_desk) -> None:
    desk: Desk = make_desk(settings=make_settings(paper=WIDE))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await rejected(desk, pilot)
        reason = said(ticket, "problems")
        await pull(desk, pilot, "ctrl+backslash", TradingState.HALTED)
        assert said(ticket, "status") == "REJECTED: why below"
        # F9 while HALTED: not sent, for the ticket's own reason; the venue's stays.
        desk.clock.advance(1)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert said(ticket, "status") == "NOT SENT: 1 problem"
        lines = said(ticket, "problems").splitlines()
        assert lines[0] == reason, lines
        assert lines[1] == HEADING, lines
        assert lines[2].endswith("[trading_state]"), lines
        assert len(desk.session.projection.orders) == 1  # nothing went out
        # Resumed: the check's problem is fixed, the venue's answer is not.
        await pull(desk, pilot, "ctrl+r", TradingState.ACTIVE)
        await desk.next_second(pilot)
        assert said(ticket, "problems") == reason
        assert said(ticket, "status") == "REJECTED: why below"
        await desk.session.close()


async def test_a_change_still_forgets_the_answer(make_desk) -> None:
    """Refused while HALTED, then the quantity changed: another order, the venue's
    answer goes, and "problems fixed" once resumed is of the check's problem alone."""
    desk: Desk = make_desk(settings=make_settings(paper=WIDE))
    async with desk.app.run_test(size=(120, 36)) as pilot:
        ticket = await rejected(desk, pilot)
        await pull(desk, pilot, "ctrl+backslash", TradingState.HALTED)
        desk.clock.advance(1)
        await pilot.press("f9")
        await desk.settle(pilot)
        assert said(ticket, "status") == "NOT SENT: 1 problem"
        ticket.query_one("#t-quantity", Input).value = "4"  # 48 -> 4: another order
        await desk.settle(pilot)
        assert "insufficient balance" not in said(ticket, "problems")
        await pull(desk, pilot, "ctrl+r", TradingState.ACTIVE)
        assert said(ticket, "problems") == ""
        assert said(ticket, "status") == "problems fixed: F9 to send"
        await desk.session.close()
