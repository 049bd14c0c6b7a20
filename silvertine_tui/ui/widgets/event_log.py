"""Fills and the event log: a bounded ring of lines drawn by the line API.

Only the visible rows are rendered (the toolong model), so a frame costs the same
with ten lines or five thousand; the ring drops the oldest lines beyond its size. A
line wider than the pane wraps between words onto rows indented under its text: the
layout (which rows each kept line takes at this width) grows with the new lines of a
frame and is laid out again only when the width or the view changes.

A fill's line reads at its execution, as the venue gave it (`LogLine.at`, by
`fill_times.line_times`, as an order's history), and ends `, heard 14:30:04` when it was
heard a second or more apart: one found on a reconnect read at the reconnect. The lines
stay in the order they arrived.

Filtered to fills only (`f`) with no fill yet, the log says so and how to see every
event (`no fills yet (f shows every event)`): an empty pane read as a dead log, and
one pane at a time it has no border to say it is filtered (the pane bar says `7
Fills`: `MainScreen`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from ..format import clock_text, wrap
from ..keymap import bindings, named_key
from ..model import LineKind, LogLine
from .palette import DEFAULT_PALETTE, Palette
from .scrolling import set_virtual_size

SHORT_KINDS = {
    "order.request": "order",
    "order.update": "update",
    "order.cancel": "cancel",
    "order.modify": "modify",
    "position": "posn",
    "balance": "balance",
    "reconcile": "RECON",
    "snapshot": "snap",
}


KIND_MIN_WIDTH = 60
"""Narrower than this (the log beside two panes at 120 columns is 34 wide) a line has no
kind column: every line's text leads with what happened (`FILL`, `NEW`, `POSITION`,
`KILL`...), and the 8 columns go to the order instead."""

STRIPS_KEPT = 500  # lines' rows kept for repaints (a screenful is a few dozen)


def wrap_under(prefix: str, text: str, width: int) -> list[str]:
    """`text` after `prefix` in rows of `width`, broken between words, the rows after
    the first under the text (indented by the prefix's width). A word wider than the
    room under the prefix but not than the row (an IB execution id, 26 characters,
    in the Log beside two panes at 120x36, 25 columns under the time) takes a row of
    its own from the pane's left edge, whole: it was broken where the room ended
    (`0000e682f08.0000000c.01.0` / `1`), and a trader matching it against TWS's trades
    read another id. Only a word wider than the pane is broken."""
    pad = " " * len(prefix)
    room = width - len(prefix)
    rows: list[str] = []
    lead, row = prefix, ""
    for word in text.split(" "):
        if not word:
            continue
        if row and len(row) + 1 + len(word) <= room:
            row = f"{row} {word}"
            continue
        if row or (len(word) > room and lead == prefix):
            rows.append((lead + row).rstrip())  # (the prefix alone before a long word)
            lead, row = pad, ""
        if len(word) <= room:
            row = word
        else:
            rows.extend(wrap(word, width))  # whole on its row when it fits the pane
    if row:
        rows.append(lead + row)
    return rows


class EventLog(ScrollView, can_focus=True):
    BINDINGS = bindings("log")
    # No sideways scrolling: a line leads with what happened, and what does not fit the
    # pane's width wraps between words onto the next rows (never "BUY 1" of "BUY 10").
    DEFAULT_CSS = """
    EventLog { height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.palette: Palette = DEFAULT_PALETTE
        self.fills_only = False
        self._all: deque[LogLine] = deque()
        self._fills: deque[LogLine] = deque()
        self._seen = (-1, -1)
        self.follow = True
        self._rows: dict[tuple[bool, int], list[Strip]] = {}
        self._rows_for: tuple[Style, int] | None = None
        """The style and width the kept rows were built for."""
        # The layout: the numbers of the lines laid out (oldest first, as in `lines`)
        # and the row each starts on, counted from the first line ever laid out at this
        # width; `_end` is the row after the last.
        self._numbers: deque[int] = deque()
        self._starts: deque[int] = deque()
        self._end = 0
        self._layout_for: tuple[bool, int] | None = None
        self._no_fills = "no fills yet (f shows every event)"
        """What the log says filtered to fills with none (the key as bound)."""

    @property
    def lines(self) -> deque[LogLine]:
        return self._fills if self.fills_only else self._all

    def attach(self, all_lines: deque[LogLine], fills: deque[LogLine]) -> None:
        self._all = all_lines
        self._fills = fills

    def sync(self, total: int, fills_total: int, *, force: bool = False) -> None:
        """Called once a frame with the model's counters; cheap when nothing changed."""
        seen = (total, fills_total)
        width = self.scrollable_content_region.width
        laid_out = self._layout_for == (self.fills_only, width)
        if seen == self._seen and laid_out and not force:
            return
        if force:  # a new palette, a view switch: the kept rows are stale
            self._rows.clear()
        self._seen = seen
        at_end = self.follow or self.scroll_offset.y >= self.max_scroll_y
        self._lay_out(width)
        set_virtual_size(self, Size(width, self.row_count))
        if at_end:
            # Scrolled in this frame: deferred to after the refresh, the scroll cost a
            # second pass of the compositor over the whole screen, and the log's lines
            # went to the terminal twice (before and after the scroll). Again after the
            # refresh, for when a scrollbar came and the layout changed the view's height.
            self._to_end()
            self.call_after_refresh(self._to_end)
        self.refresh()

    def _to_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        self.sync(*self._seen)

    @property
    def row_count(self) -> int:
        return self._end - (self._starts[0] if self._starts else self._end)

    def _lay_out(self, width: int) -> None:
        """The rows of the lines the ring kept: the lines it let go leave the front,
        the new ones are wrapped onto the end; all again at another width or view."""
        lines = self.lines
        key = (self.fills_only, width)
        if self._layout_for != key:
            self._numbers.clear()
            self._starts.clear()
            self._end = 0
            self._layout_for = key
        first = lines[0].number if lines else None
        numbers, starts = self._numbers, self._starts
        while numbers and (first is None or numbers[0] < first):
            numbers.popleft()
            starts.popleft()
        last = numbers[-1] if numbers else -1
        new = min(len(lines), lines[-1].number - last) if lines else 0
        for index in range(len(lines) - new, len(lines)):
            line = lines[index]
            numbers.append(line.number)
            starts.append(self._end)
            self._end += len(self._wrapped(line, width))

    def _prefix(self, line: LogLine, width: int) -> str:
        # A fill's line reads at its execution (`LogLine.at`), where it stays: the
        # lines are in the order they arrived.
        at = line.at or clock_text(line.ts_ms / 1000)
        if width < KIND_MIN_WIDTH:
            return f"{at} "
        kind = SHORT_KINDS.get(line.kind, line.kind)
        return f"{at} {kind:<7} "

    def _text(self, line: LogLine, width: int) -> str:
        return self._prefix(line, width) + line.text

    def _wrapped(self, line: LogLine, width: int) -> list[str]:
        """The line's rows: its text wrapped in the room the prefix (time, kind) leaves,
        the prefix kept as it is (its columns aligned) and the rows after it under the
        text."""
        prefix = self._prefix(line, width)
        room = width - len(prefix)
        if len(prefix) + len(line.text) <= width:
            return [prefix + line.text]
        if room < len(prefix):  # a pane too narrow to keep the prefix's column
            return wrap(prefix + line.text, width)
        return wrap_under(prefix, line.text, width)

    def _style(self, line: LogLine) -> Style:
        p = self.palette
        return {
            LineKind.FILL: p.ok + Style(bold=True),
            LineKind.ORDER: p.plain,
            LineKind.WARN: p.warn,
            LineKind.ERROR: p.error,
            LineKind.RISK: p.halted,
            LineKind.INFO: p.muted,
        }[line.line_kind]

    def line_at(self, y: int) -> tuple[LogLine, int] | None:
        """The line shown on row `y` of the view, and which of its rows it is."""
        starts = self._starts
        if not starts:
            return None
        row = starts[0] + self.scroll_offset.y + y
        index = bisect_right(starts, row) - 1
        if index < 0 or row >= self._end:
            return None
        # The ring may have moved since the layout: find the line by its number.
        lines = self.lines
        number = self._numbers[index]
        at = number - lines[0].number if lines else -1
        if not 0 <= at < len(lines) or lines[at].number != number:
            return None
        return lines[at], row - starts[index]

    def render_line(self, y: int) -> Strip:
        scroll_x = self.scroll_offset.x
        width = self.scrollable_content_region.width
        base = self.rich_style
        found = self.line_at(y)
        if found is None:
            if self.fills_only and not self.lines:
                return self._empty_row(y, width, base)
            return Strip.blank(width, base)
        line, part = found
        # The log scrolls with every new line, repainting every line on screen: each
        # line's rows are built once (for this style and width) and kept while they
        # may show.
        if self._rows_for != (base, width) or len(self._rows) > STRIPS_KEPT:
            self._rows.clear()
            self._rows_for = (base, width)
        key = (self.fills_only, line.number)
        rows = self._rows.get(key)
        if rows is None:
            style = base + self._style(line)
            rows = [Strip([Segment(text, style)], len(text)) for text in self._wrapped(line, width)]
            self._rows[key] = rows
        if part >= len(rows):  # laid out at another width: the next sync lays it out again
            return Strip.blank(width, base)
        return rows[part].crop_extend(scroll_x, scroll_x + width, base)

    def _empty_row(self, y: int, width: int, base: Style) -> Strip:
        """Row `y` of what the log says filtered to fills with none, wrapped between
        words in its width (the grid's Log pane is 26 wide at 120x36)."""
        rows = wrap(self._no_fills, width)
        if y >= len(rows):
            return Strip.blank(width, base)
        style = base + self.palette.muted
        return Strip([Segment(rows[y], style)], len(rows[y])).crop_extend(0, width, base)

    def on_mouse_scroll_up(self) -> None:
        self.follow = False

    def action_toggle_fills(self) -> None:
        self.fills_only = not self.fills_only
        self.sync(*self._seen, force=True)
        self.border_title_changed()

    def border_title_changed(self) -> None:
        parent = self.parent
        key = named_key(self, "log.fills")
        self._no_fills = f"no fills yet ({key} shows every event)"
        if isinstance(parent, Widget):
            parent.border_subtitle = (
                f"fills only ({key})" if self.fills_only else f"all events ({key}: fills)"
            )

    def action_follow(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()
