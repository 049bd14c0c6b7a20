"""A desk that fits: on a busy desk at 120x36, 100x28 and 80x24 no table pane scrolls
sideways and no header is cut; the least important columns drop first; the footer
keeps quit and help; toasts never cover the ticket."""

from __future__ import annotations

import itertools

import pytest
from textual.widgets._toast import Toast

from silvertine_tui.domain import TradingState
from silvertine_tui.ui.format import clock_text
from silvertine_tui.ui.keymap import SPECS
from silvertine_tui.ui.model import LogLine
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.event_log import KIND_MIN_WIDTH, SHORT_KINDS, EventLog
from silvertine_tui.ui.widgets.keybar import KeyBar
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.signals import Signals
from silvertine_tui.ui.widgets.table import KeyedTable

from .conftest import Desk
from .working_desk import CANCELLED, RESTING, SYMBOLS, build_working_desk, working_settings

SIZES = [(120, 36), (100, 28), (80, 24)]
TABLES: list[type[KeyedTable]] = [Blotter, Positions, Balances, Signals]
PANE_KEYS = {Blotter: "3", Positions: "4", Balances: "5", Signals: "8"}


def assert_fits(table: KeyedTable) -> None:
    name = type(table).__name__
    assert table.size.width > 0, f"{name} is not shown"
    assert not table.show_horizontal_scrollbar, (
        f"{name}: a horizontal scrollbar (virtual width {table.virtual_size.width} "
        f"> {table.scrollable_content_region.width}); shown {table.shown_columns}"
    )
    for column in table.COLUMNS:
        if column.key in table.shown_columns:
            width = table.column_width(column.key)
            assert len(column.label) <= width, f"{name}: header {column.label!r} is cut"
    # The columns dropped are the least important ones, by the table's priorities now
    # (raised for what its rows hold: a stop price, funds locked).
    shown = set(table.shown_columns)
    now = dict(zip((c.key for c in table.COLUMNS), table.priorities(), strict=True))
    kept = [now[key] for key in now if key in shown]
    dropped = [now[key] for key in now if key not in shown]
    if dropped:
        assert max(kept) <= min(dropped), f"{name}: a more important column dropped first"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_no_table_pane_scrolls_sideways(make_desk, size: tuple[int, int]) -> None:
    desk: Desk = make_desk(settings=working_settings())
    async with desk.app.run_test(size=size) as pilot:
        await desk.start(pilot)
        await build_working_desk(desk, pilot)
        engine = desk.session.engine
        assert len(engine.oms.working()) == RESTING
        assert len(engine.portfolio.positions) >= len(SYMBOLS)
        for table_type in TABLES:
            await pilot.press(PANE_KEYS[table_type])  # compact: one pane at a time
            await desk.settle(pilot)
            assert_fits(desk.app.screen.query_one(table_type))
        await pilot.press("7")
        await desk.settle(pilot)
        log = desk.app.screen.query_one(EventLog)
        assert log.size.width > 0
        assert not log.show_horizontal_scrollbar, "the log scrolls sideways"
        # No pane at all scrolls sideways (the quotes and health too).
        for pane in "12345678":
            await pilot.press(pane)
            await desk.settle(pilot)
            sideways = [
                w
                for w in desk.app.screen.query("*")
                if w.display and w.size.width and w.show_horizontal_scrollbar
            ]
            assert sideways == [], f"pane {pane}: {sideways}"
            if pane == "2":
                await pilot.press("escape")  # out of the ticket's fields
        # The day's orders (wider: status, filled, avg fill) fit as well.
        await pilot.press("3")
        await desk.settle(pilot)  # the Orders pane has the focus: `a` is its key
        await pilot.press("a")
        await desk.settle(pilot)
        blotter = desk.app.screen.query_one(Blotter)
        assert blotter.row_count == RESTING + CANCELLED + len(SYMBOLS)
        assert_fits(blotter)
        await desk.session.close()


