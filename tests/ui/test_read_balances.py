"""The Balances pane keeps one choice of columns as orders come and go. At 120x36 it
showed `Ccy Total Available` at start, `Ccy Available Locked` once an order locked
funds, and `Ccy Total` alone after a fill whose fee made the figures wide: Available,
what a trader can spend, dropped while Total (never dropped) stayed. Available now
never drops; Locked goes after Total, the account first."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Balance, OrderStatus
from silvertine_tui.ui.widgets.balances import Balances

from .conftest import Desk, limit_buy, market_buy
from .test_ticket_capabilities import spot_desk, start


async def test_the_columns_stay_as_orders_lock_and_fees_widen_at_120x36(make_desk) -> None:
    desk: Desk = spot_desk(make_desk)  # two accounts: `USDT paper`, `USDT spot`
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await start(desk, pilot)
        await desk.next_second(pilot)
        engine = desk.session.engine
        balances = desk.app.screen.query_one(Balances)
        at_start = balances.shown_columns
        assert "available" in at_start, at_start
        await engine.submit(limit_buy("resting", "BTCUSDT.PAPER", "0.01", "63000.00"))
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert engine.oms.orders["resting"].order.status is OrderStatus.NEW
        assert desk.session.projection.balances[("paper", "main", "USDT")].locked > 0
        assert balances.shown_columns == at_start
        # A fee: the balance's exact figures get wide (`99,934.93746246`).
        await engine.submit(market_buy("fee", "ETHUSDT.PAPER", "0.37"))
        await desk.settle(pilot)
        await desk.next_second(pilot)
        usdt = desk.session.projection.balances[("paper", "main", "USDT")]
        assert len(balances.get_cell("paper/main/USDT", "available").plain) > len("100,000.00")
        assert balances.shown_columns == at_start
        shown = balances.get_cell("paper/main/USDT", "available").plain
        assert Decimal(shown.replace(",", "")) == usdt.available
        await engine.cancel("resting")
        await desk.settle(pilot)
        await desk.next_second(pilot)
        assert balances.shown_columns == at_start
        assert at_start == ["ccy", "available", "locked"]  # Total is their sum
        await desk.session.close()


async def test_every_column_at_80x24(make_desk) -> None:
    desk: Desk = spot_desk(make_desk)
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await start(desk, pilot)
        engine = desk.session.engine
        await engine.submit(limit_buy("resting", "BTCUSDT.PAPER", "0.01", "63000.00"))
        await engine.submit(market_buy("fee", "ETHUSDT.PAPER", "0.37"))
        await desk.settle(pilot)
        await pilot.press("5")
        await desk.next_second(pilot)
        balances = desk.app.screen.query_one(Balances)
        assert balances.shown_columns == ["ccy", "total", "available", "locked", "account"]
        await desk.session.close()


amounts = st.decimals(
    min_value=Decimal(0), max_value=Decimal("1e12"), places=8, allow_nan=False
).map(lambda d: d.normalize() if d else Decimal("0.00"))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["USD", "USDT", "BTC", "EUR"]), amounts, amounts),
        min_size=1,
        max_size=6,
    ),
    brokers=st.sampled_from([("paper",), ("paper", "binance", "ib")]),
    width=st.integers(min_value=10, max_value=120),
)
def test_available_never_drops_before_locked_or_total(
    rows: list[tuple[str, Decimal, Decimal]], brokers: tuple[str, ...], width: int
) -> None:
    """Whatever the balances and the pane's width: Available is shown; Locked is not
    dropped while Total is shown; the account goes first; and which columns are shown
    depends on the widths alone, never on whether funds are locked."""
    table = Balances()
    held = {
        (brokers[i % len(brokers)], "main", ccy): Balance(
            broker=brokers[i % len(brokers)],
            account="main",
            currency=ccy,
            total=free + locked,
            available=free,
            locked=locked,
        )
        for i, (ccy, free, locked) in enumerate(rows)
    }
    table.show(held)
    shown = {table.COLUMNS[i].key for i in table._fit(width)}
    assert {"ccy", "available"} <= shown
    if "total" in shown:
        assert "locked" in shown
    if "account" in shown:
        assert {"total", "locked"} <= shown
    # The same figures with nothing locked: the same columns for the same widths.
    unlocked = Balances()
    unlocked.show(
        {
            key: b.model_copy(update={"locked": Decimal(0), "available": b.total})
            for key, b in held.items()
        }
    )
    if unlocked.column_widths() == table.column_widths():
        assert {table.COLUMNS[i].key for i in unlocked._fit(width)} == shown
