"""How wide a column is drawn (`columns.ColumnWidth`, `LineTable`): as wide as the
widest value its rows hold now, within its bounds; wider at once, narrower only once
the wide value has been gone `NARROW_AFTER` refits (no jitter with every quote)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.geometry import Region

from silvertine_tui.ui.widgets.columns import NARROW_AFTER, Column, ColumnWidth
from silvertine_tui.ui.widgets.line_table import Cell, LineTable

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 30)),
        st.tuples(st.just("remove"), st.integers(0, 50)),  # an index into what is held
        st.tuples(st.just("tick"), st.just(0)),
        st.tuples(st.just("settle"), st.just(0)),
        st.tuples(st.just("clear"), st.just(0)),
    ),
    max_size=80,
)


@given(
    floor=st.integers(0, 12),
    ceiling=st.none() | st.integers(0, 25),
    after=st.integers(1, 5),
    ops=OPS,
)
def test_a_column_is_never_narrower_than_its_widest_value_nor_beyond_its_bounds(
    floor: int, ceiling: int | None, after: int, ops: list[tuple[str, int]]
) -> None:
    column = ColumnWidth(floor, ceiling)
    top = None if ceiling is None else max(ceiling, floor)
    held: list[int] = []
    now = 0
    narrow_ticks = 0  # consecutive ticks that found the values narrower than the column
    for op, arg in ops:
        before = column.width
        if op == "add":
            held.append(arg)
            grew = column.add(arg)
            assert grew == (column.width > before)
            drawn_as = max(arg, floor) if top is None else min(max(arg, floor), top)
            if drawn_as >= before:
                narrow_ticks = 0  # a value as wide as the column: it is in use
        elif op == "remove":
            if not held:
                continue
            column.remove(held.pop(arg % len(held)))
            assert column.width == before  # a value leaving never narrows at once
        elif op == "tick":
            now += 1
            narrower = column.needed < before
            narrow_ticks = narrow_ticks + 1 if narrower else 0
            narrowed = column.tick(now, after)
            assert narrowed == (column.width < before)
            # Only after the values needed less for `after` ticks, and then surely.
            assert narrowed == (narrow_ticks > after)
            if narrowed:
                narrow_ticks = 0
        elif op == "settle":
            column.settle()
            narrow_ticks = 0
        else:
            column.clear()
            held.clear()
            narrow_ticks = 0
        assert column.counts == Counter(held)
        widest = max(held, default=0)
        needed = max(widest, floor) if top is None else min(max(widest, floor), top)
        assert column.needed == needed
        assert column.width >= needed  # never below the widest value within the bounds
        assert column.width >= floor
        if top is not None:
            assert column.width <= top  # never more than its max
        if op in ("settle", "clear"):
            assert column.width == needed
        if op == "add":
            assert column.width >= before  # a wider value widens at once, none narrows


class Quotes(LineTable):
    COLUMNS = (
        Column("symbol", "Symbol"),
        Column("bid", "Bid", right=True),
        Column("note", "Note", max_width=8),
    )


class QuotesApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Quotes()


def line(table: LineTable, y: int) -> str:
    return table.render_line(y).text


async def test_a_price_moving_between_two_widths_keeps_the_wider_one() -> None:
    """A price moving between 99.99 and 100.01 keeps the column at the wider, and
    repaints only its own characters, never the whole table; the column narrows once
    the wide value has been gone NARROW_AFTER refits."""
    app = QuotesApp()
    async with app.run_test(size=(40, 6)) as pilot:
        table = app.query_one(Quotes)
        table.update_rows([("AAA", (Cell("AAA"), Cell("99.99"), Cell("")))])
        table.refit()
        await pilot.pause()
        assert table.column_width("bid") == 5
        painted: list[Region] = []
        original = table.refresh

        def spy(*regions: Region, **kwargs: Any) -> LineTable:
            painted.extend(regions or [Region(0, 0, 9999, 9999)])
            return original(*regions, **kwargs)

        table.refresh = spy  # type: ignore[method-assign,assignment]
        table.update_rows([("AAA", (Cell("AAA"), Cell("100.01"), Cell("")))])
        assert table.column_width("bid") == 6  # at once
        painted.clear()
        # The market moves between the two widths, a refit (a second) apart or less.
        bid = ""
        for n in range(4 * NARROW_AFTER):
            bid = "100.02" if n % NARROW_AFTER == 0 else f"99.9{n % 10}"
            table.update_rows([("AAA", (Cell("AAA"), Cell(bid), Cell("")))])
            table.refit()
            assert table.column_width("bid") == 6  # held: no jitter
        assert Region(0, 0, 9999, 9999) not in painted  # never the whole table
        assert all(region.height == 1 for region in painted)  # only the row's cells

        # Narrower for NARROW_AFTER refits: narrows, the table drawn again once.
        painted.clear()
        for _ in range(NARROW_AFTER + 1):
            table.refit()
        assert table.column_width("bid") == 5
        assert painted == [Region(0, 0, 9999, 9999)]
        await pilot.pause()
        assert line(table, 0).startswith(" Symbol   Bid Note")
        assert line(table, 1).startswith(f" AAA    {bid}")

        # A note longer than the column's max is cut there; shorter, it narrows.
        table.update_rows([("AAA", (Cell("AAA"), Cell("99.90"), Cell("a long note")))])
        assert table.column_width("note") == 8
        await pilot.pause()
        assert line(table, 1).rstrip().endswith(" a long n")
        table.update_rows([("AAA", (Cell("AAA"), Cell("99.90"), Cell("brief")))])
        for _ in range(NARROW_AFTER + 1):
            table.refit()
        assert table.column_width("note") == len("brief")
