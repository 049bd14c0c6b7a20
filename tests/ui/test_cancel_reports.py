"""ctrl+x and the kill switch tell the trader what they did: cancelled, still working
and why (an error toast while anything is left)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderRequest, OrderType, Side, TradingState

from .conftest import Desk


async def two_resting_orders(desk: Desk) -> list[str]:
    ids = []
    for price in ("63000.00", "63500.00"):
        ids.append(
            await desk.session.engine.submit(
                OrderRequest(
                    broker="paper",
                    account="main",
                    instrument="BTCUSDT.PAPER",
                    side=Side.BUY,
                    order_type=OrderType.LIMIT,
                    quantity=Decimal("0.01"),
                    limit_price=Decimal(price),
                )
            )
        )
    return ids


async def test_kill_switch_toast_says_what_was_cancelled(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        await two_resting_orders(desk)
        await desk.quiet(pilot)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        toasts = [(n.title, n.message, n.severity) for n in desk.app._notifications]
        assert ("kill switch", "Trading HALTED; cancelled 2 order(s).", "information") in toasts
        await desk.session.close()


async def test_cancel_all_toast_names_what_is_still_working(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        engine.retry_delays = (0.0,)
        first, second = await two_resting_orders(desk)
        await desk.settle(pilot)
        await desk.broker.drop_link()
        await desk.quiet(pilot)
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("y")
        await desk.settle(pilot)
        (toast,) = [n for n in desk.app._notifications if n.title.startswith("cancel all")]
        assert toast.title == "cancel all: NOT everything cancelled"
        assert toast.severity == "error"
        assert "2 still working" in toast.message
        assert first in toast.message
        assert second in toast.message
        assert "NotConnected" in toast.message
        assert engine.gate.state is TradingState.ACTIVE
        await desk.session.close()
