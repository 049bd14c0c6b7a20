"""The Positions and Balances panes list their rows in one order, however the desk was
built: live (rows arriving as the fills came) or rebuilt from the journal at a restart.

A trader's review: on Redis a desk bought ETHUSDT, then AAPL; Positions read
`ETHUSDT.PAPER` over `AAPL.PAPER`. Restarted on the same prefix, the rows read
`AAPL.PAPER` over `ETHUSDT.PAPER`, and `4 Home x` opened a close of AAPL where it had
closed ETH before. The rows are now in key order (broker/account/instrument, as the
Quotes pane's rows are), a row arriving above the cursor leaving the cursor on its row.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from silvertine_tui.bus import BusOptions, create_bus
from silvertine_tui.domain import Balance, Fill, Side
from silvertine_tui.engine import Session
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.events import BalanceEvent, FillEvent
from silvertine_tui.ui.app import SilvertineApp
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.ticket import Ticket
from tests.support.redis_server import RedisServer

from .conftest import EPOCH_S, Desk, FakeClock, make_settings, market_buy
from .test_projection_rebuild import quiet_app

ETH = "paper/main/ETHUSDT.PAPER"
AAPL = "paper/main/AAPL.PAPER"
BTC = "paper/main/BTCUSDT.PAPER"


async def frames_until(desk: Desk, pilot: Pilot[None], what: str, done: object) -> None:
    """Redis is a real server: settle and draw until `done()` holds (10 s at most)."""
    assert callable(done)
    for _ in range(500):
        await desk.settle(pilot)
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def closing_symbol(app: SilvertineApp) -> str:
    return app.screen.query_one(Ticket).draft().instrument


async def run_desk(
    url: str, clock: FakeClock, state: Path, buys: list[tuple[str, str, str]]
) -> tuple[list[str], list[str], str]:
    """A desk on the test's Redis: it buys `buys` (id, instrument, qty) one by one, then
    its Positions rows, Balances rows, and what `4 Home x` opens a close of."""
    options = BusOptions(prefix="t-rows-key-order", block_ms=50, epoch_check_s=0.1)
    session = Session(make_settings(), bus=create_bus(url, options), clock=clock.ns)
    app = quiet_app(session, clock, state)
    desk = Desk(app, session, clock)
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        positions = app.screen.query_one(Positions)
        for coid, instrument, qty in buys:
            await session.engine.submit(market_buy(coid, instrument, qty))
            key = f"paper/main/{instrument}"
            await frames_until(desk, pilot, key, lambda key=key: key in positions.row_keys)
        await frames_until(desk, pilot, "two positions", lambda: positions.row_count == 2)
        rows = positions.row_keys
        balances = app.screen.query_one(Balances).row_keys
        await pilot.press("4", "home", "x")
        await desk.settle(pilot)
        symbol = closing_symbol(app)
        await session.close()
    return rows, balances, symbol


@pytest.mark.redis
def test_positions_rows_read_the_same_after_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    with RedisServer() as server:
        live = asyncio.run(
            run_desk(
                server.url,
                clock,
                tmp_path / "state.json",
                [
                    ("st000000000000000701", "ETHUSDT.PAPER", "0.5"),
                    ("st000000000000000702", "AAPL.PAPER", "2"),
                ],
            )
        )
        restarted = asyncio.run(run_desk(server.url, clock, tmp_path / "state.json", []))
    live_rows, live_balances, live_close = live
    rows, balances, close = restarted
    assert live_rows == [AAPL, ETH]  # key order, not the order the fills came in
    assert rows == live_rows
    assert balances == live_balances
    # `4 Home x`: the same instrument's close in both sessions.
    assert live_close == close == "AAPL.PAPER"


async def test_a_position_arriving_above_the_cursor_leaves_it_on_its_row(make_desk) -> None:
    """The trader is on ETH's row; an AAPL fill puts a row above it: `x` still closes
    ETH (the cursor moved down with its row), and the rows are in key order."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        await engine.submit(market_buy("st000000000000000711", "ETHUSDT.PAPER", "0.5"))
        await desk.settle(pilot)
        positions = desk.app.screen.query_one(Positions)
        await pilot.press("4", "home")
        assert positions.selected_key() == ETH
        await engine.submit(market_buy("st000000000000000712", "AAPL.PAPER", "2"))
        await desk.settle(pilot)
        assert positions.row_keys == [AAPL, ETH]
        assert positions.selected_key() == ETH
        await pilot.press("x")
        await desk.settle(pilot)
        assert closing_symbol(desk.app) == "ETHUSDT.PAPER"
        await desk.session.close()


