"""Quotes reach the screen at Textual's next update, not at the desk's next frame, and
the terminal receives only the characters that changed, in fewer bytes than Textual
writes them, and ends up showing exactly what Textual's compositor holds (no stale
digit, no wrong colour)."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.style import Style
from textual._compositor import ChopsUpdate, CompositorUpdate
from textual.strip import Strip

from silvertine_tui.ui.widgets.watchlist import Watchlist

# Truecolour: Textual's own writer (the full updates here) keeps each strip's rendering,
# and strips shared between apps may have been rendered by another test's app in it.
CONSOLE = Console(color_system="truecolor", force_terminal=True, file=io.StringIO(), width=120)
ATTRIBUTES = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "21", "51", "52", "53"}
Cell = tuple[str, frozenset[str], tuple[str, ...], tuple[str, ...]]


def sgr(codes: list[str], attrs: set[str], fg: tuple[str, ...], bg: tuple[str, ...]) -> Any:
    """Apply SGR parameters (as a terminal does) to the current attributes and colours."""
    i = 0
    while i < len(codes):
        code = codes[i] or "0"
        if code == "0":
            attrs, fg, bg = set(), (), ()
        elif code in ATTRIBUTES:
            attrs = attrs | {code}
        elif code in ("38", "48"):
            size = 3 if codes[i + 1] == "5" else 5
            value = tuple(codes[i : i + size])
            fg, bg = (value, bg) if code == "38" else (fg, value)
            i += size - 1
        elif code == "39":
            fg = ()
        elif code == "49":
            bg = ()
        elif 30 <= int(code) <= 37 or 90 <= int(code) <= 97:
            fg = (code,)
        elif 40 <= int(code) <= 47 or 100 <= int(code) <= 107:
            bg = (code,)
        else:
            raise AssertionError(f"SGR {code} not modelled")
        i += 1
    return attrs, fg, bg


class Terminal:
    """A terminal's cells (text, attributes, colours), fed what the app writes."""

    TOKEN = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|([\r\n])|([^\x1b\r\n]+)")

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        blank: Cell = (" ", frozenset(), (), ())
        self.cells = [[blank] * width for _ in range(height)]
        self.x = self.y = 0
        self.attrs: set[str] = set()
        self.fg: tuple[str, ...] = ()
        self.bg: tuple[str, ...] = ()
        self.written: set[tuple[int, int]] = set()

    def feed(self, data: str) -> None:
        for match in self.TOKEN.finditer(data):
            params, final, control, text = match.groups()
            if final == "H":
                row, col = [*params.split(";"), "1"][:2]
                self.y, self.x = int(row) - 1, int(col) - 1
            elif final == "m":
                self.attrs, self.fg, self.bg = sgr(params.split(";"), self.attrs, self.fg, self.bg)
            elif control == "\r":
                self.x = 0
            elif control == "\n":
                self.y += 1
            elif text:
                for char in text:
                    if self.x < self.width:
                        self.cells[self.y][self.x] = (char, frozenset(self.attrs), self.fg, self.bg)
                        self.written.add((self.x, self.y))
                        self.x += 1

    def show(self, updates: list[CompositorUpdate]) -> None:
        """Feed it the updates the app handed its terminal (`capture`), and forget them."""
        for update in updates:
            self.feed(update.render_segments(CONSOLE))
        updates.clear()

    def line(self, y: int) -> str:
        return "".join(cell[0] for cell in self.cells[y])


def expected(strips: list[Strip], width: int) -> list[list[Cell]]:
    """What the screen should show: Textual's own render of it, cell by cell."""
    color_system = CONSOLE._color_system
    assert color_system is not None
    rows = []
    for strip in strips:
        row: list[Cell] = []
        for text, style, _ in strip:
            ansi = Strip.render_ansi(style or Style(), color_system)
            attrs, fg, bg = sgr(ansi.split(";") if ansi else [], set(), (), ())
            row += [(char, frozenset(attrs), fg, bg) for char in text]
        rows.append(row[:width])
    return rows


def capture(app: Any) -> list[CompositorUpdate]:
    """Every update the app hands its terminal (a headless app hands them and writes
    nothing)."""
    updates: list[CompositorUpdate] = []
    display = app._display

    def record(screen: Any, renderable: Any) -> None:
        if isinstance(renderable, CompositorUpdate):
            updates.append(renderable)
        display(screen, renderable)

    app._display = record
    return updates


async def test_a_quote_reaches_the_screen_without_waiting_for_the_frame(make_desk) -> None:
    """With the desk's frame timer stopped, a new quote is still drawn: the screen's
    own update draws it (before, a quote waited for the next frame, up to 50 ms at 20
    frames a second)."""
    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = desk.app.screen
        quotes = screen.query_one(Watchlist)
        timer = desk.app._frame_timer
        assert timer is not None
        timer.pause()
        frames = desk.app.frames
        model = desk.app.model
        shown = sorted(quotes.visible_keys() & set(model.quotes))
        before = {key: model.quotes[key].quote.bid for key in shown}
        moved: list[str] = []
        for _ in range(5):  # until the paper market moves a bid (no `desk.step`: it
            desk.clock.advance(0.05)  # draws a frame when it has settled)
            await desk.broker.step()
            await desk.session.bus.flush()
            for _ in range(20):
                await pilot.pause()
            moved = [key for key in shown if model.quotes[key].quote.bid != before[key]]
            if moved:
                break
        assert moved
        assert desk.app.frames == frames  # no frame ran
        strips = screen._compositor.render_strips()
        for key in moved:
            bid = quotes.get_cell(key, "bid").plain
            assert Decimal(bid.replace(",", "")) == model.quotes[key].quote.bid
            row = quotes.row_keys.index(key) - quotes.scroll_offset.y
            assert bid in strips[quotes.region.y + 1 + row].text
        timer.resume()
        await desk.session.close()


