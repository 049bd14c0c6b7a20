"""Funds locked in working orders show. At 120x36 the Balances pane has room for two
of a balance's three exact figures after any fee (`98,247.85961`): Available and
Locked, whatever the rows hold; Total (Available + Locked) gives way first. Locked
dropped just when a working buy locked funds, and later the columns swapped with what
the rows held (`Ccy Total Available`, then `Ccy Available Locked`, then `Ccy Total`):
one fixed order now, Available never dropped (tests/ui/test_balances_columns.py)."""

from __future__ import annotations

from decimal import Decimal

from textual.app import App, ComposeResult

from silvertine_tui.domain import Balance, OrderStatus
from silvertine_tui.ui.widgets.balances import Balances

from .conftest import Desk, limit_buy, market_buy


async def test_locked_funds_show_beside_available_at_120x36(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        balances = desk.app.screen.query_one(Balances)
        await engine.submit(market_buy("fee", "ETHUSDT.PAPER", "0.5"))  # a fee: exact cents
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert balances.shown_columns == ["ccy", "available", "locked"]
        await engine.submit(limit_buy("resting", "BTCUSDT.PAPER", "0.01", "63000.00"))
        await desk.settle(pilot)
        await desk.next_second(pilot)  # a column comes back at the once-a-second fit
        assert engine.oms.orders["resting"].order.status is OrderStatus.NEW
        usdt = desk.session.projection.balances[("paper", "main", "USDT")]
        assert usdt.locked > 0
        assert balances.shown_columns == ["ccy", "available", "locked"]
        assert usdt.locked == Decimal("630.63")  # 0.01 at 63,000 and its fee of 0.1%
        assert balances.get_cell("paper/main/USDT", "locked").plain == "630.63"
        assert balances.get_cell("paper/main/USD", "locked").plain == "0.00"
        # Cancelled: nothing locked, the same columns (they never swap).
        await engine.cancel("resting")
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert desk.session.projection.balances[("paper", "main", "USDT")].locked == 0
        assert balances.shown_columns == ["ccy", "available", "locked"]
        await desk.session.close()


async def test_a_wide_pane_shows_all_three(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(200, 50)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("fee", "ETHUSDT.PAPER", "0.5"))
        await engine.submit(limit_buy("resting", "BTCUSDT.PAPER", "0.01", "63000.00"))
        await desk.settle(pilot)
        await desk.next_second(pilot)
        shown = desk.app.screen.query_one(Balances).shown_columns
        assert shown[:4] == ["ccy", "total", "available", "locked"]
        await desk.session.close()


class NarrowBalances(App[None]):
    CSS = "Balances { width: 20; }"

    def compose(self) -> ComposeResult:
        yield Balances()


async def test_a_narrow_pane_keeps_available_and_drops_total_first() -> None:
    """Too narrow for two figures: Available stays (it kept Total, the sum, and a
    trader read it as what they could spend); wide enough, Locked beside it; what the
    rows hold (funds locked or not, a negative zero) never changes the columns."""
    app = NarrowBalances()
    async with app.run_test(size=(40, 10)) as pilot:
        balances = app.query_one(Balances)
        usdt = Balance(
            broker="paper", account="main", currency="USDT",
            total=Decimal("5"), available=Decimal("4"), locked=Decimal("1"),
        )  # fmt: skip
        balances.show({("paper", "main", "USDT"): usdt})
        await pilot.pause()
        assert balances.shown_columns == ["ccy", "available"]
        balances.styles.width = 30
        await pilot.pause()
        balances.refit()
        assert balances.shown_columns == ["ccy", "available", "locked"]
        # A negative zero is nothing locked (`-0.00`): the same columns.
        balances.show(
            {("paper", "main", "USDT"): usdt.model_copy(update={"locked": Decimal("-0")})}
        )
        await pilot.pause()
        balances.refit()
        assert balances.shown_columns == ["ccy", "available", "locked"]
