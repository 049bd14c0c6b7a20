"""A keyed table drawn with the line API, for panes that change many times a second.

Textual's DataTable renders each cell through Rich's console (a quarter of a
millisecond a cell here): under a market-data firehose the quotes pane alone took
most of every frame. This table keeps each row as one pre-built strip of a few
segments, re-builds a row only when one of its cells changes, and refreshes only the
characters that changed (a whole cell when its colours changed), so the compositor
redraws (and, through `ui/lean_update.py`, the terminal receives) just those
characters.

Rows are appended at the end (the Orders pane: oldest first) or, in a table that keeps
its rows in key order (`SORTED_ROWS`: the Quotes, Positions and Balances panes),
inserted at their place, the cursor staying on its row; they are removed, never
reordered; the header is fixed while rows scroll.

Columns have priorities (`Column.priority`): the table shows the columns that fit its
width, dropping the least important first (the highest number; 0 is never dropped), so
a pane never scrolls sideways and no header is cut. The fit is checked when rows come
or go, when a value is wider than any before, on resize, and at `refit` (the screen
calls it once a second). A table whose columns are all 0 shows every column.

A column is as wide as the widest value its rows hold now (`columns.ColumnWidth`): it
widens at once, and narrows back once its wide value has been gone for `NARROW_AFTER`
refits (a figure moving between two widths with the market does not repaint the whole
table with every quote), or at once when every row is drawn again anyway (the columns
shown change, a resize, the columns wider than the pane).
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Iterable, Sequence
from typing import ClassVar, NamedTuple, Self

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..format import shown
from .columns import NARROW_AFTER, Column, ColumnWidth, column_index, fit_columns
from .scrolling import set_virtual_size

HEADER_ROWS = 1
MERGE_GAP = 8
"""Changed spans of a row this close are repainted as one: a cursor move to the next
(`ESC[12;40H`) costs about as many bytes as the characters between them."""


class Cell(NamedTuple):
    """A cell's text and its own style (drawn over the table's base style)."""

    text: str
    style: Style = Style()

    @property
    def plain(self) -> str:
        return self.text


class LineTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"line-table--header", "line-table--cursor"}
    DEFAULT_CSS = """
    LineTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        & > .line-table--header {
            color: $text-muted;
            text-style: bold;
            background: $surface;
        }
        & > .line-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .line-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home,ctrl+home", "cursor_first", "First", show=False),
        Binding("end,ctrl+end", "cursor_last", "Last", show=False),
    ]

    COLUMNS: Sequence[Column] = ()
    SORTED_ROWS: ClassVar[bool] = False
    """New rows go to their place in key order, not at the end: the order is then one
    rule whatever order the rows arrived in (the Quotes pane's, as brokers connect; the
    Positions and Balances panes', as fills come), the order a restart draws them in."""
    PAD_LEFT: ClassVar[int] = 1  # one space before every cell: fifty symbols fit a half pane
    PAD_RIGHT: ClassVar[int] = 0
    NARROW_AFTER: ClassVar[int] = NARROW_AFTER
    """Refits (seconds) a column's values stay narrower than it before it narrows."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._strips: dict[str, Strip] = {}
        self._header: Strip | None = None
        self._base: Style | None = None
        self._columns_width = [
            ColumnWidth(
                max(cell_len(c.label), c.width or 0, c.min_width),
                c.width if c.width is not None else c.max_width,
            )
            for c in self.COLUMNS
        ]
        self._widths = [w.width for w in self._columns_width]
        """Each column's width as drawn (its `ColumnWidth.width`)."""
        self._refits = 0  # the clock columns narrow by (`refit`: once a second)
        self._shown: tuple[int, ...] = tuple(range(len(self.COLUMNS)))
        self._offsets: list[int] = []
        self._position: dict[int, int] = {}
        self._column_offsets()
        self.cursor_row = 0
        # The row the cursor was on left the table (an order finished, a position
        # closed): nothing is selected, and none is marked, until the cursor moves.
        self.cursor_lost = False
        self.lost_key = ""  # the key of the row it was on (read while `cursor_lost`)
        self.cell_updates = 0
        self._mounted = False
        self._overflowing = False
        self.rebuilds = 0  # times the columns shown were chosen again

    def on_mount(self) -> None:
        self._mounted = True
        self._refit(force=True)

    # -- rows -------------------------------------------------------------------------

    def cell(self, text: str, style: Style | str = "") -> Cell:
        """A cell; its column says how it is aligned. Its text is `shown`: a symbol, a
        strategy's name or note may come from anyone writing to the bus."""
        if not text.isprintable():  # (inline: a cell is made for every quote)
            text = shown(text)
        return Cell(text, Style.parse(style) if isinstance(style, str) else style)

    @property
    def row_keys(self) -> list[str]:
        return list(self._keys)

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def shown_columns(self) -> list[str]:
        return [self.COLUMNS[i].key for i in self._shown]

    def column_width(self, key: str) -> int:
        """The width a shown column's text has (its padding not counted)."""
        return self._widths[column_index(self.COLUMNS, key)]

    def get_cell(self, row_key: str, column_key: str) -> Text:
        found = self._cells[row_key][column_index(self.COLUMNS, column_key)]
        return Text(found.text, style=found.style)

    def selected_key(self) -> str | None:
        if not self._keys or self.cursor_lost:
            return None
        return self._keys[min(self.cursor_row, len(self._keys) - 1)]

    def update_rows(self, rows: Iterable[tuple[str, Sequence[Cell]]]) -> None:
        """Add new rows and change cells in place; refreshes only what changed."""
        fixed = [c.width is not None for c in self.COLUMNS]
        widths = self._widths
        tracked = self._columns_width
        position = self._position
        changed_rows: list[tuple[str, tuple[Cell, ...], tuple[Cell, ...]]] = []
        first_new = len(self._keys)
        widened = grew = False
        sorted_rows = self.SORTED_ROWS
        for key, cells in rows:
            new = tuple(cells)
            old = self._cells.get(key)
            self._row_given(key)
            if old == new:
                continue
            for col, found in enumerate(new):
                if fixed[col]:
                    continue
                column = tracked[col]
                if old is not None:
                    before = old[col].text
                    if before == found.text:
                        continue
                    column.remove(cell_len(before))
                if column.add(cell_len(found.text)):
                    widths[col] = column.width
                    grew = True
                    widened = widened or col in position
            self._cells[key] = new
            self._strips.pop(key, None)
            if old is None:
                keys = self._keys
                if sorted_rows and keys and key < keys[-1]:
                    self._insert_row(key, bisect(keys, key))
                    first_new = min(first_new, self._index[key])
                    continue
                self._index[key] = len(keys)
                keys.append(key)
                first_new = min(first_new, self._index[key])
                continue
            changed_rows.append((key, old, new))
        added = first_new < len(self._keys)
        if self._inserted:
            self._after_insert()
        if (added or grew or self._too_wide()) and self._fit_columns():
            return  # the columns shown changed: every row was drawn again
        if widened:
            self._reshape()
            return
        if added:
            self._rows_moved(first_new)
        index = self._index
        regions = [
            place
            for key, old, new in changed_rows
            for x0, x1 in self._changed_spans(old, new)
            if (place := self._row_region(index[key], x0, x1)) is not None
        ]
        if regions:
            self.refresh(*regions)  # one call: each costs Textual a few caches' clearing

    def _insert_row(self, key: str, at: int) -> None:
        """A new row at `at` (`SORTED_ROWS`): the rows below move down one, and the
        cursor with its row (`1 Down x4 b` opens the ticket on the symbol it did)."""
        if not self._inserted:
            shown = self.visible_range()
            self._cursor_was_shown = not self.cursor_lost and self.cursor_row in shown
        self._inserted += 1
        self._keys.insert(at, key)
        for i in range(at, len(self._keys)):
            self._index[self._keys[i]] = i
        if len(self._keys) > 1 and at <= self.cursor_row:
            self.cursor_row += 1
        if self._mounted and at < self.scroll_offset.y + self._above:
            self._above += 1  # above the screen: what it shows stays where it is

    _inserted = 0
    _above = 0
    _cursor_was_shown = False

    def _after_insert(self) -> None:
        """Rows were put in (`_insert_row`): those on screen stay where they were when
        the new ones went above it, and the cursor's row stays in view if it was."""
        above, self._above, self._inserted = self._above, 0, 0
        if not self._mounted:
            return
        set_virtual_size(self, Size(self._offsets[-1], len(self._keys) + HEADER_ROWS))
        if above:
            self.scroll_to(y=self.scroll_offset.y + above, animate=False, immediate=True)
        if self._cursor_was_shown:
            self.reveal_cursor()

    def _changed_spans(self, old: Sequence[Cell], new: Sequence[Cell]) -> list[tuple[int, int]]:
        """The virtual columns of a row that look different: in a cell whose style is
        the same, only the characters that changed (a price 185.23 -> 185.25 is one
        cell on screen, not the row); a cell whose style changed, whole. Spans closer
        than `MERGE_GAP` are one (a cursor move costs about as many bytes)."""
        position = self._position
        offsets = self._offsets
        pad = self.PAD_LEFT
        spans: list[tuple[int, int]] = []
        for col, (a, b) in enumerate(zip(old, new, strict=True)):
            if a == b or col not in position:
                continue
            self.cell_updates += 1
            start = offsets[position[col]]
            first, last = 0, offsets[position[col] + 1] - start
            if a.style == b.style:
                before, after = self._aligned(col, a.text), self._aligned(col, b.text)
                if before == after:
                    continue  # the change is beyond the column's width: nothing to see
                width = len(after)
                if len(before) == width == cell_len(before) == cell_len(after):
                    first = 0
                    while before[first] == after[first]:
                        first += 1  # they differ somewhere: a != b, same style
                    end = width
                    while before[end - 1] == after[end - 1]:
                        end -= 1
                    first, last = pad + first, pad + end
            x0, x1 = start + first, start + last
            if spans and x0 - spans[-1][1] < MERGE_GAP:
                spans[-1] = (spans[-1][0], x1)
            else:
                spans.append((x0, x1))
        return spans

    def remove_rows(self, keys: Iterable[str]) -> None:
        """Remove the rows of `keys` that are shown (the others are left alone). The
        cursor stays on its row; if that row went, the cursor is lost (`cursor_lost`):
        the row that moved up to its line is not the one chosen, and a key acting on
        the selection (cancel, modify, close) would act on another order."""
        gone = {key for key in keys if key in self._cells}
        if not gone:
            return
        first = min(self._index[key] for key in gone)
        chosen = self.selected_key()
        fixed = [c.width is not None for c in self.COLUMNS]
        tracked = self._columns_width
        for key in gone:
            for col, found in enumerate(self._cells.pop(key)):
                if not fixed[col]:
                    tracked[col].remove(cell_len(found.text))
            self._strips.pop(key, None)
        self._keys = [key for key in self._keys if key not in gone]
        self._index = {key: i for i, key in enumerate(self._keys)}
        if chosen is not None and chosen in gone:
            self.cursor_lost = True
            self.lost_key = chosen
        elif chosen is not None:
            self.cursor_row = self._index[chosen]
        self.cursor_row = max(0, min(self.cursor_row, len(self._keys) - 1))
        if not self._fit_columns():
            self._rows_moved(first)

    def clear_rows(self) -> None:
        """No rows; the columns narrow to their labels again."""
        self._keys.clear()
        self._index.clear()
        self._cells.clear()
        self._strips.clear()
        self.cursor_row = 0
        self.cursor_lost = False
        for column in self._columns_width:
            column.clear()
        self._widths = [w.width for w in self._columns_width]
        if not self._fit_columns():
            self._reshape()

    def _row_given(self, key: str) -> None:
        """A row was handed to the table (changed or not): for counting what was drawn."""

    # -- columns that fit ----------------------------------------------------------------

    def _content_width(self) -> int:
        """The width the columns may use: the table's, less a vertical scrollbar when
        the rows will not fit its height."""
        width = self.size.width
        if len(self._cells) + 1 > self.size.height:  # the rows and the header
            width -= self.styles.scrollbar_size_vertical
        return width

    def column_widths(self) -> list[int]:
        """Each column's rendered width as its rows need it now (label or widest cell,
        within its bounds, plus padding): what the fit is chosen by."""
        pad = self.PAD_LEFT + self.PAD_RIGHT
        return [column.needed + pad for column in self._columns_width]

    def _fit_columns(self) -> bool:
        """Which columns fit; True when every row was drawn again (the columns shown
        changed, or they narrowed to fit the pane)."""
        return self._refit(restore=False)

    def refit(self) -> None:
        """Show again the columns that fit now, and narrow a column whose wide values
        have been gone for `NARROW_AFTER` refits (the screen calls this once a second)."""
        self._refits += 1
        self._refit(tick=True)

    def _too_wide(self) -> bool:
        """Whether the columns are wider than the table (choose them again, narrowed
        to what the rows need now: `_refit`)."""
        return self._mounted and self._offsets[-1] > self._content_width()

    def _refit(
        self,
        *,
        force: bool = False,
        restore: bool = True,
        tick: bool = False,
        settle: bool = False,
    ) -> bool:
        """Choose the columns that fit; True when every row was drawn again. Without
        `restore` a column may drop but none comes back: an order passing through
        PENDING_NEW widens Status for a moment, and the Type column went and came back
        with every order (the whole pane repainted, many times a second); it comes back
        at the next `refit` (once a second), or when the table is empty.

        The columns shown chosen again, each is as wide as its rows need now. Else a
        column narrows (`ColumnWidth`): with `tick` (`refit`) once its values have needed
        less for `NARROW_AFTER` refits; at once with `settle` (a resize: every line is
        drawn again anyway) or when the columns became wider than the pane (the last
        one was cut: `paper/m` for `paper/main`). A table whose must-show columns alone
        are wider than the pane stays wide: narrowed once for that, not at every
        update (a figure moving between two widths would repaint it all each time)."""
        if not self._mounted:
            return False
        available = self._content_width()
        if available <= 0 and not force:
            return False
        shown = self._fit(available) if available > 0 else tuple(range(len(self.COLUMNS)))
        overflow = 0 < available < self._offsets[-1]
        if not (restore or force or overflow or not self._cells or set(shown) <= set(self._shown)):
            shown = self._shown
        columns = self._columns_width
        if shown != self._shown or force:
            self.rebuilds += 1
            self._show_columns(shown)
            drawn = True
        elif settle or (overflow and not self._overflowing):
            drawn = self._narrow([column.settle() for column in columns])
        elif tick:
            drawn = self._narrow(
                [column.tick(self._refits, self.NARROW_AFTER) for column in columns]
            )
        else:
            drawn = False
        self._overflowing = 0 < available < self._offsets[-1]
        return drawn

    def _narrow(self, narrowed: Sequence[bool]) -> bool:
        """Columns narrowed (`narrowed[col]`): every row drawn again; True if any did."""
        if not any(narrowed):
            return False
        self._widths = [column.width for column in self._columns_width]
        self._reshape()
        return True

    def _fit(self, available: int) -> tuple[int, ...]:
        return fit_columns(self.column_widths(), self.priorities(), available)

    def priorities(self) -> list[float]:
        """Each column's priority now (the columns' own; a table may raise one for what
        its rows hold)."""
        return [c.priority for c in self.COLUMNS]

    def _show_columns(self, shown: tuple[int, ...]) -> None:
        """Show these columns, as wide as their widest cell now: every row drawn again."""
        self._shown = shown
        for column in self._columns_width:
            column.settle()
        self._widths = [column.width for column in self._columns_width]
        self._reshape()

    def _reshape(self) -> None:
        """The columns moved: every row drawn again at the next frame."""
        self._column_offsets()
        self._strips.clear()
        self._header = None
        set_virtual_size(self, Size(self._offsets[-1], len(self._keys) + HEADER_ROWS))
        self.refresh()

    def _rows_moved(self, first: int) -> None:
        """Rows were added or removed from row `first` on: repaint the lines on screen
        from there down (rows are mostly appended: new orders and the ones leaving are
        mostly below the screen, and then nothing is repainted but the scrollbar)."""
        set_virtual_size(self, Size(self._offsets[-1], len(self._keys) + HEADER_ROWS))
        top = self.scroll_offset.y
        y = HEADER_ROWS + max(0, first - top)
        bottom = HEADER_ROWS + self.rows_on_screen
        if y < bottom:
            self.refresh(Region(0, y, self.scrollable_content_region.width, bottom - y))

    @property
    def rows_on_screen(self) -> int:
        """Rows below the header, above a horizontal scrollbar if there is one."""
        return max(1, self.scrollable_content_region.height - HEADER_ROWS)

    def visible_range(self) -> range:
        """Indexes of the rows on screen."""
        top = self.scroll_offset.y
        return range(top, min(len(self._keys), top + self.rows_on_screen))

    def visible_keys(self) -> set[str]:
        return {self._keys[i] for i in self.visible_range()}

    # -- drawing ----------------------------------------------------------------------

    def _column_offsets(self) -> None:
        """Where each shown column starts (the last entry: the table's width)."""
        offsets = [0]
        pad = self.PAD_LEFT + self.PAD_RIGHT
        for i in self._shown:
            offsets.append(offsets[-1] + self._widths[i] + pad)
        self._offsets = offsets
        self._position = {col: n for n, col in enumerate(self._shown)}

    def _refresh_row(self, row: int, x0: int = 0, x1: int | None = None) -> None:
        """Repaint row `row` (between virtual columns x0 and x1) if it is on screen."""
        region = self._row_region(row, x0, x1)
        if region is not None:
            self.refresh(region)

    def _row_region(self, row: int, x0: int = 0, x1: int | None = None) -> Region | None:
        """Where row `row` is between virtual columns x0 and x1, if it is on screen."""
        scroll_x, scroll_y = self.scroll_offset
        y = row - scroll_y + HEADER_ROWS
        width = self.scrollable_content_region.width
        if not HEADER_ROWS <= y < HEADER_ROWS + self.rows_on_screen:
            return None
        left = max(0, x0 - scroll_x)
        right = width if x1 is None else min(width, x1 - scroll_x)
        return Region(left, y, right - left, 1) if right > left else None

    def _aligned(self, col: int, text: str) -> str:
        """A cell's text in its column's width and alignment (cut when longer)."""
        width = self._widths[col]
        room = width - cell_len(text)
        if room < 0:
            return text[:width]
        return " " * room + text if self.COLUMNS[col].right else text + " " * room

    def _segments(self, cells: Sequence[Cell], base: Style) -> list[Segment]:
        pad = " " * self.PAD_LEFT
        return [
            Segment(f"{pad}{self._aligned(col, cells[col].text)}", base + cells[col].style)
            for col in self._shown
        ]

    def _cursor_strip(self, key: str, base: Style) -> Strip:
        """The row under the cursor: in the cursor's colours."""
        cursor = base + self.get_component_rich_style("line-table--cursor")
        strip = self._row_strip(key)
        return Strip(
            Segment.simplify(Segment(text, cursor) for text, _, _ in strip), strip.cell_length
        )

    def _cursor_fill(self, base: Style) -> Style:
        """What the cursor row is extended with beyond the last column."""
        return base

    def _row_strip(self, key: str) -> Strip:
        strip = self._strips.get(key)
        if strip is None:
            segments = self._segments(self._cells[key], self.base_style)
            strip = Strip(Segment.simplify(segments), self._offsets[-1])
            self._strips[key] = strip
        return strip

    def _header_strip(self) -> Strip:
        if self._header is None:
            style = self.get_component_rich_style("line-table--header")
            labels = [Cell(c.label) for c in self.COLUMNS]
            segments = self._segments(labels, style)
            self._header = Strip(Segment.simplify(segments), self._offsets[-1])
        return self._header

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.base_style
        if y < HEADER_ROWS:
            strip = self._header_strip()
            header = self.get_component_rich_style("line-table--header")
            return strip.crop_extend(scroll_x, scroll_x + width, header)
        row = scroll_y + y - HEADER_ROWS
        if row >= len(self._keys):
            return Strip.blank(width, base)
        key = self._keys[row]
        if row == self.cursor_row and not self.cursor_lost:
            fill = self._cursor_fill(base)
            return self._cursor_strip(key, base).crop_extend(scroll_x, scroll_x + width, fill)
        return self._row_strip(key).crop_extend(scroll_x, scroll_x + width, base)

    @property
    def base_style(self) -> Style:
        """`rich_style`, kept between style updates (it walks every ancestor)."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        """Focus, theme or CSS changed: the pre-built rows carry the old styles."""
        super().notify_style_update()
        self._base = None
        self._strips.clear()
        self._header = None
        self.refresh()

    def focus(self, scroll_visible: bool = True) -> Self:
        """As Textual's, whose repaint of the whole table is the cursor's row here (the
        focus styles follow with the focus event, `_focus_moved`)."""
        self._focus_styles = self._styles_key()
        try:
            return super().focus(scroll_visible)
        finally:
            self._focus_styles = None

    def _on_focus(self, event: events.Focus) -> None:
        event.prevent_default()  # Textual's own handler: the same, repainting all of it
        self._focus_moved(True)
        if self.parent is not None:
            self.parent.post_message(events.DescendantFocus(self))

    def _on_blur(self, event: events.Blur) -> None:
        event.prevent_default()
        self._focus_moved(False)
        if self.parent is not None:
            self.parent.post_message(events.DescendantBlur(self))

    def _focus_moved(self, focused: bool) -> None:
        """The focus came or went: Textual restyles the table (at once) and repaints
        all of it. Where only the cursor's colours follow the focus (the rows' and the
        header's styles are the same), only the cursor's row is repainted: the quotes
        lose and take the focus at every `b`/`s` and `esc`, and their every line went
        through the compositor and to the terminal again."""
        self._focus_styles = self._styles_key()
        try:
            self.has_focus = focused
            self.refresh()
        finally:
            self._focus_styles = None

    _focus_styles: tuple[Style, Style] | None = None

    def _styles_key(self) -> tuple[Style, Style]:
        return self.rich_style, self.get_component_rich_style("line-table--header")

    def refresh(
        self, *regions: Region, repaint: bool = True, layout: bool = False, recompose: bool = False
    ) -> Self:
        before = self._focus_styles
        if (
            before is not None
            and not (regions or layout or recompose)
            and self._styles_key() == before
        ):
            self._refresh_row(self.cursor_row)
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    # -- the cursor -------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        if not self._keys:
            return
        row = max(0, min(row, len(self._keys) - 1))
        previous, self.cursor_row = self.cursor_row, row
        if row != previous or self.cursor_lost:
            self.cursor_lost = False
            self._refresh_row(previous)
            self._refresh_row(row)
        self._reveal(row)

    def on_resize(self, event: events.Resize) -> None:
        """The pane changed size (a zoom and back, a terminal resize): the columns
        that fit are chosen again, then the cursor's row brought back into view. The
        table scrolls to its top while every row fits (zoomed) and stayed there when it
        shrank: the order selected was out of sight, and `c` cancelled it unseen."""
        self._resized()
        self.reveal_cursor()

    def _resized(self) -> None:
        """The table's size changed: the columns that fit it, as wide as the rows need
        now (every line is drawn again anyway), before the cursor is brought back into
        view. A pane hidden (one at a time at 80x24) kept the widths of what passed
        while it was: shown again, its Mark column as wide as `old 1m10s` long after
        the mark was fresh, and its Account cut to `paper/m`."""
        self._refit(settle=True)

    def reveal_cursor(self) -> None:
        """Scroll the cursor's row into view, when it is on a row."""
        if self._keys and not self.cursor_lost:
            self._reveal(min(self.cursor_row, len(self._keys) - 1))

    def _reveal(self, row: int) -> None:
        top = self.scroll_offset.y
        room = self.rows_on_screen
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + room:
            self.scroll_to(y=row - room + 1, animate=False, immediate=True)

    def trader_moved(self, *, to_last: bool = False) -> None:
        """The trader moved the cursor (a key, a click); `to_last`: with `end`, to the
        last row. A table that moves its cursor by itself leaves it alone from then."""

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)
        self.trader_moved()

    def action_cursor_down(self) -> None:
        # Lost, the cursor sits between the row before and the row that moved up to
        # its line: down selects that one.
        self.move_cursor(self.cursor_row + (0 if self.cursor_lost else 1))
        self.trader_moved()

    def action_cursor_page_up(self) -> None:
        self.move_cursor(self.cursor_row - max(1, self.rows_on_screen - 1))
        self.trader_moved()

    def action_cursor_page_down(self) -> None:
        self.move_cursor(self.cursor_row + max(1, self.rows_on_screen - 1))
        self.trader_moved()

    def action_cursor_first(self) -> None:
        self.move_cursor(0)
        self.trader_moved()

    def action_cursor_last(self) -> None:
        self.move_cursor(len(self._keys) - 1)
        self.trader_moved(to_last=True)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < HEADER_ROWS:
            return
        row = self.scroll_offset.y + offset.y - HEADER_ROWS
        if row < len(self._keys):
            self.move_cursor(row)
            self.trader_moved()
