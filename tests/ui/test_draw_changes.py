"""A quote redraws its own row; positions follow the marks at most once a second; the
Orders and Balances panes redraw only when their events arrive (not on every quote)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from textual.geometry import Region
from textual.strip import Strip

from silvertine_tui.domain import OrderRequest, OrderType, TimeInForce
from silvertine_tui.ui.screens.main import Pane
from silvertine_tui.ui.widgets.balances import Balances
from silvertine_tui.ui.widgets.blotter import Blotter
from silvertine_tui.ui.widgets.positions import Positions
from silvertine_tui.ui.widgets.watchlist import Watchlist

from .conftest import market_buy, record_dirty


async def test_quotes_do_not_redraw_orders_or_balances(make_desk) -> None:
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        buy = market_buy("pos-1", "ETHUSDT.PAPER", "1")
        await engine.submit(buy)
        await engine.submit(
            buy.model_copy(
                update={
                    "client_order_id": "rest-1",
                    "order_type": OrderType.LIMIT,
                    "limit_price": Decimal("3450"),
                    "tif": TimeInForce.GTC,
                }
            )
        )
        await desk.settle(pilot)
        screen = desk.app.screen
        blotter, positions = screen.query_one(Blotter), screen.query_one(Positions)
        balances = screen.query_one(Balances)
        before = (blotter.syncs, balances.syncs, positions.syncs)
        # Ten quote steps within one second: nothing but the quotes is redrawn.
        desk.clock.advance(0.05)
        await desk.step(pilot, 10, seconds=0.05)
        assert (blotter.syncs, balances.syncs, positions.syncs) == before
        # The next second: the positions take the new marks, once. (The marks settle
        # first: a frame of a new second drawn before the last quote was applied would
        # draw the mark before it, and that one would wait for the second after.)
        await desk.step(pilot, 1, seconds=0.05)
        await desk.next_second(pilot)
        assert (blotter.syncs, balances.syncs) == before[:2]
        assert positions.syncs == before[2] + 1
        mark = engine.portfolio.mark("ETHUSDT.PAPER")
        assert mark is not None
        # The mark exactly as the P&L takes it (a mid between ticks keeps its half tick).
        shown = positions.get_cell("paper/main/ETHUSDT.PAPER", "mark").plain
        assert Decimal(shown.replace(",", "")) == mark
        # An order event redraws the orders at once.
        await engine.cancel("rest-1")
        await desk.settle(pilot)
        assert blotter.syncs > before[0]
        await desk.session.close()


def limit_buy(coid: str, price: str) -> OrderRequest:
    return market_buy(coid, "BTCUSDT.PAPER", "0.01").model_copy(
        update={
            "order_type": OrderType.LIMIT,
            "limit_price": Decimal(price),
            "tif": TimeInForce.GTC,
        }
    )


async def test_only_the_rows_whose_events_arrived_are_drawn(make_desk) -> None:
    """Per row: a quote draws no order or balance row, and a position's row at most
    once a second; an order's event draws that order's row and no other; a fill draws
    the balances it moved, not the others (fills streaming in: at most once a second)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        for n, price in enumerate(("63000", "63100", "63200"), start=1):
            await engine.submit(limit_buy(f"rest-{n}", price))
        await engine.submit(market_buy("pos-1", "ETHUSDT.PAPER", "1"))
        await desk.settle(pilot)
        screen = desk.app.screen
        blotter, positions = screen.query_one(Blotter), screen.query_one(Positions)
        balances = screen.query_one(Balances)
        assert blotter.row_keys == ["rest-1", "rest-2", "rest-3"]
        assert set(balances.row_keys) >= {"paper/main/USD", "paper/main/USDT"}

        # Quotes within one second: no row of any of the three panes is drawn.
        orders, held, money = (
            Counter(blotter.rows_drawn),
            Counter(positions.rows_drawn),
            Counter(balances.rows_drawn),
        )
        desk.clock.advance(0.05)
        await desk.step(pilot, 10, seconds=0.05)
        assert blotter.rows_drawn == orders
        assert balances.rows_drawn == money
        assert positions.rows_drawn == held
        # The next second: the position's row takes its new mark, once.
        await desk.step(pilot, 1, seconds=0.05)
        await desk.next_second(pilot)
        assert blotter.rows_drawn == orders
        assert positions.rows_drawn - held == Counter({"paper/main/ETHUSDT.PAPER": 1})

        # A new order: its row alone.
        orders = Counter(blotter.rows_drawn)
        await engine.submit(limit_buy("rest-4", "63300"))
        await desk.settle(pilot)
        assert blotter.row_keys[-1] == "rest-4"
        drawn = blotter.rows_drawn - orders
        assert set(drawn) == {"rest-4"}

        # A cancel: the row leaves the working view; no other row is drawn again.
        orders = Counter(blotter.rows_drawn)
        await engine.cancel("rest-2")
        await desk.settle(pilot)
        assert blotter.row_keys == ["rest-1", "rest-3", "rest-4"]
        assert blotter.rows_drawn == orders

        # A fill in ETH: the USDT balance (and ETH's, if listed) redrawn at once, USD
        # untouched. Fills streaming in: their balances at most once a second.
        await desk.next_second(pilot)  # (the cancel's balance drawn,
        await desk.next_second(pilot)  # and a second without one)
        money = Counter(balances.rows_drawn)
        await engine.submit(market_buy("pos-2", "ETHUSDT.PAPER", "0.5"))
        await desk.settle(pilot)
        drawn = balances.rows_drawn - money
        assert drawn["paper/main/USDT"] == 1
        assert "paper/main/USD" not in drawn
        money = Counter(balances.rows_drawn)
        for n in range(3):
            desk.clock.advance(0.2)
            await engine.submit(market_buy(f"pos-{n + 3}", "ETHUSDT.PAPER", "0.1"))
            await desk.settle(pilot)
        assert balances.rows_drawn == money  # within the second: waiting
        desk.clock.advance(0.5)
        await desk.settle(pilot)
        assert (balances.rows_drawn - money)["paper/main/USDT"] == 1  # then once for all
        assert set(blotter.rows_drawn - orders) <= {"pos-2", "pos-3", "pos-4", "pos-5"}
        await desk.session.close()