async def test_columns_come_back_when_the_pane_grows(make_desk) -> None:
    desk: Desk = make_desk(settings=working_settings())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await build_working_desk(desk, pilot)
        blotter = desk.app.screen.query_one(Blotter)
        narrow = blotter.shown_columns
        assert len(narrow) < len(Blotter.COLUMNS)
        await pilot.resize_terminal(220, 50)
        await desk.settle(pilot)
        assert len(blotter.shown_columns) > len(narrow)
        assert_fits(blotter)
        await desk.session.close()


async def test_the_footer_at_80x24_shows_quit_help_and_the_kill_switch(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        for pane in "12345678":
            await pilot.press(pane)
            await desk.settle(pilot)
            bar = desk.app.screen.query_one(KeyBar)
            line = bar.render().plain[: bar.size.width]
            # In the ticket `q` types a letter: there quit is ctrl+c.
            assert " q Quit " in line or " ^c Quit " in line, f"pane {pane}: {line!r}"
            assert " f1 Help " in line, f"pane {pane}: {line!r}"
            assert " ^\\ KILL " in line, f"pane {pane}: {line!r}"
            # Buy and sell both or neither: one alone read as the other not there.
            assert (" b Buy " in line) == (" s Sell " in line), f"pane {pane}: {line!r}"
            if pane == "2":
                await pilot.press("escape")  # out of the ticket's fields
        await desk.session.close()


async def test_the_ticket_keys_keep_their_places_as_the_focus_moves(make_desk) -> None:
    """Field to field the bar lists the ticket's keys, then the desk's, each in the key
    map's order: in a text field (which binds ctrl+u and ctrl+x itself) Clear and Cancel
    all came first, in a choice field after Send."""
    desk: Desk = make_desk()
    ticket_first = [s.action for s in SPECS if s.scope == "ticket"]
    ticket_first += [s.action for s in SPECS if s.scope == "app"]
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        await pilot.press("b")
        await desk.settle(pilot)
        bar = desk.app.screen.query_one(KeyBar)
        lines: dict[str, str] = {}
        while (field_id := str(desk.app.focused and desk.app.focused.id)) not in lines:
            assert field_id.startswith("t-"), field_id
            shown = [binding.action for binding, _enabled in bar.bindings()]
            assert shown == sorted(shown, key=ticket_first.index), f"{field_id}: {shown}"
            lines[field_id] = bar.render().plain[: bar.size.width]
            await pilot.press("tab")
            await desk.settle(pilot)
        assert {"t-quantity", "t-tif"} <= set(lines), lines
        assert lines["t-quantity"] == lines["t-tif"]
        assert lines["t-quantity"].startswith(" f9 Send  ^s Buy/Sell  ^u Clear  esc Back ")
        # ACTIVE, resume has nothing to do: it gives way to the keys after it.
        assert " ^r Resume " not in lines["t-quantity"]
        assert " f6 Theme " in lines["t-quantity"]
        await desk.session.close()


async def test_the_footer_at_80x24_keeps_resume_while_trading_is_not_active(make_desk) -> None:
    """HALTED or REDUCE ONLY, resume is the key the trader needs: it goes ahead of the
    other keys that would fit (the theme's); ACTIVE, it has no precedence."""
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(80, 24)) as pilot:
        await desk.start(pilot)
        bar = desk.app.screen.query_one(KeyBar)

        def line() -> str:
            return bar.render().plain[: bar.size.width]

        assert " ^r Resume " not in line()  # ACTIVE: nothing to resume, it gives way
        active = line()
        assert " f6 Theme " in active
        engine = desk.session.engine
        await engine.kill("test")
        await desk.settle(pilot)
        for state in ("HALTED", "REDUCE_ONLY"):
            assert engine.gate.state.value == state
            shown = line()
            assert " ^r Resume " in shown, f"{state}: {shown!r}"
            for key in (" f1 Help ", " ^\\ KILL ", " q Quit "):
                assert key in shown, f"{state}: {shown!r}"
            await engine.set_trading_state(TradingState.REDUCE_ONLY)
            await desk.settle(pilot)
        await engine.resume()
        await desk.settle(pilot)
        assert line() == active
        await desk.session.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_toasts_never_cover_the_ticket(make_desk, size: tuple[int, int]) -> None:
    from textual.widgets._toast import Toast

    desk: Desk = make_desk()
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        await desk.start(pilot)
        await pilot.press("2")  # the ticket shown (compact: the only pane)
        for n in range(5):
            desk.app.notify(f"a long toast message number {n} that wraps over lines", title="T")
        await desk.settle(pilot)
        await pilot.pause(0.1)
        ticket = desk.app.screen.query_one("#pane-ticket").region
        # (At 80x24 only the newest toast is on screen; the others wait.)
        toasts = [t for t in desk.app.screen.query(Toast) if t.region.area > 0]
        assert toasts
        for toast in toasts:
            region = toast.region
            assert not region.overlaps(ticket), f"toast {region} covers the ticket {ticket}"
        await desk.session.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_toasts_never_cover_an_open_dialog(make_desk, size: tuple[int, int]) -> None:
    """A fill or a refusal toasted while a dialog asks (the send confirmation, the
    modify dialog) showed over it at 80x24, over its text and its buttons: under a
    dialog the newest toast shows on two lines over the header, after the marker and
    the trading state, the others waiting their turn."""
    from textual.widgets._toast import Toast

    from silvertine_tui.ui.screens.confirm import ConfirmScreen
    from silvertine_tui.ui.widgets.header import MARKER_AND_STATE_CELLS

    desk: Desk = make_desk()
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        await desk.start(pilot)
        await pilot.press("ctrl+x")  # cancel all: asks first
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        for n in range(4):
            desk.app.notify(f"FILL BUY 0.5 ETHUSDT.PAPER @ 3,500.30 number {n}", title="Fill")
        await desk.settle(pilot)
        await pilot.pause(0.1)
        dialog = desk.app.screen.query_one("#dialog").region
        toasts = [t for t in desk.app.screen.query(Toast) if t.region.area > 0]
        assert toasts, "no toast on screen"
        for toast in toasts:
            assert not toast.region.overlaps(dialog), f"toast {toast.region} over {dialog}"
            assert toast.region.x >= MARKER_AND_STATE_CELLS
        assert "number 3" in str(toasts[-1].render())  # the newest is the one shown
        await pilot.press("escape")
        await desk.session.close()


