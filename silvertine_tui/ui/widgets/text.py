"""A block of text that repaints in place: the screen is laid out again only when its
number of lines changes (a `Static.update` lays out the whole screen every time)."""

from __future__ import annotations

from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from ..format import shown

HANG = 2
"""Columns a continued row is indented past its line's own indent."""


def hang_rows(line: Text, width: int) -> list[Text]:
    """`line` (no newline) in rows of at most `width` cells, broken between words; the
    rows after the first indented under the line's text, `HANG` past its own indent
    (`  api DISCONNECTED no TWS ... (connection` / `      refused); start it ...`), so
    a continued reason never reads as a line of its own at column 0."""
    plain = line.plain
    pad = len(plain) - len(plain.lstrip(" ")) + HANG
    if width - pad < 10:  # too narrow to hang: plain folding
        pad = 0
    rows: list[Text] = []
    start, room = 0, width
    while cell_len(plain[start:]) > room:
        cut = plain.rfind(" ", start + 1, start + room + 1)
        if cut <= start:  # one word longer than the row: cut it
            cut = start + room
        row = line[start:cut]
        row.rstrip()
        rows.append(row if not rows else Text(" " * pad) + row)
        start = cut
        while start < len(plain) and plain[start] == " ":
            start += 1
        room = width - pad
    last = line[start:]
    rows.append(last if not rows else Text(" " * pad) + last)
    return rows


TEXT_MAX = 20_000
"""Characters a text block draws at most: any longer text is cut (`…`). A reason of
600,000 characters in the Health pane took 75 s to wrap, the desk frozen."""


class TextBlock(Widget):
    DEFAULT_CSS = """
    TextBlock { height: auto; }
    """
    HANGING: ClassVar[bool] = False
    """Wrap each line under its own text (`hang_rows`) rather than from column 0."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text = Text()
        self._lines = 0
        # HANGING: the text in rows at a width (width, rows, the rows joined), made once
        # for the line count and the render.
        self._hung_at: tuple[int, int, Text] | None = None

    @property
    def text(self) -> Text:
        return self._text

    def set_text(self, text: Text | str) -> None:
        new = Text(text) if isinstance(text, str) else text
        if len(new) > TEXT_MAX:  # (whoever built it: a wrap of a megabyte held the desk)
            new = new[:TEXT_MAX]
            new.append("…")
        if not new.plain.isprintable():
            # A venue's or the bus's words (see `shown`); one for one, so the styles'
            # spans still fall on their characters.
            safe = shown(new.plain, lines=True)
            if safe != new.plain:
                new = new.copy()
                new.plain = safe
        if new == self._text:
            return
        width = max(1, self.size.width or 80)
        self._text, self._hung_at = new, None
        if not new.plain:
            lines = 0
        elif self.HANGING:
            lines = self._hung(width)[1]
        else:
            lines = len(new.wrap(self.app.console, width))
        self.refresh(layout=lines != self._lines)
        self._lines = lines

    def _hung(self, width: int) -> tuple[int, int, Text]:
        if self._hung_at is None or self._hung_at[0] != width:
            rows = [row for line in self._text.split("\n") for row in hang_rows(line, width)]
            joined = Text("\n", no_wrap=True, overflow="crop").join(rows)
            self._hung_at = (width, len(rows), joined)
        return self._hung_at

    def render(self) -> Text:
        if not self.HANGING or not self._text.plain:
            return self._text
        return self._hung(max(1, self.size.width or 80))[2]

    def on_resize(self) -> None:
        self._lines = -1
        self.refresh(layout=True)
