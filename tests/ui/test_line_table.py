"""The line-API table behind the quotes pane."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from silvertine_tui.ui.widgets.line_table import Cell, LineTable
from silvertine_tui.ui.widgets.table import Column

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


async def test_a_changed_cell_repaints_only_its_own_span() -> None:
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
        # " Symbol" is 7 cells wide, then " Bid " right-aligned in 5: x 7..12, row 2.
        assert painted == [Region(7, 2, 5, 1)]
        await pilot.pause()
        assert line(table, 2).startswith(" BB     2.25 ")


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
        assert not table.scrolled
        await pilot.press("end")
        assert table.scrolled
        table.render_quotes(quotes, set(), now)
        assert table.get_cell("S11.PAPER", "bid").plain == "10.00"
        assert not table.scrolled
