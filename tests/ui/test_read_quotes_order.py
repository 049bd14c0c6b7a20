"""The Quotes pane's rows are in one order whatever order the brokers connected in. A
fresh desk added each broker's rows below the others' as it connected (paper, then
binance, then ib), a restart on the same prefix sorted them all: `1 Down x4 b` opened a
ticket on BTCUSDT.PAPER in one session and on BTCUSDT.BINANCE in the other."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from silvertine_tui.domain import Instrument, Quote
from silvertine_tui.ui.model import QuoteState
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, limit_buy

PAPER = ["AAPL.PAPER", "BTCUSDT.PAPER", "ETHUSDT.PAPER"]
BINANCE = ["BNBUSDT.BINANCE", "BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
IB = ["AAPL.SMART", "ESZ6.CME", "EUR.USD.IDEALPRO"]


def instrument(key: str) -> Instrument:
    symbol, venue = key.rsplit(".", 1)
    return Instrument(
        symbol=symbol, venue=venue, quote_currency="USD", tick_size="0.01", lot_size="1"
    )


class Quotes(App[None]):
    def compose(self) -> ComposeResult:
        yield Watchlist(id="watchlist")


async def rows_after(batches: list[list[str]], size: tuple[int, int] = (80, 24)) -> list[str]:
    app = Quotes()
    async with app.run_test(size=size) as pilot:
        table = app.query_one(Watchlist)
        known: list[str] = []
        for batch in batches:
            known += batch  # the app hands over every instrument known so far
            table.set_instruments(instrument(k) for k in known)
            await pilot.pause()
        return table.row_keys


async def test_brokers_connecting_one_by_one_give_the_restart_order() -> None:
    one_by_one = await rows_after([PAPER, BINANCE, IB])
    at_once = await rows_after([PAPER + BINANCE + IB])
    assert one_by_one == at_once == sorted(PAPER + BINANCE + IB)
    assert one_by_one[4] == "BTCUSDT.PAPER"  # `1 Down x4`: the same row either way


async def test_the_cursor_stays_on_its_row_when_rows_come_above_it() -> None:
    app = Quotes()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(Watchlist)
        table.set_instruments(instrument(k) for k in PAPER)
        table.focus()
        await pilot.press("down", "down")
        assert table.selected_instrument() == "ETHUSDT.PAPER"
        table.set_instruments(instrument(k) for k in PAPER + BINANCE + IB)
        await pilot.pause()
        assert table.selected_instrument() == "ETHUSDT.PAPER"
        assert table.row_keys == sorted(PAPER + BINANCE + IB)
        await pilot.press("b")  # (not bound here: nothing moves)
        assert table.selected_instrument() == "ETHUSDT.PAPER"


async def test_rows_put_in_leave_the_screen_as_it_was_and_the_cursor_in_view() -> None:
    """A row put in above the rows on screen leaves them where they are (the screen
    scrolls with them); one put in among them pushes the rows below down, and the
    cursor's row, pushed off the bottom, is brought back into view."""
    names = [f"S{i:02d}.PAPER" for i in range(2, 12)]
    app = Quotes()
    async with app.run_test(size=(70, 5)) as pilot:  # a header and 4 rows on screen
        table = app.query_one(Watchlist)
        table.set_instruments(instrument(k) for k in names)
        table.focus()
        await pilot.press("end")
        now = 1_767_364_200.0
        quotes = {
            key: QuoteState(
                key,
                "paper",
                Quote(instrument=key, bid=Decimal("10.00"), ask=Decimal("10.02")),
                int(now * 1e9),
                Decimal("10.00"),
                deque(),
            )
            for key in names
        }
        table.render_quotes(quotes, set(quotes), now)
        on_screen = ["S08.PAPER", "S09.PAPER", "S10.PAPER", "S11.PAPER"]
        assert sorted(table.visible_keys()) == on_screen
        assert table.get_cell("S07.PAPER", "bid").plain == "-"  # off screen: not drawn
        table.set_instruments(instrument(k) for k in ["S00.PAPER", *names])
        await pilot.pause()
        assert sorted(table.visible_keys()) == on_screen
        assert table.selected_instrument() == "S11.PAPER"
        # Among them: S11 is pushed off the bottom and brought back.
        table.set_instruments(instrument(k) for k in ["S00.PAPER", "S085.PAPER", *names])
        await pilot.pause()
        assert table.selected_instrument() == "S11.PAPER"
        assert "S11.PAPER" in table.visible_keys()
        assert "S085.PAPER" in table.visible_keys()
        assert table.shows_other_rows  # the rows on screen are drawn again
        table.render_quotes(quotes, set(), now)
        assert all(table.get_cell(k, "bid").plain == "10.00" for k in on_screen)
        assert table.get_cell("S07.PAPER", "bid").plain == "-"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    order=st.permutations(["paper", "binance", "ib"]),
    cursor=st.integers(min_value=0, max_value=8),
)
def test_any_connection_order_gives_one_row_order(order: list[str], cursor: int) -> None:
    """Whatever order the brokers connect in, the rows end in key order, and the row
    under the cursor is the one chosen before the others came."""
    import asyncio

    batches = {"paper": PAPER, "binance": BINANCE, "ib": IB}

    async def run() -> None:
        app = Quotes()
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.query_one(Watchlist)
            known = list(batches[order[0]])
            table.set_instruments(instrument(k) for k in known)
            table.focus()
            table.move_cursor(cursor)
            chosen = table.selected_instrument()
            for name in order[1:]:
                known += batches[name]
                table.set_instruments(instrument(k) for k in known)
                await pilot.pause()
                assert table.selected_instrument() == chosen
            assert table.row_keys == sorted(PAPER + BINANCE + IB)

    asyncio.run(run())


async def test_orders_stay_oldest_first(make_desk) -> None:
    """Only the Quotes pane sorts: the Orders pane lists orders as they came."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 1)
        engine = desk.session.engine
        for coid in ("zz-first", "aa-second", "mm-third"):
            await engine.submit(limit_buy(coid, "BTCUSDT.PAPER", "0.01", "63000.00"))
            await desk.settle(pilot)
        assert desk.app.screen.query_one(Blotter).row_keys == ["zz-first", "aa-second", "mm-third"]
        await desk.session.close()