async def test_a_pane_subtitle_repaints_its_bottom_edge_only(make_desk) -> None:
    """The Orders pane's counts change with every order: the new subtitle repaints the
    pane's bottom edge, not every row in the pane (nor a toast over it)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        pane = desk.app.screen.query_one("#pane-blotter", Pane)
        await pilot.pause()
        dirty = record_dirty(pane)
        width, height = pane.outer_size
        pane.set_subtitle("3 working of 7 today (a: all)")
        assert dirty == [Region(-1, height - 2, width, 1)]  # the edge, in content terms
        assert pane.border_subtitle == "3 working of 7 today (a: all)"
        await pilot.pause()
        bottom = desk.app.screen._compositor.render_strips()[pane.region.bottom - 1].text
        assert "3 working of 7 today (a: all)" in bottom
        await desk.session.close()


async def test_the_log_follows_its_new_lines_in_the_frame_that_draws_them() -> None:
    """New lines scroll the log in the same frame: scrolled after the screen's refresh
    instead, every frame with new lines took a second pass of the compositor (the log's
    lines went to the terminal twice, before and after the scroll)."""
    from collections import deque

    from textual.app import App, ComposeResult

    from silvertine_tui.ui.model import LineKind, LogLine
    from silvertine_tui.ui.widgets.event_log import EventLog

    lines: deque[LogLine] = deque()

    def add(n: int) -> None:
        for _ in range(n):
            number = len(lines)
            lines.append(
                LogLine(
                    number, 1_000 * number, "s", "order.update", f"line {number}", LineKind.ORDER
                )
            )

    class LogApp(App[None]):
        CSS = "EventLog { height: 6; }"

        def compose(self) -> ComposeResult:
            yield EventLog(id="log")

    app = LogApp()
    async with app.run_test(size=(60, 10)) as pilot:
        log = app.query_one(EventLog)
        log.attach(lines, deque())
        await pilot.pause()
        add(20)
        log.sync(len(lines), 0)
        assert log.max_scroll_y > 0
        assert log.scroll_offset.y == log.max_scroll_y  # before any refresh
        await pilot.pause()
        add(3)
        log.sync(len(lines), 0)
        assert (
            log.scroll_offset.y
            == log.max_scroll_y
            == len(lines) - log.scrollable_content_region.height
        )
        await pilot.pause()
        bottom = app.screen._compositor.render_strips()[log.region.bottom - 1].text
        assert f"line {len(lines) - 1}" in bottom


async def test_moving_between_panes_repaints_their_title_edges_only(make_desk) -> None:
    """`b` on a quote lights the ticket's title and dims the quotes' one, and the ticket
    says which field has the keyboard on its bottom edge: each repaints that edge's line,
    not the whole pane (every line of the quotes and the ticket went to the terminal
    again at every key that moved between them)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = desk.app.screen
        quotes = screen.query_one("#pane-watchlist", Pane)
        ticket = screen.query_one("#pane-ticket", Pane)
        await pilot.pause()
        quotes_dirty, ticket_dirty = record_dirty(quotes), record_dirty(ticket)
        await pilot.press("b")
        await pilot.pause()
        top = Region(-1, -1, quotes.outer_size.width, 1)
        assert quotes_dirty == [top]
        width, height = ticket.outer_size
        assert set(ticket_dirty) == {Region(-1, -1, width, 1), Region(-1, height - 2, width, 1)}
        strips = screen._compositor.render_strips()
        assert "2 Ticket" in strips[ticket.region.y].text
        assert "typing in Qty - Esc leaves the field" in strips[ticket.region.bottom - 1].text
        assert bold_title(strips[ticket.region.y], "2 Ticket")  # the active pane's
        assert not bold_title(strips[quotes.region.y], "1 Quotes")
        await pilot.press("escape")
        await pilot.pause()
        strips = screen._compositor.render_strips()
        assert "typing in" not in strips[ticket.region.bottom - 1].text
        assert bold_title(strips[quotes.region.y], "1 Quotes")
        assert not bold_title(strips[ticket.region.y], "2 Ticket")
        await desk.session.close()