# -- the invariant, on the panes alone over a real projection -----------------------------

BROKERS = [("paper", "main"), ("ib", "DU1"), ("binance", "spot")]
INSTRUMENTS = ["AAPL.PAPER", "BTCUSDT.PAPER", "ETHUSDT.PAPER"]
CURRENCIES = ["USD", "USDT", "BTC"]


class Panes(App[None]):
    """The panes of a live desk, and beside them those of a desk restarted on the same
    journal (drawn in full from it)."""

    def compose(self) -> ComposeResult:
        yield Positions(id="positions")
        yield Balances(id="balances")
        yield Positions(id="positions-restarted")
        yield Balances(id="balances-restarted")


def fill_event(broker: str, account: str, instrument: str) -> FillEvent:
    """A buy of 1 at 10 (a position opens)."""
    fill = Fill(
        exec_id=f"x-{broker}-{account}-{instrument}",
        client_order_id=f"o-{broker}-{account}-{instrument}",
        broker=broker,
        account=account,
        instrument=instrument,
        side=Side.BUY,
        quantity=Decimal(1),
        price=Decimal(10),
    )
    return FillEvent.create(f"{broker}/{account}", fill, ts=EPOCH_S * 10**9)


def balance_event(broker: str, account: str, currency: str) -> BalanceEvent:
    cash = Balance(
        broker=broker, account=account, currency=currency, total=Decimal(5), available=Decimal(5)
    )
    return BalanceEvent.create(f"{broker}/{account}", cash, ts=EPOCH_S * 10**9)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    positions=st.permutations([(b, a, i) for b, a in BROKERS for i in INSTRUMENTS]).map(
        lambda keys: keys[:6]
    ),
    balances=st.permutations([(b, a, c) for b, a in BROKERS for c in CURRENCIES]).map(
        lambda keys: keys[:5]
    ),
    cursor=st.integers(min_value=0, max_value=2),
)
def test_rows_arriving_in_any_order_read_as_a_restart_draws_them(
    positions: list[tuple[str, str, str]],
    balances: list[tuple[str, str, str]],
    cursor: int,
) -> None:
    """Rows handed over one by one as their events come (a live desk) end in the order a
    full draw of the same projection gives (a restarted desk), and the row the cursor
    was put on after the first three stays under it."""

    async def run() -> None:
        view = DeskProjection()
        app = Panes()
        async with app.run_test(size=(120, 48)) as pilot:
            table = app.query_one("#positions", Positions)
            cash = app.query_one("#balances", Balances)
            chosen: tuple[str | None, str | None] = (None, None)
            for n in range(max(len(positions), len(balances))):
                if n == 3:
                    table.move_cursor(cursor)
                    cash.move_cursor(cursor)
                    chosen = (table.selected_key(), cash.selected_key())
                if n < len(positions):
                    view.apply(fill_event(*positions[n]))
                    table.update(view, [positions[n]], {}, float(EPOCH_S))
                if n < len(balances):
                    view.apply(balance_event(*balances[n]))
                    cash.update(view.balances, [balances[n]])
                await pilot.pause()
                if n >= 3:
                    assert (table.selected_key(), cash.selected_key()) == chosen
            rebuilt = app.query_one("#positions-restarted", Positions)
            rebuilt.show(view, {}, float(EPOCH_S))
            rebuilt_cash = app.query_one("#balances-restarted", Balances)
            rebuilt_cash.show(view.balances)
            assert table.row_keys == rebuilt.row_keys
            assert cash.row_keys == rebuilt_cash.row_keys
            assert table.row_keys == sorted("/".join(k) for k in positions)
            assert cash.row_keys == sorted("/".join(k) for k in balances)

    asyncio.run(run())
