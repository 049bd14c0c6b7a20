"""The Quotes pane fits its pane as the other tables do: at 100x28 it scrolled
sideways, the spread cut (`6.50` read `6.`, its header `Sp`) and the Trend column,
where an old quote says its age, never in view. Its columns have priorities: Symbol,
Bid, Ask, Last and Chg% always, then Spread, then Trend, dropped whole. Without the
Trend column an old quote says its age in its Chg% cell (a change measured from an
old price), so it is never only dimmed (docs/ui.md, "Columns that fit")."""

from __future__ import annotations

import pytest

from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import Desk, market_buy

MUST = ["symbol", "bid", "ask", "last", "chg"]
EVERY = [*MUST, "spread", "spark"]
BTC = "BTCUSDT.PAPER"


def on_screen(watchlist: Watchlist, key: str) -> str:
    """The row of `key` as the pane draws it (cropped to the pane)."""
    row = watchlist.row_keys.index(key) - watchlist.scroll_offset.y
    return watchlist.render_line(1 + row).text


def assert_fits(watchlist: Watchlist) -> None:
    assert watchlist.size.width > 0
    assert not watchlist.show_horizontal_scrollbar, (
        f"the quotes scroll sideways: shown {watchlist.shown_columns}"
    )
    assert watchlist.scroll_offset.x == 0
    labels = " ".join(c.label for c in Watchlist.COLUMNS if c.key in watchlist.shown_columns)
    assert watchlist.render_line(0).text.split() == labels.split()  # no header cut


async def traded_desk(desk: Desk, pilot) -> Watchlist:
    """Quotes with a last trade each (the widest Last): the crypto desk at its widest."""
    await desk.start(pilot)
    await desk.step(pilot, 2)
    engine = desk.session.engine
    for n, (symbol, qty) in enumerate(((BTC, "0.01"), ("ETHUSDT.PAPER", "0.1"))):
        await engine.submit(market_buy(f"st00000000000000050{n}", symbol, qty))
    await desk.step(pilot, 1)
    await desk.next_second(pilot)
    watchlist = desk.app.screen.query_one(Watchlist)
    assert watchlist.get_cell(BTC, "last").plain != "-"
    return watchlist


async def test_the_quotes_fit_at_100x28_and_an_old_quote_says_its_age(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(100, 28)) as pilot:
        watchlist = await traded_desk(desk, pilot)
        assert watchlist.shown_columns == MUST
        assert_fits(watchlist)
        assert "old" not in on_screen(watchlist, BTC)

        desk.clock.advance(12)  # no quote for 12 s: every quote is old
        await desk.next_second(pilot)
        assert watchlist.get_cell(BTC, "chg").plain == "old 14s"
        assert on_screen(watchlist, BTC).rstrip().endswith(" old 14s")
        assert_fits(watchlist)

        desk.clock.advance(120)  # past a minute: the age in the cell's room
        await desk.next_second(pilot)
        assert on_screen(watchlist, BTC).rstrip().endswith(" old 2m")
        assert watchlist.column_width("chg") <= len("-12.34%")
        assert_fits(watchlist)

        # Zoomed, the pane has the room: Spread and Trend come back, the age in Trend
        # as at 120x36 and the change in its own column again.
        await pilot.press("1", "z")
        await desk.settle(pilot)
        assert watchlist.shown_columns == EVERY
        assert watchlist.get_cell(BTC, "spark").plain.strip() == "old 2m15s"
        assert watchlist.get_cell(BTC, "chg").plain.endswith("%")
        assert "old 2m15s" in on_screen(watchlist, BTC)
        await pilot.press("z")
        await desk.settle(pilot)
        assert watchlist.shown_columns == MUST
        assert on_screen(watchlist, BTC).rstrip().endswith(" old 2m")
        assert_fits(watchlist)
        await desk.session.close()


@pytest.mark.parametrize("size", [(120, 36), (200, 50)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_quotes_column_where_there_is_room(make_desk, size) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=size) as pilot:
        watchlist = await traded_desk(desk, pilot)
        assert watchlist.shown_columns == EVERY
        assert_fits(watchlist)
        desk.clock.advance(12)
        await desk.next_second(pilot)
        assert watchlist.get_cell(BTC, "spark").plain.strip() == "old 14s"
        assert watchlist.get_cell(BTC, "chg").plain.endswith("%")  # the change stays
        await desk.session.close()