async def test_a_pile_of_toasts_never_covers_the_quotes(make_desk) -> None:
    desk: Desk = make_desk()
    async with desk.app.run_test(size=(120, 36), notifications=True) as pilot:
        await desk.start(pilot)
        for n in range(12):  # a burst of refusals, each its own toast
            desk.app.notify("st000000000000000999: price collar\nS00USDT.PAPER",
                            title=f"Risk reject {n + 2}", severity="error",
                            timeout=600)  # fmt: skip
        await desk.settle(pilot)
        screen = desk.app.screen
        toasts = [t for t in screen.query(Toast) if t.region.height]
        assert toasts, "no toast on screen"
        newest = max(toasts, key=lambda t: t.region.y)
        assert "Risk reject 13" in str(newest.render())  # the newest is shown, at the bottom
        quotes = screen.query_one("#pane-watchlist")
        top = min(t.region.y for t in toasts)
        assert top >= quotes.region.bottom, f"a toast at line {top}, over the quotes"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_toast_leaves_the_marker_and_trading_state_in_sight(make_desk, size) -> None:
    """The kill switch's toast shows while the header says PAPER and HALTED: at 80x24
    the toast goes over the header, after the marker and the state."""
    from textual.widgets import Input

    from silvertine_tui.ui.screens.confirm import ConfirmScreen
    from silvertine_tui.ui.widgets.header import MARKER_AND_STATE_CELLS, DeskHeader

    desk: Desk = make_desk()
    async with desk.app.run_test(size=size, notifications=True) as pilot:
        await desk.start(pilot)
        await pilot.press("b")  # a ticket with the keyboard: the kill switch still works
        await desk.settle(pilot)
        assert isinstance(desk.app.focused, Input)
        await pilot.press("ctrl+backslash")
        await pilot.pause()
        assert isinstance(desk.app.screen, ConfirmScreen)
        await pilot.press("y")
        await desk.settle(pilot)
        screen = desk.app.screen
        toasts = [t for t in screen.query(Toast) if t.region.area > 0]
        assert toasts, "the kill switch said nothing"
        header = screen.query_one(DeskHeader)
        line = str(header.render())
        assert line.startswith(" PAPER ")
        end = line.index(" HALTED ") + len(" HALTED ")
        if size == (80, 24):
            assert end <= MARKER_AND_STATE_CELLS
        for x in range(end):
            widget, _ = screen.get_widget_at(x, 0)
            assert widget is header, f"cell {x} of the header is covered by {widget}"
        await desk.session.close()