def bold_title(line: Strip, title: str) -> bool:
    found = [seg for seg in line if title in seg.text]
    assert found, f"{title!r} not on the line"
    return bool(found[0].style and found[0].style.bold)


async def test_the_quotes_losing_the_focus_repaint_their_cursor_row_only(make_desk) -> None:
    """Only the cursor's colours follow the quotes' focus: `b` (the ticket takes the
    focus) and `esc` (the quotes take it back) repaint the cursor's row, in the blurred
    and then the focused cursor colours, not every row. A table whose rows are tinted
    by the focus (Orders) is repainted whole, as before."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = desk.app.screen
        quotes = screen.query_one(Watchlist)
        assert quotes.has_focus
        await pilot.pause()
        line = quotes.region.y + 1 + quotes.cursor_row  # under the header
        focused = screen._compositor.render_strips()[line]
        dirty = record_dirty(quotes)
        await pilot.press("b")
        await pilot.pause()
        assert not quotes.has_focus
        assert dirty
        assert {(r.y, r.height) for r in dirty} == {(1 + quotes.cursor_row, 1)}
        blurred = screen._compositor.render_strips()[line]
        assert blurred.text == focused.text
        assert [s.style for s in blurred] != [s.style for s in focused]
        await pilot.press("escape")
        await pilot.pause()
        assert quotes.has_focus
        assert {(r.y, r.height) for r in dirty} == {(1 + quotes.cursor_row, 1)}
        assert screen._compositor.render_strips()[line] == focused
        blotter = screen.query_one(Blotter)
        whole = record_dirty(blotter)
        await pilot.press("3")
        await pilot.pause()
        assert blotter.has_focus
        assert blotter.size.region in whole
        await desk.session.close()


async def test_the_key_bar_draws_each_set_of_keys_once(make_desk, monkeypatch) -> None:
    """The bar shows the quotes' keys, then the ticket's, then the quotes' again at
    every `b` and `esc`: each line is drawn once and kept, not drawn at every move."""
    from textual.visual import Visual

    from silvertine_tui.ui.widgets.keybar import KeyBar

    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = desk.app.screen
        bar = screen.query_one(KeyBar)
        drawn: list[object] = []
        to_strips = Visual.to_strips.__func__  # type: ignore[attr-defined]

        def counting(
            cls: type[Visual], /, widget: object, *args: object, **kwargs: object
        ) -> object:
            if widget is bar:
                drawn.append(widget)
            return to_strips(cls, widget, *args, **kwargs)

        monkeypatch.setattr(Visual, "to_strips", classmethod(counting))
        lines = []
        for key in ("b", "escape", "b", "escape", "b"):
            await pilot.press(key)
            await pilot.pause()
            lines.append(screen._compositor.render_strips()[bar.region.y].text)
        assert "f9 Send" in lines[0]
        assert "b Buy" in lines[1]
        assert lines[0] == lines[2] == lines[4]
        assert lines[1] == lines[3]
        assert len(drawn) <= 2  # one line per set of keys (the quotes' may be kept already)
        await desk.session.close()
