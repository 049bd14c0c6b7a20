"""Fills and the event log: a bounded ring of lines drawn by the line API.

Only the visible lines are rendered (the toolong model), so a frame costs the same
with ten lines or five thousand; the ring drops the oldest lines beyond its size.
"""

from __future__ import annotations

from collections import deque

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from ..format import clock_text, fit
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

STRIPS_KEPT = 500  # lines' strips kept for repaints (a screenful is a few dozen)


class EventLog(ScrollView, can_focus=True):
    BINDINGS = bindings("log")
    # No sideways scrolling: a line leads with what happened, and what does not fit
    # the pane is cut before the word that would not fit, marked " …" (`fit`: never
    # "BUY 1" of "BUY 10"); zoom with z for whole lines.
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
        self._strips: dict[tuple[bool, int], Strip] = {}
        self._strips_for: tuple[Style, int] | None = None
        """The style and width the kept strips were built for."""

    @property
    def lines(self) -> deque[LogLine]:
        return self._fills if self.fills_only else self._all

    def attach(self, all_lines: deque[LogLine], fills: deque[LogLine]) -> None:
        self._all = all_lines
        self._fills = fills

    def sync(self, total: int, fills_total: int, *, force: bool = False) -> None:
        """Called once a frame with the model's counters; cheap when nothing changed."""
        seen = (total, fills_total)
        if seen == self._seen and not force:
            return
        if force:  # a new palette, a view switch: the kept strips are stale
            self._strips.clear()
        self._seen = seen
        at_end = self.follow or self.scroll_offset.y >= self.max_scroll_y
        set_virtual_size(self, Size(self.scrollable_content_region.width, len(self.lines)))
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

    def _text(self, line: LogLine, width: int) -> str:
        if width < KIND_MIN_WIDTH:
            return f"{clock_text(line.ts_ms / 1000)} {line.text}"
        kind = SHORT_KINDS.get(line.kind, line.kind)
        return f"{clock_text(line.ts_ms / 1000)} {kind:<7} {line.text}"

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

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        lines = self.lines
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= len(lines):
            return Strip.blank(width, base)
        line = lines[index]
        # The log scrolls with every new line, repainting every line on screen: each
        # line's strip is built once (for this style and width) and kept while it may
        # show.
        if self._strips_for != (base, width) or len(self._strips) > STRIPS_KEPT:
            self._strips.clear()
            self._strips_for = (base, width)
        key = (self.fills_only, line.number)
        strip = self._strips.get(key)
        if strip is None:
            text = fit(self._text(line, width), width)
            strip = Strip([Segment(text, base + self._style(line))], len(text))
            self._strips[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def on_mouse_scroll_up(self) -> None:
        self.follow = False

    def action_toggle_fills(self) -> None:
        self.fills_only = not self.fills_only
        self.sync(*self._seen, force=True)
        self.border_title_changed()

    def border_title_changed(self) -> None:
        parent = self.parent
        if isinstance(parent, Widget):
            key = named_key(self, "log.fills")
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
