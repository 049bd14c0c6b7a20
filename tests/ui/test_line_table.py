"""The line-API table behind the quotes pane."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from silvertine_tui.ui.widgets.line_table import Cell, LineTable
from silvertine_tui.ui.widgets.table import Column, KeyedTable

GREEN = Style(color="green")


class Prices(LineTable):
    COLUMNS = (
        Column("symbol", "Symbol"),
        Column("bid", "Bid", right=True),
        Column("trend", "Trend", width=5),
    )


def row(symbol: str, bid: str, trend: str = "") -> tuple[Cell, ...]:
    return (Cell(symbol), Cell(bid, GREEN), Cell(trend))


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Prices(id="prices")

    @property
    def table(self) -> Prices:
        return self.query_one(Prices)


def line(table: LineTable, y: int) -> str:
    return table.render_line(y).text


async def test_rows_render_in_columns_under_a_fixed_header() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.table
        table.update_rows([("AAA", row("AAA", "1.5", "up")), ("BB", row("BB", "10.25"))])
        await pilot.pause()
        assert table.row_keys == ["AAA", "BB"]
        assert line(table, 0).startswith(" Symbol   Bid Trend")
        assert line(table, 1).startswith(" AAA      1.5 up   ")
        assert line(table, 2).startswith(" BB     10.25      ")
        assert table.get_cell("BB", "bid").plain == "10.25"
        assert table.get_cell("BB", "bid").style == GREEN


async def test_a_changed_cell_repaints_only_its_changed_characters() -> None:
    """A price 2.00 -> 2.25 repaints the two characters that changed; a cell whose
    colour changed repaints whole; two changes a cursor move apart or less are one
    span (the move would cost as much as the characters between them)."""
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.table
        table.update_rows([("AAA", row("AAA", "1.50")), ("BB", row("BB", "2.00"))])
        await pilot.pause()
        painted: list[Region] = []
        original = table.refresh

        def spy(*regions: Region, **kwargs: Any) -> LineTable:
            painted.extend(regions)
            return original(*regions, **kwargs)

        table.refresh = spy  # type: ignore[method-assign,assignment]
        table.update_rows([("BB", row("BB", "2.25")), ("AAA", row("AAA", "1.50"))])
        assert table.cell_updates == 1
        # " Symbol" is 7 cells wide, then " Bid " right-aligned in 5: x 7..12, row 2;
        # "2.00" -> "2.25" changes its last two characters: x 10..12.
        assert painted == [Region(10, 2, 2, 1)]
        await pilot.pause()
        assert line(table, 2).startswith(" BB     2.25 ")
        painted.clear()
        red = (Cell("BB"), Cell("2.25", Style(color="red")), Cell(""))
        table.update_rows([("BB", red)])
        assert painted == [Region(7, 2, 5, 1)]  # the same text in another colour
        painted.clear()
        table.update_rows([("AAA", row("AAA", "1.51", "x"))])
        assert painted == [Region(11, 1, 3, 1)]  # "0" -> "1" at x 11, "x" at x 13
        await pilot.pause()
        assert line(table, 1).startswith(" AAA    1.51 x    ")


async def test_a_wider_value_widens_its_column_but_fixed_columns_crop() -> None:
    app = TableApp()
    async with app.run_test(size=(60, 6)) as pilot:
        table = app.table
        table.update_rows([("A", row("A", "1", "abcdefgh"))])
        await pilot.pause()
        table.update_rows([("A", row("A", "123456789", "abcdefgh"))])
        await pilot.pause()
        assert line(table, 0).startswith(" Symbol       Bid Trend")
        assert line(table, 1).startswith(" A      123456789 abcde ")


async def test_the_cursor_moves_by_keys_and_the_view_follows() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 5)) as pilot:  # a header and 4 rows on screen
        table = app.table
        table.update_rows((f"S{i:02d}", row(f"S{i:02d}", str(i))) for i in range(20))
        table.focus()
        await pilot.pause()
        assert table.selected_key() == "S00"
        await pilot.press("down", "down")
        assert table.selected_key() == "S02"
        assert table.scroll_offset.y == 0
        await pilot.press("down", "down")
        assert table.selected_key() == "S04"
        assert table.scroll_offset.y == 1  # S04 is the last row on screen
        assert table.visible_keys() == {"S01", "S02", "S03", "S04"}
        await pilot.press("end")
        assert table.selected_key() == "S19"
        assert table.scroll_offset.y == 16
        await pilot.press("pageup")
        assert table.selected_key() == "S16"
        await pilot.press("home")
        assert table.selected_key() == "S00"
        assert table.scroll_offset.y == 0
        await pilot.press("up")
        assert table.selected_key() == "S00"


async def test_a_click_selects_the_row_and_the_cursor_row_has_the_cursor_style() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.table
        table.update_rows((f"S{i}", row(f"S{i}", str(i))) for i in range(3))
        await pilot.pause()
        await pilot.click(Prices, offset=(2, 3))  # screen row 3 = the third row
        assert table.selected_key() == "S2"
        assert table.has_focus
        cursor = table.get_component_rich_style("line-table--cursor")
        styles = {segment.style for segment in table.render_line(3) if segment.text.strip()}
        assert styles
        assert all(s is not None and s.bgcolor == cursor.bgcolor for s in styles)
        plain = {segment.style for segment in table.render_line(1) if segment.text.strip()}
        assert all(s is not None and s.bgcolor != cursor.bgcolor for s in plain)


async def test_the_watchlist_draws_rows_that_changed_off_screen_once_scrolled_to() -> None:
    from collections import deque
    from decimal import Decimal

    from silvertine_tui.domain import Instrument, Quote
    from silvertine_tui.ui.model import QuoteState
    from silvertine_tui.ui.widgets.watchlist import Watchlist

    class Quotes(App[None]):
        def compose(self) -> ComposeResult:
            yield Watchlist(id="watchlist")

    names = [f"S{i:02d}" for i in range(12)]
    app = Quotes()
    async with app.run_test(size=(70, 5)) as pilot:  # a header and 4 rows on screen
        table = app.query_one(Watchlist)
        table.set_instruments(
            Instrument(symbol=n, venue="PAPER", quote_currency="USD", tick_size="0.01",
                       lot_size="1")
            for n in names
        )  # fmt: skip
        table.focus()
        await pilot.pause()
        now = 1_767_364_200.0
        quotes = {
            f"{n}.PAPER": QuoteState(
                f"{n}.PAPER",
                "paper",
                Quote(instrument=f"{n}.PAPER", bid=Decimal("10.00"), ask=Decimal("10.02")),
                int(now * 1e9),
                Decimal("10.00"),
                deque(),
            )
            for n in names
        }
        table.render_quotes(quotes, set(quotes), now)
        assert table.get_cell("S00.PAPER", "bid").plain == "10.00"
        assert table.get_cell("S11.PAPER", "bid").plain == "-"  # off screen: not drawn
        assert not table.shows_other_rows
        await pilot.press("end")
        assert table.shows_other_rows
        table.render_quotes(quotes, set(), now)
        assert table.get_cell("S11.PAPER", "bid").plain == "10.00"
        assert not table.shows_other_rows
        # A taller pane shows more rows from the same top: those are drawn too.
        table.render_quotes(quotes, set(quotes), now)  # all changed, 4 drawn
        await pilot.press("home")
        table.render_quotes(quotes, set(), now)
        assert table.get_cell("S06.PAPER", "bid").plain == "-"
        await pilot.resize_terminal(70, 9)
        await pilot.pause()
        assert table.shows_other_rows
        table.render_quotes(quotes, set(), now)
        assert table.get_cell("S06.PAPER", "bid").plain == "10.00"


async def test_the_cursor_stays_above_a_horizontal_scrollbar() -> None:
    """A table wider than its pane has a scrollbar on its last line: no row there."""
    app = TableApp()
    async with app.run_test(size=(14, 8)) as pilot:  # header, 6 lines, the scrollbar
        table = app.table
        table.update_rows((f"S{i:02d}", row(f"S{i:02d}", str(i), "trend")) for i in range(20))
        table.focus()
        await pilot.pause()
        assert table.rows_on_screen == 6
        for _ in range(7):
            await pilot.press("down")
        assert table.selected_key() == "S07"
        assert table.cursor_row in table.visible_range()
        assert table.visible_range() == range(2, 8)
        await pilot.press("end")
        assert table.visible_range() == range(14, 20)


async def test_a_click_below_the_last_row_selects_nothing_new() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:
        table = app.table
        table.update_rows((f"S{i}", row(f"S{i}", str(i))) for i in range(3))
        await pilot.pause()
        await pilot.click(Prices, offset=(2, 2))
        assert table.selected_key() == "S1"
        await pilot.click(Prices, offset=(2, 6))  # blank, below S2
        assert table.selected_key() == "S1"


def count_layouts(app: App[None]) -> Callable[[], int]:
    """How many times the screen has been laid out since this was called."""
    screen = app.screen
    original = screen._refresh_layout
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> None:
        calls[0] += 1
        original(*args, **kwargs)

    screen._refresh_layout = counted  # type: ignore[method-assign]
    return lambda: calls[0]


async def test_new_rows_lay_the_screen_out_only_when_a_scrollbar_appears() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 8)) as pilot:  # a header and 7 rows
        table = app.table
        table.update_rows([("S00", row("S00", "0"))])
        await pilot.pause()
        layouts = count_layouts(app)
        for i in range(1, 7):
            table.update_rows([(f"S{i:02d}", row(f"S{i:02d}", str(i)))])
            await pilot.pause()
        assert layouts() == 0
        assert line(table, 7).startswith(" S06")
        assert not table.show_vertical_scrollbar
        table.update_rows([("S07", row("S07", "7"))])
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert layouts() >= 1
        await pilot.press("end")
        table.focus()
        await pilot.press("end")
        assert table.scroll_offset.y == 1


async def test_rows_below_the_screen_repaint_nothing_a_removal_repaints_from_it_down() -> None:
    app = TableApp()
    async with app.run_test(size=(40, 6)) as pilot:  # a header and 5 rows on screen
        table = app.table
        table.update_rows((f"S{i:02d}", row(f"S{i:02d}", str(i))) for i in range(20))
        await pilot.pause()
        painted: list[Region] = []
        original = table.refresh

        def spy(*regions: Region, **kwargs: Any) -> LineTable:
            painted.extend(regions or [Region(0, 0, 9999, 9999)])
            return original(*regions, **kwargs)

        table.refresh = spy  # type: ignore[method-assign,assignment]
        table.update_rows([("S20", row("S20", "20"))])
        table.remove_rows(["S20", "S19"])
        assert painted == []  # all below the screen (the scrollbar follows)
        table.remove_rows(["S02"])
        # Rows 2.. moved up: the lines from row 2 (screen line 3) to the bottom.
        assert painted == [Region(0, 3, table.scrollable_content_region.width, 3)]
        await pilot.pause()
        assert line(table, 3).startswith(" S03")
        assert table.row_count == 18


class Orders(KeyedTable):
    COLUMNS = (
        Column("symbol", "Symbol"),
        Column("status", "Status"),
        Column("type", "Type", priority=1),
    )


class OrdersApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Orders(id="orders")


def order(symbol: str, status: str) -> tuple[Cell, ...]:
    return (Cell(symbol), Cell(status), Cell("LIMIT"))


async def test_a_column_pushed_out_by_a_passing_value_comes_back_once_a_second() -> None:
    app = OrdersApp()
    async with app.run_test(size=(25, 6)) as pilot:  # 23 cells with NEW, 28 with PENDING
        table = app.query_one(Orders)
        table.sync({"A": order("AAA", "NEW")})
        await pilot.pause()
        assert table.shown_columns == ["symbol", "status", "type"]
        rebuilds = table.rebuilds
        for n in range(5):  # orders passing through PENDING_NEW, one after the other
            table.update_rows([(f"P{n}", order("BBB", "PENDING_NEW"))])
            assert table.shown_columns == ["symbol", "status"]
            table.remove_rows([f"P{n}"])
            assert table.shown_columns == ["symbol", "status"]  # not back with every order
        assert table.rebuilds == rebuilds + 1  # dropped once, not 2 x 5 times
        table.refit()  # the next second
        assert table.shown_columns == ["symbol", "status", "type"]
        await pilot.pause()
        assert line(table, 1).startswith(" AAA     NEW     LIMIT ")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.integers(1, 8),
    cursor=st.integers(0, 7),
    removed=st.sets(st.integers(0, 7)),
)
def test_the_selection_is_the_row_chosen_or_none_never_a_neighbour(
    rows: int, cursor: int, removed: set[int]
) -> None:
    """Rows leave (orders finish, positions close) around the cursor: the key selected
    after is the one chosen, or none when it left; never the row that moved up to its
    line (cancel and modify act on the selection). The cursor is marked again, and
    selects, once the trader moves it."""

    async def run() -> None:
        app = TableApp()
        async with app.run_test(size=(40, 12)) as pilot:
            table = app.table
            keys = [f"K{n}" for n in range(rows)]
            table.update_rows([(key, row(key, "1")) for key in keys])
            table.move_cursor(cursor)
            chosen = table.selected_key()
            table.remove_rows([keys[n] for n in removed if n < rows])
            await pilot.pause()
            if chosen in table.row_keys:
                assert table.selected_key() == chosen
                assert not table.cursor_lost
            else:
                assert table.selected_key() is None
                if table.row_keys:
                    table.action_cursor_up()
                    assert table.selected_key() in table.row_keys
                    assert not table.cursor_lost

    asyncio.run(run())