async def test_the_terminal_gets_only_the_changed_characters_and_shows_the_screen(
    make_desk,
) -> None:
    """Each quote step: the terminal is written the characters that changed (never a
    symbol, which does not change), in fewer bytes than Textual's own writer takes
    for the same updates, and then shows cell for cell (text, attributes, colours)
    what Textual's compositor holds. Before, a quote wrote its row from the table's
    left edge, symbol and all, each cell with its full colours and a reset."""
    desk = make_desk()
    app = desk.app
    updates = capture(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        screen = app.screen
        quotes = screen.query_one(Watchlist)
        term = Terminal(120, 36)
        term.show(updates)
        symbol_cells = {
            (x, quotes.region.y + 1 + row)
            for x in range(quotes.region.x, quotes.region.x + 1 + quotes.column_width("symbol"))
            for row in range(quotes.row_count)
        }
        lean = textual = 0
        drawn_quotes = 0
        for _ in range(6):
            term.written.clear()
            await desk.step(pilot, 1, seconds=0.3)
            for update in updates:
                data = update.render_segments(CONSOLE)
                term.feed(data)
                if isinstance(update, ChopsUpdate):
                    lean += len(data.encode())
                    textual += len(ChopsUpdate.render_segments(update, CONSOLE).encode())
            updates.clear()
            rows = range(quotes.region.y + 1, quotes.region.y + 1 + quotes.row_count)
            drawn_quotes += sum(1 for x, y in term.written if y in rows)
            assert not term.written & symbol_cells
            want = expected(screen._compositor.render_strips(), 120)
            for y in range(36):
                assert term.line(y) == "".join(c[0] for c in want[y]), f"line {y}"
                assert term.cells[y] == want[y], f"the colours of line {y}"
        assert drawn_quotes  # the quotes moved and were drawn
        assert lean < textual * 0.7
        await desk.session.close()


async def test_positions_off_screen_are_built_when_they_come_into_view(make_desk) -> None:
    """A fill with a fee marks every position of its account changed: only the rows on
    screen are built then; one off screen is built when it scrolls into view, with
    what it holds then (before, every row was built at every such fill)."""
    from silvertine_tui.ui.widgets.positions import Positions

    from .conftest import market_buy

    desk = make_desk()
    async with desk.app.run_test(size=(120, 24)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        engine = desk.session.engine
        for n, symbol in enumerate(("AAPL.PAPER", "BTCUSDT.PAPER", "ETHUSDT.PAPER")):
            await engine.submit(market_buy(f"pos-{n}", symbol, "1"))
            await desk.settle(pilot)
        positions = desk.app.screen.query_one(Positions)
        assert positions.row_count == 3
        assert positions.rows_on_screen < 3, "the test needs a row off screen"
        hidden = positions.row_keys[-1]
        assert hidden not in positions.visible_keys()
        drawn = positions.rows_drawn.copy()
        await engine.submit(market_buy("pos-3", "ETHUSDT.PAPER", "1"))
        await desk.settle(pilot)
        assert positions.rows_drawn[hidden] == drawn[hidden]  # waiting, off screen
        positions.focus()
        await pilot.press("end")  # it comes into view
        await desk.settle(pilot)
        assert hidden in positions.visible_keys()
        assert positions.rows_drawn[hidden] == drawn[hidden] + 1
        view = desk.app.desk.view
        state = view.positions[("paper", "main", "ETHUSDT.PAPER")]
        assert positions.get_cell(hidden, "qty").plain == "2"
        assert state.quantity == 2
        await desk.session.close()


async def test_drawing_the_desk_leaves_no_strip_for_the_cyclic_collector(make_desk) -> None:
    """Every line the compositor drew used to become cyclic garbage: Textual's
    `Strip.divide` caches `[self]` on a strip that is its own only piece. The
    collector freed about 18,000 such objects between two generation-1 passes on the
    working desk, each pass stopping the loop for 40-60 ms. Drawn lines now die by
    reference counting alone."""
    import gc

    desk = make_desk()
    async with desk.app.run_test(size=(120, 36)) as pilot:
        await desk.start(pilot)
        await desk.step(pilot, 2)
        gc.collect()
        gc.disable()
        try:
            await desk.step(pilot, 6, seconds=0.3)  # quotes move, lines are redrawn
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            strips = sum(1 for found in gc.garbage if isinstance(found, Strip))
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()
        assert desk.app.frames  # the desk drew
        assert strips == 0
        await desk.session.close()