async def test_a_log_line_too_long_for_its_pane_wraps_between_words(make_desk) -> None:
    """At 120x36 the log pane is a third of the width: its lines have no kind column
    (each leads with what happened), and a line that does not fit goes on over the next
    rows, indented under its text, broken between words, never inside a number ("BUY 1"
    / "0" of "BUY 10"): the rows read together are the whole line. Zoomed, the pane has
    the room for whole lines, kind column and all."""
    desk: Desk = make_desk(settings=working_settings())
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await build_working_desk(desk, pilot)
        log = desk.app.screen.query_one(EventLog)

        def shown_lines() -> list[tuple[list[str], str]]:
            """Each line wholly on screen, as the rows shown and the line it should read."""
            width = log.scrollable_content_region.width
            shown: dict[int, tuple[LogLine, list[str]]] = {}
            for y in range(log.scrollable_content_region.height):
                found = log.line_at(y)
                if found is None:
                    continue
                line, part = found
                _, rows = shown.setdefault(line.number, (line, []))
                if part == len(rows):  # from its first row on
                    rows.append(log.render_line(y).text.rstrip())
            return [
                (rows, log._text(line, width))
                for line, rows in shown.values()
                if len(rows) == len(log._wrapped(line, width))
            ]

        width = log.scrollable_content_region.width
        assert width < KIND_MIN_WIDTH
        for line in log.lines:
            assert log._text(line, width) == f"{clock_text(line.ts_ms / 1000)} {line.text}"
        wrapped = 0
        indent = " " * len(clock_text(0) + " ")
        for rows, whole in shown_lines():
            assert all(len(row) <= width for row in rows), rows
            assert " ".join(row.strip() for row in rows) == whole  # nothing lost or cut
            if len(rows) == 1:
                continue
            wrapped += 1
            assert all(row.startswith(indent) and row[len(indent)] != " " for row in rows[1:])
            for row, after in itertools.pairwise(rows):
                # Broken between words: the next row's first word would not have fit.
                assert len(row) + 1 + len(after.strip().split(" ")[0]) > width, (row, after)
        assert wrapped > 0, "no line was long enough to wrap: the test shows nothing"
        assert log.row_count > len(log.lines)
        await pilot.press("7", "z")  # zoomed: the pane has the whole width
        await desk.settle(pilot)
        assert log.scrollable_content_region.width >= KIND_MIN_WIDTH
        zoomed = shown_lines()
        assert zoomed
        assert all(rows == [whole] for rows, whole in zoomed)
        kinds = {SHORT_KINDS.get(line.kind, line.kind) for line in log.lines}
        assert all(rows[0].split()[1] in kinds for rows, _ in zoomed)  # the kind column
        await desk.session.close()
